"""Loaders load what the repositories hold; the registry records files, gating and licences.

The default captioner's repository (Salesforce/blip-image-captioning-base) has no safetensors on its
main branch, only ``pytorch_model.bin``. Here a tiny random BLIP of the same class is written in
exactly that form into a Hugging Face hub cache (refs/main -> snapshots/<rev>/) and loaded offline
through the kit's loader, against the source model as oracle.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

from course_utils import cli, models
from course_utils.models import (
    WeightsLoadError,
    WeightsUnavailableError,
    choose_weight_pattern,
    load_captioner,
)

REVISION = "89abcdef0123456789abcdef0123456789abcdef"


def _hub_snapshot(cache: Path, repo: str, files: dict[str, Path | bytes]) -> Path:
    """The real huggingface_hub cache layout: models--org--name/{refs/main, snapshots/<rev>/...}."""
    org, name = repo.split("/")
    root = cache / "hf" / f"models--{org}--{name}"
    snap = root / "snapshots" / REVISION
    snap.mkdir(parents=True, exist_ok=True)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(REVISION)
    for fname, content in files.items():
        (snap / fname).write_bytes(content.read_bytes() if isinstance(content, Path) else content)
    return snap


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    root.mkdir()
    monkeypatch.setenv("COURSE_UTILS_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return root


@pytest.fixture(scope="module")
def tiny_blip_bin(tmp_path_factory):
    """A tiny random BLIP captioner saved as config + processor files + ``pytorch_model.bin`` only."""
    source = load_captioner("blip_caption_base", tiny=True, seed=3)
    folder = tmp_path_factory.mktemp("blip_bin")
    source.model.config.save_pretrained(folder)
    source.processor.save_pretrained(folder)
    torch.save(source.model.state_dict(), folder / "pytorch_model.bin")  # the official .bin format
    assert not list(folder.glob("*.safetensors"))
    return source, folder


def test_blip_with_only_pytorch_model_bin_loads_offline(cache, tiny_blip_bin, capsys):
    source, folder = tiny_blip_bin
    _hub_snapshot(cache, "Salesforce/blip-image-captioning-base", {p.name: p for p in folder.iterdir()})
    loaded = load_captioner("blip_caption_base", tiny=False, device="cpu")
    assert not loaded.tiny and not models.is_random(loaded.model)
    pixel_values = torch.randn(1, 3, 384, 384)
    ids = torch.tensor([[source.model.config.text_config.bos_token_id, 5, 6, 7]])
    with torch.no_grad():
        want = source.model(pixel_values=pixel_values, input_ids=ids).logits
        got = loaded.model(pixel_values=pixel_values, input_ids=ids).logits
    torch.testing.assert_close(got, want)
    # fetch-weights finds it too, says OK and names the weight file.
    assert cli.main(["fetch-weights", "blip_caption_base"]) == 0
    assert "(pytorch_model.bin)" in capsys.readouterr().out


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo unsafe",))


def test_a_pickle_that_runs_code_is_refused(cache, tiny_blip_bin):
    _, folder = tiny_blip_bin
    files = {p.name: p for p in folder.iterdir() if p.name != "pytorch_model.bin"}
    snap = _hub_snapshot(cache, "Salesforce/blip-image-captioning-base", files)
    torch.save({"weight": _Exploit()}, snap / "pytorch_model.bin")
    with pytest.raises(WeightsLoadError, match="fetch-weights blip_caption_base") as info:
        load_captioner("blip_caption_base", tiny=False, device="cpu")
    assert "posix.system" in str(info.value) or "system" in str(info.value.__cause__)  # refused by weights_only


def test_fetch_weights_fails_loudly_when_no_weight_file_is_cached(cache, capsys):
    _hub_snapshot(cache, "Salesforce/blip-image-captioning-base", {"config.json": b"{}"})
    assert cli.main(["fetch-weights", "blip_caption_base"]) == 1
    err = capsys.readouterr().err
    assert "FAIL" in err and "blip_caption_base" in err and "no weight file" in err


def test_a_download_that_brings_no_weights_is_an_error(cache, monkeypatch, tmp_path):
    """Online path: the snapshot download 'succeeds' but only config files came down."""
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    monkeypatch.delenv("HF_HUB_OFFLINE")
    empty = tmp_path / "snap"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    calls = []

    def fake_snapshot_download(repo, cache_dir=None, allow_patterns=None, local_files_only=False, **_):
        calls.append((repo, tuple(allow_patterns or ()), local_files_only))
        if local_files_only:
            raise LocalEntryNotFoundError("not cached")
        return str(empty)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    monkeypatch.setattr(models.downloads, "_repo_listing", lambda spec: ["config.json", "pytorch_model.bin", "tf_model.h5"])
    with pytest.raises(WeightsUnavailableError, match="no weight file"):
        models.fetch_weights("blip_caption_base")
    # What was asked for: the .bin the repository holds, never the TensorFlow file.
    assert calls[-1][0] == "Salesforce/blip-image-captioning-base"
    assert "pytorch_model*.bin" in calls[-1][1] and "*.safetensors" not in calls[-1][1]
    assert not any("h5" in p for p in calls[-1][1])


def test_weight_pattern_prefers_safetensors_and_never_picks_tf_or_flax():
    assert choose_weight_pattern(["config.json", "model.safetensors", "pytorch_model.bin"]) == "*.safetensors"
    assert choose_weight_pattern(["pytorch_model-00001-of-00002.bin", "x.json"]) == "pytorch_model*.bin"
    with pytest.raises(WeightsUnavailableError, match="no PyTorch weight file"):
        choose_weight_pattern(["tf_model.h5", "flax_model.msgpack"])


DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.mark.parametrize("spec", list(models.REGISTRY.values()), ids=lambda s: s.name)
def test_every_registry_entry_records_files_gating_and_licence_with_source(spec):
    assert spec.weight_files, f"{spec.name}: record the repository's weight files in course_utils/model_facts.py"
    # gated is True/False as read, or None where it could not be read (and the licence note says so)
    assert isinstance(spec.gated, bool) or (spec.gated is None and "gating not verified" in spec.licence_note), spec.name
    assert isinstance(spec.open_source, bool), spec.name
    assert spec.facts_source.startswith("https://"), spec.name
    assert spec.checked == "unverified" or DATE.match(spec.checked), spec.name
    if spec.source in ("hf", "timm"):
        choose_weight_pattern(spec.weight_files)  # the loader can find PyTorch weights in it
    else:
        assert spec.ref.rsplit("/", 1)[-1] in spec.weight_files


def test_the_default_captioner_repository_has_no_safetensors_and_its_bin_is_chosen():
    spec = models.REGISTRY["blip_caption_base"]
    assert not any(f.endswith(".safetensors") for f in spec.weight_files)
    assert choose_weight_pattern(spec.weight_files) == "pytorch_model*.bin"


def test_licences_follow_the_weights_into_the_open_source_flag():
    for name in ("blip2_opt_2.7b", "llava_1.5_7b"):
        spec = models.REGISTRY[name]
        assert spec.open_source is False and spec.licence_note, name
    assert "OPT" in models.REGISTRY["blip2_opt_2.7b"].licence
    assert "Llama 2" in models.REGISTRY["llava_1.5_7b"].licence
    from course_utils.bench.providers import TransformersProvider

    assert TransformersProvider("llava_1.5_7b", tiny=True).open_source is False
    assert TransformersProvider("blip_vqa_base", tiny=True).open_source is True


def test_doctor_style_table_shows_the_facts():
    row = next(r for r in models.model_table() if r["name"] == "blip2_opt_2.7b")
    assert row["open_source"] is False and row["checked"] and row["facts_source"]
