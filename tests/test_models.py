"""Model registry, tiny mode and the real loading code, exercised offline.

Pretrained loading is tested on checkpoints written here in the official formats: timm
safetensors inside a Hugging Face hub cache, a transformers ``save_pretrained`` folder, and a
SAM ``.pth`` state dict served by a loopback HTTP server (with Range support, so the resumable
download path runs for real).
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import segment_anything
import timm
import torch
from safetensors.torch import save_file

from course_utils import models
from course_utils.images import sample_image
from course_utils.models import (
    ChecksumError,
    ModelSpec,
    WeightsLoadError,
    WeightsUnavailableError,
    load_dinov2,
    load_model,
    load_sam,
    load_vit,
    register_model,
)

# --------------------------------------------------------------------------- helpers


def _fake_hub_snapshot(cache: Path, repo: str, files: dict[str, bytes | Path]) -> Path:
    """Lay out files exactly as huggingface_hub's cache does (refs/main -> snapshots/<rev>/)."""
    revision = "0123456789abcdef0123456789abcdef01234567"
    org, name = repo.split("/")
    root = cache / "hf" / f"models--{org}--{name}"
    snap = root / "snapshots" / revision
    snap.mkdir(parents=True, exist_ok=True)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(revision)
    for fname, content in files.items():
        target = snap / fname
        if isinstance(content, Path):
            target.write_bytes(content.read_bytes())
        else:
            target.write_bytes(content)
    return snap


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves one payload; honours Range; can cut the first response short (an interrupted download)."""

    payload = b""
    cut_first_at: int | None = None
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server API
        type(self).requests.append(self.headers.get("Range") or "full")
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(self.payload) - 1}/{len(self.payload)}")
        else:
            self.send_response(200)
        body = self.payload[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if type(self).cut_first_at is not None:
            cut, type(self).cut_first_at = type(self).cut_first_at, None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(2)  # drop the connection mid-body
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def range_server():
    _RangeHandler.requests = []
    _RangeHandler.cut_first_at = None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("COURSE_UTILS_CACHE", str(cache))
    return cache


# --------------------------------------------------------------------------- registry facts


TIMM_SPECS = [s for s in models.REGISTRY.values() if s.source == "timm"]


@pytest.mark.parametrize("spec", TIMM_SPECS, ids=[s.name for s in TIMM_SPECS])
def test_registry_parameter_counts_match_timm(spec):
    # Counted at the checkpoint's native resolution (DINOv2 is published at 518 px; we run it at 224).
    kwargs = {k: v for k, v in spec.arch_kwargs.items() if k != "img_size"}
    with torch.device("meta"):
        model = timm.create_model(spec.ref, pretrained=False, **kwargs)
    n = sum(p.numel() for p in model.parameters())
    assert n / 1e6 == pytest.approx(spec.params_m, rel=0.01)


@pytest.mark.parametrize("arch, name", [("vit_b", "sam_vit_b"), ("vit_l", "sam_vit_l"), ("vit_h", "sam_vit_h")])
def test_registry_sam_parameter_counts_match_segment_anything(arch, name):
    with torch.device("meta"):
        model = segment_anything.sam_model_registry[arch](checkpoint=None)
    n = sum(p.numel() for p in model.parameters())
    assert n / 1e6 == pytest.approx(models.REGISTRY[name].params_m, rel=0.01)


def test_registry_parameter_counts_match_transformers():
    import transformers as tf

    def count(model):
        return sum(p.numel() for p in model.parameters()) / 1e6

    with torch.device("meta"):  # the published configs: ViT-B/16 and BLIP base are transformers' defaults
        counts = {
            "vit_base_hf": count(tf.ViTForImageClassification(tf.ViTConfig(num_labels=1000))),
            "dinov2_small_hf": count(tf.Dinov2Model(tf.Dinov2Config(hidden_size=384, num_attention_heads=6,
                                                                    image_size=518, patch_size=14))),
            "blip_caption_base": count(tf.BlipForConditionalGeneration(tf.BlipConfig())),
            "blip_vqa_base": count(tf.BlipForQuestionAnswering(tf.BlipConfig())),
        }
    for name, n in counts.items():
        assert n == pytest.approx(models.REGISTRY[name].params_m, rel=0.01), name


def test_every_entry_has_licence_size_and_checksums_where_direct():
    for spec in models.REGISTRY.values():
        assert spec.licence and spec.download_mb > 0 and spec.params_m > 0, spec.name
        if spec.source == "url":
            assert spec.sha256 and len(spec.sha256) == 64


# --------------------------------------------------------------------------- tiny mode


def test_tiny_vit_keeps_the_architecture_family():
    loaded = load_vit("vit_base", tiny=True)
    model, preprocess = loaded
    assert loaded.tiny and models.is_random(model) and models.is_random(loaded)
    assert isinstance(model, timm.models.vision_transformer.VisionTransformer)
    assert len(model.blocks) == 12 and model.blocks[0].attn.num_heads == 12
    assert model.patch_embed.grid_size == (14, 14) and model.num_prefix_tokens == 1
    assert not model.training
    x = preprocess(sample_image("chelsea"))
    assert x.shape == (3, 224, 224)
    # The preprocessing is timm's own eval transform for that pretrained config.
    cfg = timm.data.resolve_data_config({}, model=timm.create_model("vit_base_patch16_224.augreg2_in21k_ft_in1k",
                                                                     pretrained=False, embed_dim=48))
    assert tuple(preprocess.config["mean"]) == tuple(cfg["mean"])


def test_tiny_dinov2_with_registers_has_register_tokens():
    model, preprocess = load_dinov2("dinov2_vits14_reg", tiny=True)
    assert model.num_prefix_tokens == 5 and model.patch_embed.grid_size == (16, 16)
    tokens = model.forward_features(preprocess(sample_image("chelsea"))[None])
    assert tokens.shape[1] == 5 + 16 * 16
    plain, _ = load_dinov2("dinov2_vits14", tiny=True)
    assert plain.num_prefix_tokens == 1


def test_tiny_models_are_deterministic_per_seed():
    a, _ = load_vit("vit_small", tiny=True, seed=3)
    b, _ = load_vit("vit_small", tiny=True, seed=3)
    c, _ = load_vit("vit_small", tiny=True, seed=4)
    x = torch.randn(1, 3, 224, 224)
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))


def test_tiny_hf_models_load_and_run():
    vit = load_vit("vit_base_hf", tiny=True)
    out = vit.model(pixel_values=vit.preprocess(sample_image("coffee"))[None])
    assert out.logits.shape == (1, 1000)
    dino = load_dinov2("dinov2_small_hf", tiny=True)
    hidden = dino.model(pixel_values=dino.preprocess.batch([sample_image("coffee")])).last_hidden_state
    assert hidden.shape[1] == 1 + 16 * 16


def test_tiny_sam_runs_through_the_official_predictor():
    sam = load_sam("sam_vit_b", tiny=True).model
    predictor = segment_anything.SamPredictor(sam)
    image = sample_image("chelsea")
    predictor.set_image(image)
    masks, scores, logits = predictor.predict(point_coords=np.array([[200, 150]]), point_labels=np.array([1]))
    assert masks.shape == (3, *image.shape[:2]) and masks.dtype == bool and logits.shape == (3, 256, 256)


def test_tiny_mode_follows_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_UTILS_TINY", "1")
    assert models.is_tiny() and load_vit("vit_tiny").tiny
    assert "TINY MODE" in capsys.readouterr().err
    monkeypatch.setenv("COURSE_UTILS_TINY", "0")
    assert not models.is_tiny()


def test_family_mismatch_and_unknown_names_are_clear():
    with pytest.raises(ValueError, match="load_sam takes one of: sam_vit_b"):
        load_sam("vit_base", tiny=True)
    with pytest.raises(KeyError, match="Known models"):
        load_model("resnet50")


def test_device_override(monkeypatch):
    monkeypatch.setenv("COURSE_UTILS_DEVICE", "cpu")
    assert models.get_device() == torch.device("cpu")
    assert models.get_device("meta") == torch.device("meta")


# --------------------------------------------------------------------------- pretrained loading, offline


def test_missing_weights_raise_one_error_with_three_fixes(fresh_cache):
    with pytest.raises(WeightsUnavailableError) as info:
        load_vit("vit_base", tiny=False)
    text = str(info.value)
    assert "course-utils fetch-weights vit_base" in text
    assert "COURSE_UTILS_CACHE" in text and "COURSE_UTILS_TINY=1" in text
    with pytest.raises(WeightsUnavailableError, match="fetch-weights sam_vit_b"):
        load_sam("sam_vit_b", tiny=False)


def test_timm_checkpoint_in_hub_cache_loads(fresh_cache):
    spec = register_model(ModelSpec(
        "test_timm_vit", "vit", "timm", "vit_small_patch16_224.augreg_in21k_ft_in1k", 0.1, 1, "test",
        arch="vit_small_patch16_224", arch_kwargs={"embed_dim": 24, "depth": 2, "num_heads": 6}))
    torch.manual_seed(1)
    source = timm.create_model(spec.ref, pretrained=False, **spec.arch_kwargs).eval()
    weights = fresh_cache / "w.safetensors"
    save_file(source.state_dict(), weights)
    _fake_hub_snapshot(fresh_cache, f"timm/{spec.ref}", {"model.safetensors": weights, "config.json": b"{}"})
    try:
        loaded = load_vit("test_timm_vit", tiny=False)
        assert not loaded.tiny and not models.is_random(loaded.model)
        x = torch.randn(2, 3, 224, 224)
        torch.testing.assert_close(loaded.model(x), source(x))
        # A damaged file is reported with the fix.
        snap_file = next((fresh_cache / "hf").rglob("model.safetensors"))
        snap_file.write_bytes(snap_file.read_bytes()[:1000])
        with pytest.raises(WeightsLoadError, match="fetch-weights test_timm_vit"):
            load_vit("test_timm_vit", tiny=False)
    finally:
        models.REGISTRY.pop("test_timm_vit")


def test_transformers_save_pretrained_folder_loads(fresh_cache):
    spec = register_model(ModelSpec("test_hf_dinov2", "dinov2", "hf", "course-test/tiny-dinov2", 0.1, 1, "test",
                                    arch="Dinov2Model"))
    try:
        source = load_dinov2("dinov2_small_hf", tiny=True, seed=5)
        folder = fresh_cache / "saved"
        source.model.save_pretrained(folder)
        source.processor.save_pretrained(folder)
        _fake_hub_snapshot(fresh_cache, spec.ref, {p.name: p for p in folder.iterdir()})
        loaded = load_dinov2("test_hf_dinov2", tiny=False)
        x = loaded.preprocess.batch([sample_image("rocket")])
        torch.testing.assert_close(loaded.model(pixel_values=x).last_hidden_state,
                                   source.model(pixel_values=x).last_hidden_state)
    finally:
        models.REGISTRY.pop("test_hf_dinov2")


def _tiny_sam_checkpoint(tmp_path: Path) -> tuple[bytes, dict]:
    torch.manual_seed(7)
    sam = models.build_sam_architecture(models._SAM_TINY)
    path = tmp_path / "sam_tiny.pth"
    torch.save(sam.state_dict(), path)
    return path.read_bytes(), sam.state_dict()


def test_sam_checkpoint_download_resume_verify_and_load(fresh_cache, range_server, tmp_path):
    payload, state = _tiny_sam_checkpoint(tmp_path)
    _RangeHandler.payload = payload
    _RangeHandler.cut_first_at = len(payload) // 3
    url = f"http://127.0.0.1:{range_server.server_address[1]}/sam_tiny_abc123.pth"
    register_model(ModelSpec("test_sam", "sam", "url", url, 1, 1, "test", arch="vit_b",
                             sha256=hashlib.sha256(payload).hexdigest(), arch_kwargs=models._SAM_TINY))
    try:
        dest = fresh_cache / "url" / "sam_tiny_abc123.pth"
        # First attempt is cut mid-body: no complete-looking file may exist afterwards.
        with pytest.raises(Exception):  # noqa: B017 - urllib reports the short read in several ways
            models.fetch_weights("test_sam")
        assert not dest.exists()
        part = dest.with_name(dest.name + ".part")
        assert 0 < part.stat().st_size < len(payload)
        # Second attempt resumes with a Range request and completes.
        loaded = load_sam("test_sam", tiny=False)
        assert _RangeHandler.requests[-1] == f"bytes={len(payload) // 3}-"
        assert dest.read_bytes() == payload and not part.exists()
        for key, value in state.items():
            torch.testing.assert_close(loaded.model.state_dict()[key], value)
        # Later loads come from the cache without a request.
        n = len(_RangeHandler.requests)
        load_sam("test_sam", tiny=False)
        assert len(_RangeHandler.requests) == n
        # Truncation on disk is detected by the checksum.
        dest.write_bytes(payload[:-10])
        with pytest.raises(ChecksumError, match="fetch-weights"):
            load_sam("test_sam", tiny=False)
    finally:
        models.REGISTRY.pop("test_sam")


def test_download_with_wrong_checksum_leaves_nothing(fresh_cache, range_server, tmp_path):
    _RangeHandler.payload = b"x" * 5000
    url = f"http://127.0.0.1:{range_server.server_address[1]}/bad.pth"
    dest = fresh_cache / "url" / "bad.pth"
    with pytest.raises(ChecksumError, match="partial file was removed"):
        models.download_url(url, dest, sha256="0" * 64, progress=False)
    assert not dest.exists() and not dest.with_name("bad.pth.part").exists()


def test_a_valid_file_that_is_not_a_sam_checkpoint_is_named(fresh_cache, range_server):
    payload = b"not a torch file at all"
    _RangeHandler.payload = payload
    url = f"http://127.0.0.1:{range_server.server_address[1]}/other.pth"
    register_model(ModelSpec("test_sam_bad", "sam", "url", url, 1, 1, "test", arch="vit_b",
                             sha256=hashlib.sha256(payload).hexdigest(), arch_kwargs=models._SAM_TINY))
    try:
        with pytest.raises(WeightsLoadError, match="not a valid SAM"):
            load_sam("test_sam_bad", tiny=False)
    finally:
        models.REGISTRY.pop("test_sam_bad")
