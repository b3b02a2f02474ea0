"""The model layer as a package: its public and private names, progress switches, precise load errors,
and tiny configurations that import nothing heavy."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils import cli, models
from course_utils.models import ChecksumError, WeightsLoadError

REVISION = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture()
def url_spec(tmp_path, monkeypatch):
    """A registry entry whose checkpoint is a local file:// URL with its sha256, and an empty cache."""
    payload = b"checkpoint bytes" * 4096
    src = tmp_path / "ckpt_progress.pth"
    src.write_bytes(payload)
    monkeypatch.setenv("COURSE_UTILS_CACHE", str(tmp_path / "cache"))
    models.register_model(models.ModelSpec("test_progress", "sam", "url", src.as_uri(), 1, 1, "test",
                                           sha256=hashlib.sha256(payload).hexdigest()))
    yield tmp_path / "cache" / "url" / src.name, payload
    models.REGISTRY.pop("test_progress")


def test_fetch_weights_progress_switch_for_url_downloads(url_spec, capsys):
    dest, payload = url_spec
    assert models.fetch_weights("test_progress", progress=False) == dest
    assert dest.read_bytes() == payload
    assert "ckpt_progress.pth" not in capsys.readouterr().err  # no tqdm bar (its description is the file name)
    dest.unlink()
    models.fetch_weights("test_progress", progress=True)
    assert "ckpt_progress.pth" in capsys.readouterr().err


def test_cli_no_progress_reaches_the_download(url_spec, capsys):
    dest, payload = url_spec
    assert cli.main(["fetch-weights", "--no-progress", "test_progress"]) == 0
    captured = capsys.readouterr()
    assert dest.read_bytes() == payload and "OK   test_progress" in captured.out
    assert "ckpt_progress.pth" not in captured.err


@pytest.mark.parametrize("progress", [False, True])
def test_fetch_weights_progress_switch_for_hub_downloads(tmp_path, monkeypatch, progress):
    """huggingface_hub's own switch is off during the download when progress=False, and restored after."""
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError
    from huggingface_hub.utils import are_progress_bars_disabled

    monkeypatch.setenv("COURSE_UTILS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "model.safetensors").write_bytes(b"x")
    seen = []

    def fake_snapshot_download(repo, local_files_only=False, **_):
        if local_files_only:
            raise LocalEntryNotFoundError("not cached")
        seen.append(are_progress_bars_disabled())
        return str(snap)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    monkeypatch.setattr(models.downloads, "_repo_listing", lambda spec: ["config.json", "model.safetensors"])
    before = are_progress_bars_disabled()
    assert models.fetch_weights("vit_tiny", progress=progress) == snap / "model.safetensors"
    assert seen == [before or not progress]
    assert are_progress_bars_disabled() == before


def _hub_snapshot(cache: Path, repo: str, files: dict[str, bytes]) -> Path:
    """The huggingface_hub cache layout: models--org--name/{refs/main, snapshots/<rev>/...}."""
    org, name = repo.split("/")
    root = cache / "hf" / f"models--{org}--{name}"
    snap = root / "snapshots" / REVISION
    snap.mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(REVISION)
    for fname, content in files.items():
        (snap / fname).write_bytes(content)
    return snap


def test_a_damaged_sam2_snapshot_is_a_load_error_not_a_checksum_error(tmp_path, monkeypatch):
    from course_utils.sam2_models import load_sam2_image

    monkeypatch.setenv("COURSE_UTILS_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _hub_snapshot(tmp_path, models.REGISTRY["edgetam"].ref, {"config.json": b"{}", "model.safetensors": b"junk"})
    with pytest.raises(WeightsLoadError, match="fetch-weights edgetam") as info:
        load_sam2_image("edgetam", tiny=False, device="cpu")
    assert not isinstance(info.value, ChecksumError) and info.value.__cause__ is not None


def test_error_classes_are_distinct():
    assert not issubclass(WeightsLoadError, ChecksumError) and not issubclass(ChecksumError, WeightsLoadError)
    assert issubclass(models.GatedModelError, models.WeightsUnavailableError)


def test_python_m_course_utils_models_prints_the_registry():
    out = subprocess.run([sys.executable, "-m", "course_utils.models"], capture_output=True, text=True, check=True)
    rows = json.loads(out.stdout)
    assert [r["name"] for r in rows] == list(models.REGISTRY)
    assert {r["name"]: r["params_m"] for r in rows} == {n: s.params_m for n, s in models.REGISTRY.items()}


def test_tiny_configurations_import_nothing_heavy():
    code = ("import sys, course_utils.tiny, course_utils.tiny.backbones, course_utils.tiny.sam2, "
            "course_utils.tiny.vlm, course_utils.tiny.sam3\n"
            "print(sorted(m for m in ('torch', 'transformers', 'timm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tiny_timm_kwargs_keep_heads_and_shrink_width():
    """The registry's tiny ViT-B: 12 heads of 4 channels, built by timm with the same depth and patch grid."""
    import timm
    import torch

    spec = models.REGISTRY["vit_base"]
    assert spec.tiny_kwargs == {"embed_dim": 48}
    with torch.device("meta"):
        tiny = timm.create_model(spec.arch, pretrained=False, **spec.tiny_kwargs)
        full = timm.create_model(spec.arch, pretrained=False)
    assert len(tiny.blocks) == len(full.blocks) and tiny.patch_embed.grid_size == full.patch_embed.grid_size
    assert tiny.blocks[0].attn.num_heads == full.blocks[0].attn.num_heads == 12


def test_at_input_size_is_timms_transform_at_that_size():
    """Oracle: timm's own create_transform(resolve_data_config(input_size=...)) on a real photo."""
    import torch
    from PIL import Image
    from timm.data import create_transform, resolve_data_config

    from course_utils.images import sample_image
    from course_utils.models import at_input_size, load_dinov2

    loaded = load_dinov2("dinov2_vits14", tiny=True)
    assert at_input_size(loaded.model, loaded.preprocess, None) is loaded.preprocess
    assert at_input_size(loaded.model, loaded.preprocess, loaded.preprocess.input_size) is loaded.preprocess
    moved = at_input_size(loaded.model, loaded.preprocess, (112, 168))
    image = sample_image("chelsea")
    oracle = create_transform(**resolve_data_config({"input_size": (3, 112, 168)}, model=loaded.model))
    expected = oracle(Image.fromarray(image))
    assert moved.input_size == (112, 168) and expected.shape == (3, 112, 168)
    torch.testing.assert_close(moved(image), expected)
