"""The computed ViT zoo table agrees with torch's FLOP counter and the timm architectures."""

from __future__ import annotations

import pytest
import timm
import torch
from torch.utils.flop_counter import FlopCounterMode

from course_utils import zoo
from course_utils.models import REGISTRY
from course_utils.zoo import format_zoo_table, vit_macs, vit_zoo_table


def _counted_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


def test_macs_match_flop_counter_on_small_real_config():
    """A small ViT on CPU with explicit (non-fused) attention: 2 * MACs == torch's count."""
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", img_size=64, embed_dim=24, depth=2, num_heads=3,
                              num_classes=7, reg_tokens=2).eval()
    for block in model.blocks:
        block.attn.fused_attn = False  # torch's counter does not count CPU flash-attention kernels
    with torch.no_grad():
        flops = _counted_flops(model, torch.randn(1, 3, 64, 64))
    assert 2 * vit_macs(model) == flops


@pytest.mark.parametrize("name", zoo.ZOO_NAMES)
def test_macs_match_flop_counter_on_meta_zoo(name):
    """The full-size zoo on the meta device (no memory): formula == FlopCounterMode."""
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False)
    flops = _counted_flops(model, torch.empty(1, 3, 224, 224, device="meta"))
    assert 2 * vit_macs(model) == flops


def test_table_values_are_the_architectures():
    rows = {r["model"]: r for r in vit_zoo_table()}
    assert list(rows) == list(zoo.ZOO_NAMES)
    expected = {  # (layers, width, heads, mlp, patch, tokens) from Dosovitskiy et al. 2021, Table 1 + DeiT
        "vit_tiny_patch16_224": (12, 192, 3, 768, 16, 197),
        "vit_small_patch16_224": (12, 384, 6, 1536, 16, 197),
        "vit_base_patch16_224": (12, 768, 12, 3072, 16, 197),
        "vit_large_patch16_224": (24, 1024, 16, 4096, 16, 197),
        "vit_huge_patch14_224": (32, 1280, 16, 5120, 14, 257),
    }
    for name, arch in expected.items():
        r = rows[name]
        assert (r["layers"], r["width"], r["heads"], r["mlp_dim"], r["patch_size"], r["tokens"]) == arch
        assert r["gflops"] == pytest.approx(2 * r["gmacs"])
    # parameters agree with the registry (which records the published counts)
    for key in ("vit_tiny", "vit_small", "vit_base", "vit_large", "vit_huge"):
        spec = REGISTRY[key]
        assert rows[spec.arch]["params_m"] == pytest.approx(spec.params_m, abs=0.01)
    # the widely quoted ViT-B/16 figure of 17.6 G(MAC)s at 224
    assert rows["vit_base_patch16_224"]["gmacs"] == pytest.approx(17.56, abs=0.01)


def test_parameter_count_equals_a_real_model():
    """Meta-device count == numel of a real (CPU) tiny model."""
    row = vit_zoo_table(["vit_tiny_patch16_224"])[0]
    real = timm.create_model("vit_tiny_patch16_224")
    assert row["params"] == sum(p.numel() for p in real.parameters())


def test_registers_are_counted_as_tokens():
    row = vit_zoo_table(["vit_small_patch14_reg4_dinov2"])[0]
    assert row["prefix_tokens"] == 5 and row["tokens"] == 16 * 16 + 5


def test_formatter_markdown_and_text():
    rows = vit_zoo_table(["vit_tiny_patch16_224", "vit_base_patch16_224"])
    md = format_zoo_table(rows).splitlines()
    assert md[0].startswith("| model | layers") and len(md) == 4
    assert "| vit_base_patch16_224 | 12 | 768 | 12 | 3072 | 16 | 197 | 86.6 | 17.6 | 35.1 |" in md
    text = format_zoo_table(rows, style="text").splitlines()
    assert len(text) == 3 and text[2].split() == ["vit_base_patch16_224", "12", "768", "12", "3072", "16",
                                                  "197", "86.6", "17.6", "35.1"]
    with pytest.raises(ValueError, match="style"):
        format_zoo_table(rows, style="html")


def test_bad_names_are_explained():
    with pytest.raises(ValueError, match="not a timm model name"):
        vit_zoo_table(["vit_gigantic_patch99"])
    with pytest.raises(TypeError, match="not a timm VisionTransformer"):
        vit_zoo_table(["resnet18"])


def test_no_assignment_solution_is_exported():
    assert not hasattr(zoo, "count_parameters")


def test_cli_subcommand(capsys):
    import argparse

    parser = argparse.ArgumentParser()
    zoo.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["vit-zoo", "vit_tiny_patch16_224", "--style", "markdown"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert out.strip() == format_zoo_table(vit_zoo_table(["vit_tiny_patch16_224"]))
