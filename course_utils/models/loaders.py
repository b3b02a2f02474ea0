"""Registry of every model the week uses, the weight cache, device choice and tiny mode.

One expensive call (``load_vit``, ``load_dinov2``, ``load_sam``, ``load_model``) returns the model
in eval mode on the chosen device together with the preprocessing it needs.

Tiny mode (``COURSE_UTILS_TINY=1`` or ``tiny=True``) returns a small, randomly initialised model
of the *same architecture family* (same prefix and register tokens, same patch grid, same SAM
predictor path). It loads offline in well under a second and says loudly that its weights are
random. A pretrained load that cannot download raises :class:`WeightsUnavailableError`; it never
falls back to random weights on its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .images import load_image
from .model_facts import MODEL_FACTS
from .tiny import NOTE as RANDOM_WEIGHTS_NOTE, TINY_ENV, enabled as is_tiny, is_random, mark as mark_random_weights

__all__ = [
    "ModelSpec", "LoadedModel", "REGISTRY", "WeightsUnavailableError", "ChecksumError",
    "register_model", "is_tiny", "is_random", "get_device", "cache_dir",
    "load_model", "load_vit", "load_dinov2", "load_sam", "fetch_weights", "cached_files",
    "choose_weight_pattern", "weight_files_in",
    "GatedModelError", "load_dinov3", "load_sam3",
]

CACHE_ENV = "COURSE_UTILS_CACHE"
DEVICE_ENV = "COURSE_UTILS_DEVICE"


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are neither in the cache nor downloadable from here."""


class ChecksumError(RuntimeError):
    """A weight file on disk is damaged or incomplete."""


class GatedModelError(WeightsUnavailableError):
    """The Hub refused a gated repository (licence not accepted yet, or no token sent)."""


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class ModelSpec:
    """One model of the week.

    Attributes:
        name: Registry key, e.g. ``"vit_base"``.
        family: ``"vit"``, ``"dino"``, ``"dinov2"``, ``"sam"``, ``"captioner"`` or ``"vqa"``.
        source: ``"timm"`` (weights from the HF hub repo ``timm/<ref>``), ``"hf"`` (a transformers
            repo) or ``"url"`` (a direct download into our cache, verified by ``sha256``).
        ref: timm model name with its pretrained tag, HF repo id, or URL.
        params_m: Parameters in millions (checked against the built architecture in the tests
            where the architecture is available offline).
        download_mb: Approximate size of the weight download in MB.
        licence: Licence of the weights.
        arch: Architecture to build: timm model name or SAM model type (``vit_b``...).
        sha256: Checksum of the downloaded file, for ``source="url"``.
        arch_kwargs: Extra constructor arguments (used by tests to register tiny checkpoints).
        tiny_kwargs: Constructor overrides that make the tiny random variant.
        note: One line for the README table.
        weight_files: Weight files the repository's main branch holds (read from the hub page).
        gated: Whether the hub asks for an access form before download (accept its licence on the
            model page first); ``None`` when that could not be checked.
        licence_note: Terms of parts of the weights that carry their own licence.
        open_source: True only when every part of the weights is under an OSI-approved licence.
        facts_source: The page(s) the files, gating and licence were read from.
        checked: The date they were read, or ``"unverified"``.
    """

    name: str
    family: str
    source: str
    ref: str
    params_m: float
    download_mb: float
    licence: str
    arch: str | None = None
    sha256: str | None = None
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    tiny_kwargs: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    weight_files: tuple[str, ...] = ()
    gated: bool | None = False
    licence_note: str = ""
    open_source: bool | None = None
    facts_source: str = ""
    checked: str = "unverified"


def _timm_tiny(heads: int, **extra: Any) -> dict[str, Any]:
    # Same depth, heads, patch size and prefix/register tokens; only the width shrinks (4 per head).
    return {"embed_dim": 4 * heads, **extra}


REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add (or replace) a registry entry; returns it."""
    REGISTRY[spec.name] = spec
    return spec


for _spec in [
    # The ViT model zoo (AugReg weights, Steiner et al. 2021), Tiny to Huge.
    ModelSpec("vit_tiny", "vit", "timm", "vit_tiny_patch16_224.augreg_in21k_ft_in1k", 5.72, 23, "Apache-2.0",
              arch="vit_tiny_patch16_224", tiny_kwargs=_timm_tiny(3), note="ViT-Ti/16, IN-21k -> IN-1k"),
    ModelSpec("vit_small", "vit", "timm", "vit_small_patch16_224.augreg_in21k_ft_in1k", 22.05, 88, "Apache-2.0",
              arch="vit_small_patch16_224", tiny_kwargs=_timm_tiny(6), note="ViT-S/16, IN-21k -> IN-1k"),
    ModelSpec("vit_base", "vit", "timm", "vit_base_patch16_224.augreg2_in21k_ft_in1k", 86.57, 346, "Apache-2.0",
              arch="vit_base_patch16_224", tiny_kwargs=_timm_tiny(12), note="ViT-B/16, IN-21k -> IN-1k"),
    ModelSpec("vit_large", "vit", "timm", "vit_large_patch16_224.augreg_in21k_ft_in1k", 304.33, 1217,
              "Apache-2.0", arch="vit_large_patch16_224", tiny_kwargs=_timm_tiny(16),
              note="ViT-L/16, IN-21k -> IN-1k"),
    ModelSpec("vit_huge", "vit", "timm", "vit_huge_patch14_224.orig_in21k", 630.76, 2523, "Apache-2.0",
              arch="vit_huge_patch14_224", tiny_kwargs=_timm_tiny(16),
              note="ViT-H/14, IN-21k features (no IN-1k head)"),
    ModelSpec("deit_small", "vit", "timm", "deit_small_patch16_224.fb_in1k", 22.05, 88, "Apache-2.0",
              arch="deit_small_patch16_224", tiny_kwargs=_timm_tiny(6), note="DeiT-S/16, IN-1k only"),
    # Self-supervised backbones.
    ModelSpec("dino_vits16", "dino", "timm", "vit_small_patch16_224.dino", 21.67, 87, "Apache-2.0",
              arch="vit_small_patch16_224", arch_kwargs={"num_classes": 0}, tiny_kwargs=_timm_tiny(6),
              note="DINO v1 ViT-S/16"),
    ModelSpec("dinov2_vits14", "dinov2", "timm", "vit_small_patch14_dinov2.lvd142m", 22.06, 88, "Apache-2.0",
              arch="vit_small_patch14_dinov2", arch_kwargs={"img_size": 224}, tiny_kwargs=_timm_tiny(6),
              note="DINOv2 ViT-S/14 (LVD-142M), run at 224 px"),
    ModelSpec("dinov2_vits14_reg", "dinov2", "timm", "vit_small_patch14_reg4_dinov2.lvd142m", 22.06, 88,
              "Apache-2.0", arch="vit_small_patch14_reg4_dinov2", arch_kwargs={"img_size": 224},
              tiny_kwargs=_timm_tiny(6), note="DINOv2 ViT-S/14 with 4 register tokens"),
    ModelSpec("dinov2_vitb14", "dinov2", "timm", "vit_base_patch14_dinov2.lvd142m", 86.58, 346, "Apache-2.0",
              arch="vit_base_patch14_dinov2", arch_kwargs={"img_size": 224}, tiny_kwargs=_timm_tiny(12),
              note="DINOv2 ViT-B/14 (GPU recommended)"),
    # The same architectures through Hugging Face transformers.
    ModelSpec("vit_base_hf", "vit", "hf", "google/vit-base-patch16-224", 86.57, 346, "Apache-2.0",
              arch="ViTForImageClassification", note="ViT-B/16 in transformers"),
    ModelSpec("dinov2_small_hf", "dinov2", "hf", "facebook/dinov2-small", 22.06, 88, "Apache-2.0",
              arch="Dinov2Model", note="DINOv2 ViT-S/14 in transformers"),
    # Segment Anything, official checkpoints (sha256 of the files as published).
    ModelSpec("sam_vit_b", "sam", "url", "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
              93.74, 375, "Apache-2.0", arch="vit_b",
              sha256="ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
              note="SAM ViT-B: the CPU choice"),
    ModelSpec("sam_vit_l", "sam", "url", "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
              312.34, 1250, "Apache-2.0", arch="vit_l",
              sha256="3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622", note="SAM ViT-L"),
    ModelSpec("sam_vit_h", "sam", "url", "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
              641.09, 2565, "Apache-2.0", arch="vit_h",
              sha256="a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
              note="SAM ViT-H: GPU only in practice"),
    # SAM 2.1 and EdgeTAM in transformers (course_utils.sam2_models: load_sam2_video / load_sam2_image). Counts
    # checked in tests/test_video.py against the architectures transformers builds; download = fp32
    # safetensors (4 bytes a parameter). Model cards read 2026-12-01: huggingface.co/facebook/sam2.1-hiera-tiny
    # (Apache-2.0), huggingface.co/yonigozlan/EdgeTAM-hf (Apache-2.0, the transformers port of facebook/EdgeTAM).
    ModelSpec("sam2.1_hiera_tiny", "sam2", "hf", "facebook/sam2.1-hiera-tiny", 38.96, 156, "Apache-2.0",
              arch="Sam2VideoModel", note="SAM 2.1 Hiera-T: video + image prompts"),
    ModelSpec("sam2.1_hiera_small", "sam2", "hf", "facebook/sam2.1-hiera-small", 46.06, 184, "Apache-2.0",
              arch="Sam2VideoModel", note="SAM 2.1 Hiera-S: video + image prompts"),
    ModelSpec("edgetam", "sam2", "hf", "yonigozlan/EdgeTAM-hf", 13.91, 56, "Apache-2.0",
              arch="EdgeTamVideoModel", note="EdgeTAM (RepViT-M1 + 2D perceiver): the CPU default"),
    # Open captioning / VQA models for the benchmark (BLIP counts checked against transformers' configs
    # in the tests; BLIP-2 and LLaVA as stated on their model cards).
    ModelSpec("blip_caption_base", "captioner", "hf", "Salesforce/blip-image-captioning-base", 223.97, 990,
              "BSD-3-Clause", arch="BlipForConditionalGeneration", note="BLIP base captioning, CPU OK"),
    ModelSpec("blip_vqa_base", "vqa", "hf", "Salesforce/blip-vqa-base", 361.23, 1540, "BSD-3-Clause",
              arch="BlipForQuestionAnswering", note="BLIP base VQA, CPU OK"),
    ModelSpec("blip2_opt_2.7b", "captioner", "hf", "Salesforce/blip2-opt-2.7b", 3745, 15500, "MIT",
              arch="Blip2ForConditionalGeneration", note="BLIP-2 OPT-2.7B, Colab GPU (fp16 / 8-bit)"),
    ModelSpec("llava_1.5_7b", "captioner", "hf", "llava-hf/llava-1.5-7b-hf", 7063, 14100,
              "Llama 2 Community Licence", arch="LlavaForConditionalGeneration",
              note="LLaVA-1.5 7B, Colab GPU (8-bit / 4-bit)"),
    # The newest of each family (read 2026-12-01): DINOv3 (arXiv 2508.10104) through timm, like DINOv2; SAM 3
    # (arXiv 2511.16719) through transformers. Both under Meta's own licences. facebook/sam3 is gated (the Hub's
    # API says gated: "manual"); whether the timm DINOv3 mirrors are gated was not verified (the official
    # facebook/dinov3-* repos are), so a refused download of either explains how to accept the licence.
    ModelSpec("dinov3_vits16", "dinov3", "timm", "vit_small_patch16_dinov3.lvd1689m", 21.59, 86,
              "DINOv3 License", arch="vit_small_patch16_dinov3", tiny_kwargs=_timm_tiny(6), gated=None,
              note="DINOv3 ViT-S/16 (LVD-1689M, distilled from ViT-7B), 4 registers, RoPE, 256 px"),
    ModelSpec("dinov3_vitb16", "dinov3", "timm", "vit_base_patch16_dinov3.lvd1689m", 85.64, 343,
              "DINOv3 License", arch="vit_base_patch16_dinov3", tiny_kwargs=_timm_tiny(12), gated=None,
              note="DINOv3 ViT-B/16 (GPU recommended)"),
    ModelSpec("sam3", "sam3", "hf", "facebook/sam3", 840.38, 3450, "SAM License", arch="Sam3Model", gated=True,
              note="SAM 3 concept prompts (text / exemplar boxes): GPU recommended"),
]:
    register_model(_spec)

# Files, gating and licences as read from each repository (source + date): course_utils/model_facts.py.
for _name, _facts in MODEL_FACTS.items():
    if _name in REGISTRY:
        register_model(replace(REGISTRY[_name], **_facts))


def get_spec(name: str) -> ModelSpec:
    """Return the registry entry for ``name`` or raise a KeyError listing the choices."""
    if name not in REGISTRY:
        raise KeyError(f"Unknown model {name!r}. Known models: {', '.join(REGISTRY)}.")
    return REGISTRY[name]


# --------------------------------------------------------------------------- environment


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Choose a device: the argument, else ``COURSE_UTILS_DEVICE``, else cuda > mps > cpu."""
    chosen = device if device is not None else os.environ.get(DEVICE_ENV) or None
    if chosen is not None:
        return torch.device(chosen)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cache_dir() -> Path:
    """The weight cache: ``COURSE_UTILS_CACHE`` or the user cache directory.

    Hugging Face and timm downloads go under ``<cache>/hf`` (the HF hub layout), direct URL
    downloads (SAM) under ``<cache>/url``. Copying this directory to another machine and
    pointing ``COURSE_UTILS_CACHE`` at it is enough to load offline.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("course_utils"))


def _unavailable(spec: ModelSpec, reason: str) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"Pretrained weights for {spec.name!r} ({spec.ref}) are not available here: {reason}\n"
        "Fix it in one of three ways:\n"
        f"  1. on a machine with internet run `course-utils fetch-weights {spec.name}` "
        "(it fills the cache there);\n"
        f"  2. copy that cache directory here and set {CACHE_ENV}=/path/to/cache (now: {cache_dir()});\n"
        f"  3. or work offline with tiny random models: set {TINY_ENV}=1 or pass tiny=True."
    )


# --------------------------------------------------------------------------- downloads


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verified_marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def verify_file(path: Path, sha256: str | None) -> None:
    """Check ``path`` against ``sha256`` (hashing once; a marker remembers size and mtime).

    Raises:
        ChecksumError: the file is truncated or damaged; the message says how to re-download it.
    """
    if not sha256:
        return
    marker = _verified_marker(path)
    stat = path.stat()
    stamp = f"{sha256} {stat.st_size} {stat.st_mtime_ns}"
    if marker.exists() and marker.read_text().strip() == stamp:
        return
    actual = _sha256(path)
    if actual != sha256:
        raise ChecksumError(
            f"{path} is damaged or incomplete: sha256 {actual[:16]}... != expected {sha256[:16]}... "
            f"({stat.st_size} bytes). Delete it and run `course-utils fetch-weights` again.")
    marker.write_text(stamp)


def download_url(url: str, dest: Path, sha256: str | None = None, progress: bool = True,
                 timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically, resuming a previous partial download.

    Bytes go to ``dest.part`` (resumed with an HTTP Range request when it exists); the file is
    verified against ``sha256`` and only then renamed to ``dest``, so an interrupted download
    never leaves a file that looks complete.
    """
    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        verify_file(dest, sha256)
        return dest
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "course_utils"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part file is already complete
            response = None
        else:
            raise
    if response is not None:
        with response:
            resumed = response.status == 206
            if not resumed:
                have = 0
            total = response.headers.get("Content-Length")
            total = int(total) + have if total is not None else None
            with open(part, "ab" if resumed else "wb") as out, tqdm(
                total=total, initial=have, unit="B", unit_scale=True, desc=dest.name, disable=not progress
            ) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
            got = part.stat().st_size
            if total is not None and got < total:
                # The connection dropped: keep the part file so that the next call resumes.
                raise ConnectionError(f"Download of {url} stopped at {got} of {total} bytes; run the same "
                                      "command again to resume.")
    if sha256:
        actual = _sha256(part)
        if actual != sha256:
            part.unlink()
            raise ChecksumError(f"Download of {url} does not match its sha256 ({actual[:16]}... != "
                                f"{sha256[:16]}...); the partial file was removed, run the command again.")
    os.replace(part, dest)
    if sha256:
        verify_file(dest, sha256)
    return dest


def _hf_cache() -> Path:
    return cache_dir() / "hf"


_META_FILES = ["*.json", "*.txt", "*.model", "*.jinja"]
_SAFETENSORS = "*.safetensors"
_TORCH_BIN = "pytorch_model*.bin"


def choose_weight_pattern(repo_files: list[str] | tuple[str, ...]) -> str:
    """Which weight files to download from a repository listing: safetensors if there are any, else the
    PyTorch ``pytorch_model*.bin`` files (loaded with ``weights_only=True``).

    Raises:
        WeightsUnavailableError: the repository holds neither (e.g. only TensorFlow / Flax weights).
    """
    names = [f.rsplit("/", 1)[-1] for f in repo_files]
    if any(fnmatch(n, _SAFETENSORS) for n in names):
        return _SAFETENSORS
    if any(fnmatch(n, _TORCH_BIN) for n in names):
        return _TORCH_BIN
    raise WeightsUnavailableError(f"The repository holds no PyTorch weight file (safetensors or "
                                  f"pytorch_model*.bin); its files: {', '.join(sorted(names)) or 'none'}.")


def weight_files_in(folder: Path) -> list[Path]:
    """The weight files of a downloaded snapshot: its safetensors, else its ``pytorch_model*.bin``."""
    for pattern in (_SAFETENSORS, _TORCH_BIN):
        found = sorted(p for p in Path(folder).glob(pattern) if p.is_file())
        if found:
            return found
    return []


def _repo_id(spec: ModelSpec) -> str:
    return spec.ref if spec.source == "hf" else f"timm/{spec.ref}"


def _repo_listing(spec: ModelSpec) -> list[str]:
    """The repository's files from the hub API, or (if the listing fails) the registry's record."""
    try:
        from huggingface_hub import HfApi

        return list(HfApi().list_repo_files(_repo_id(spec)))
    except Exception:  # noqa: BLE001 - the download below reports the real network error
        return list(spec.weight_files)


def _hf_snapshot(spec: ModelSpec, download: bool = True) -> Path:
    """Return the local snapshot folder of an HF repo (with at least one weight file), downloading it
    into our cache if allowed.

    Raises:
        WeightsUnavailableError: not cached and not downloadable, or no weight file came down.
    """
    from huggingface_hub import snapshot_download

    repo = _repo_id(spec)
    local_error: Exception | None = None
    try:
        local = Path(snapshot_download(repo, cache_dir=_hf_cache(), local_files_only=True,
                                       allow_patterns=[*_META_FILES, _SAFETENSORS, _TORCH_BIN]))
        if weight_files_in(local):
            return local
        local_error = FileNotFoundError(f"no weight file in the cached snapshot {local}")
    except Exception as exc:  # not cached (LocalEntryNotFoundError) or incomplete
        local_error = exc
    if not download or os.environ.get("HF_HUB_OFFLINE", "") in ("1", "true", "True"):
        raise _unavailable(spec, f"not in the cache ({local_error.__class__.__name__}: "
                                 f"{str(local_error).splitlines()[0][:400] if str(local_error) else ''}).")
    pattern = choose_weight_pattern(_repo_listing(spec))
    try:
        folder = Path(snapshot_download(repo, cache_dir=_hf_cache(), allow_patterns=[*_META_FILES, pattern]))
    except Exception as exc:
        from .gated import gated_message, is_access_refused

        if is_access_refused(exc):
            raise GatedModelError(gated_message(spec.name, repo, spec.licence, exc)) from None
        raise _unavailable(spec, f"download from the Hugging Face hub failed ({exc.__class__.__name__}: "
                                 f"{str(exc).splitlines()[0][:200] if str(exc) else ''}).") from exc
    if not weight_files_in(folder):
        raise _unavailable(spec, f"the download finished but no weight file ({pattern}) came down into {folder}; "
                                 f"the repository's files were: {', '.join(_repo_listing(spec))}.")
    return folder


def _local_weight_file(spec: ModelSpec, download: bool = True) -> Path:
    """Path of the (verified) weight file or snapshot folder for ``spec``."""
    if spec.source == "url":
        dest = cache_dir() / "url" / spec.ref.rsplit("/", 1)[-1]
        if dest.exists():
            verify_file(dest, spec.sha256)
            return dest
        if not download:
            raise _unavailable(spec, f"{dest} is not in the cache.")
        try:
            return download_url(spec.ref, dest, spec.sha256)
        except ChecksumError:
            raise
        except OSError as exc:
            raise _unavailable(spec, f"download failed ({exc}).") from exc
    if spec.source == "timm":
        return weight_files_in(_hf_snapshot(spec, download))[0]  # model.safetensors or pytorch_model.bin
    if spec.source == "hf":
        return _hf_snapshot(spec, download)
    raise ValueError(f"Unknown source {spec.source!r} for {spec.name}.")


def fetch_weights(name: str, progress: bool = True) -> Path:
    """Download the weights of one registry model into the cache (no model is built)."""
    spec = get_spec(name)
    return _local_weight_file(spec, download=True)


def cached_files() -> list[tuple[Path, int]]:
    """Files in the cache with their sizes in bytes (for ``course-utils doctor``)."""
    root = cache_dir()
    if not root.exists():
        return []
    return sorted((p, p.stat().st_size) for p in root.rglob("*") if p.is_file() and not p.is_symlink())


# --------------------------------------------------------------------------- preprocessing


class ImagePreprocess:
    """Turn images (anything :func:`load_image` accepts) into normalised model input tensors.

    Args:
        transform: A callable PIL image -> (3, H, W) float tensor (timm's eval transform, or a
            wrapper around an HF image processor).
        config: The resolved data config (``input_size``, ``mean``, ``std``, ``crop_pct``...).
    """

    def __init__(self, transform: Callable[[Any], torch.Tensor], config: dict[str, Any]):
        self.transform = transform
        self.config = config

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the tensors produced."""
        return tuple(self.config["input_size"][-2:])  # type: ignore[return-value]

    def __call__(self, image: Any) -> torch.Tensor:
        """One image -> (3, H, W) float tensor."""
        from PIL import Image

        return self.transform(Image.fromarray(load_image(image)))

    def batch(self, images: list[Any]) -> torch.Tensor:
        """Several images -> (B, 3, H, W) float tensor."""
        return torch.stack([self(im) for im in images])

    def __repr__(self) -> str:
        cfg = {k: self.config[k] for k in ("input_size", "mean", "std", "crop_pct") if k in self.config}
        return f"ImagePreprocess({cfg})"


def _timm_preprocess(model: nn.Module) -> ImagePreprocess:
    from timm.data import create_transform, resolve_data_config

    config = resolve_data_config({}, model=model)
    img_size = getattr(getattr(model, "patch_embed", None), "img_size", None)
    if img_size is not None and tuple(config["input_size"][-2:]) != tuple(img_size):
        # The model was built at another resolution than its pretrained config (DINOv2 at 224).
        config = resolve_data_config({"input_size": (3, *img_size)}, model=model)
    return ImagePreprocess(create_transform(**config), config)


def _hf_preprocess(processor: Any) -> ImagePreprocess:
    size = getattr(processor, "crop_size", None) or getattr(processor, "size", None) or {}
    height = size.get("height") or size.get("shortest_edge") or 224
    width = size.get("width") or size.get("shortest_edge") or 224
    config = {"input_size": (3, height, width), "mean": tuple(processor.image_mean),
              "std": tuple(processor.image_std)}

    def transform(pil_image: Any) -> torch.Tensor:
        return processor(images=pil_image, return_tensors="pt")["pixel_values"][0]

    return ImagePreprocess(transform, config)


# --------------------------------------------------------------------------- loaders


@dataclass
class LoadedModel:
    """A model ready to use: unpacks as ``model, preprocess = load_vit(...)``.

    Attributes:
        model: The ``nn.Module`` in eval mode on ``device``.
        preprocess: Image -> input tensor (``None`` for SAM: ``SamPredictor`` does its own).
        spec: The registry entry.
        random_weights: True when the weights are random (tiny mode); ``tiny`` is the same flag.
        device: Where the model lives.
        processor: The HF processor for transformers models (tokenizer + image processor).
    """

    model: nn.Module
    preprocess: ImagePreprocess | None
    spec: ModelSpec
    random_weights: bool
    device: torch.device
    processor: Any = None

    def __iter__(self) -> Iterator[Any]:
        yield self.model
        yield self.preprocess

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def tiny(self) -> bool:
        """The same as ``random_weights`` (the name the labs use)."""
        return self.random_weights

    @property
    def weights_note(self) -> str:
        """A caption for figures: says whether the weights are random."""
        return RANDOM_WEIGHTS_NOTE if self.tiny else f"{self.spec.name} pretrained ({self.spec.ref})"

    def __repr__(self) -> str:
        kind = "TINY RANDOM" if self.tiny else "pretrained"
        n = sum(p.numel() for p in self.model.parameters())
        return f"LoadedModel({self.spec.name!r}, {kind}, {n / 1e6:.2f}M params, device={self.device})"


def _announce_tiny(spec: ModelSpec, model: nn.Module) -> None:
    n = sum(p.numel() for p in model.parameters())
    print(f"[course_utils] TINY MODE: {spec.name!r} is a small randomly initialised {spec.family} model "
          f"({n / 1e6:.2f}M params instead of {spec.params_m:g}M). Its outputs are meaningless; "
          f"unset {TINY_ENV} for pretrained weights.", file=sys.stderr)


def _finish(model: nn.Module, spec: ModelSpec, tiny: bool, device: torch.device,
            preprocess: ImagePreprocess | None, processor: Any = None) -> LoadedModel:
    model.eval().to(device)
    mark_random_weights(model, tiny)
    model._course_utils_name = spec.name  # type: ignore[attr-defined]
    if tiny:
        _announce_tiny(spec, model)
    return LoadedModel(model, preprocess, spec, tiny, device, processor)


def _build_timm(spec: ModelSpec, tiny: bool, seed: int) -> nn.Module:
    import timm

    kwargs = dict(spec.arch_kwargs)
    if tiny:
        kwargs.update(spec.tiny_kwargs)
        torch.manual_seed(seed)
        return timm.create_model(spec.ref, pretrained=False, **kwargs)
    weights = _local_weight_file(spec)
    try:
        return timm.create_model(spec.ref, pretrained=True, pretrained_cfg_overlay={"file": str(weights)},
                                 **kwargs)
    except Exception as exc:
        raise ChecksumError(f"{weights} could not be loaded ({exc.__class__.__name__}: {str(exc)[:300]}). The "
                            f"file is damaged or from another model: delete it and run "
                            f"`course-utils fetch-weights {spec.name}`.") from exc


def _tiny_hf(spec: ModelSpec) -> tuple[nn.Module, Any]:
    import transformers as tf

    if spec.arch == "ViTForImageClassification":
        config = tf.ViTConfig(hidden_size=48, num_hidden_layers=12, num_attention_heads=12,
                              intermediate_size=192, image_size=224, patch_size=16, num_labels=1000)
        return tf.ViTForImageClassification(config), tf.ViTImageProcessor()
    if spec.arch == "Dinov2Model":
        config = tf.Dinov2Config(hidden_size=48, num_hidden_layers=12, num_attention_heads=6,
                                 mlp_ratio=4, image_size=224, patch_size=14)
        processor = tf.BitImageProcessor(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224},
                                         do_center_crop=True, image_mean=[0.485, 0.456, 0.406],
                                         image_std=[0.229, 0.224, 0.225], do_convert_rgb=True)
        return tf.Dinov2Model(config), processor
    if spec.arch == "Sam3Model":
        from .tiny.sam3 import tiny_sam3  # small Sam3Config + offline tokenizer

        return tiny_sam3()
    if spec.arch in ("BlipForConditionalGeneration", "BlipForQuestionAnswering", "Blip2ForConditionalGeneration",
                     "LlavaForConditionalGeneration"):
        from .tiny.vlm import tiny_model  # word-level tokenizer built offline

        return tiny_model(spec.arch)
    raise NotImplementedError(f"No tiny variant for {spec.name}; tiny captioning/VQA models exist for the BLIP, "
                              "BLIP-2 and LLaVA entries.")


def _build_hf(spec: ModelSpec, tiny: bool, seed: int) -> tuple[nn.Module, Any]:
    import transformers as tf

    if tiny:
        torch.manual_seed(seed)
        return _tiny_hf(spec)
    folder = _local_weight_file(spec)
    model_cls = getattr(tf, spec.arch or "AutoModel")
    try:
        processor = tf.AutoProcessor.from_pretrained(folder) if spec.family in ("captioner", "vqa", "sam3") \
            else tf.AutoImageProcessor.from_pretrained(folder)
        # Eager attention keeps attention weights readable for the ViT/DINOv2 labs; SAM 3's global attention at
        # 1008 px would materialise (72*72)^2 weights per head that way, so it keeps transformers' default kernel.
        # weights_only=True: a pytorch_model.bin is unpickled with torch's safe loader (tensors only).
        kwargs = {} if spec.family == "sam3" else {"attn_implementation": "eager"}
        return model_cls.from_pretrained(folder, weights_only=True, **kwargs), processor
    except Exception as exc:
        raise ChecksumError(f"{folder} could not be loaded ({exc.__class__.__name__}: {exc}). Delete it and "
                            f"run `course-utils fetch-weights {spec.name}`.") from exc


_SAM_TINY = {"encoder_embed_dim": 32, "encoder_depth": 2, "encoder_num_heads": 2,
             "encoder_global_attn_indexes": [1]}
_SAM_ARCH = {
    "vit_b": {"encoder_embed_dim": 768, "encoder_depth": 12, "encoder_num_heads": 12,
              "encoder_global_attn_indexes": [2, 5, 8, 11]},
    "vit_l": {"encoder_embed_dim": 1024, "encoder_depth": 24, "encoder_num_heads": 16,
              "encoder_global_attn_indexes": [5, 11, 17, 23]},
    "vit_h": {"encoder_embed_dim": 1280, "encoder_depth": 32, "encoder_num_heads": 16,
              "encoder_global_attn_indexes": [7, 15, 23, 31]},
}


def build_sam_architecture(arch: str | dict[str, Any]) -> nn.Module:
    """Build an untrained SAM with segment-anything's own builder (``vit_b``, ``vit_l``, ``vit_h``
    or a dict of encoder settings)."""
    from segment_anything.build_sam import _build_sam  # the builder behind sam_model_registry

    kwargs = _SAM_ARCH[arch] if isinstance(arch, str) else arch
    return _build_sam(checkpoint=None, **kwargs)


def _build_sam(spec: ModelSpec, tiny: bool, seed: int) -> nn.Module:
    if tiny:
        torch.manual_seed(seed)
        return build_sam_architecture(spec.tiny_kwargs or _SAM_TINY)
    path = _local_weight_file(spec)
    model = build_sam_architecture(spec.arch_kwargs or spec.arch or "vit_b")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:
        raise ChecksumError(f"{path} is not a valid SAM {spec.arch} checkpoint ({exc.__class__.__name__}: "
                            f"{str(exc)[:300]}). Delete it and run `course-utils fetch-weights {spec.name}`.") from exc
    return model


def load_model(name: str, tiny: bool | None = None, device: str | torch.device | None = None,
               seed: int = 0) -> LoadedModel:
    """Load any registry model (pretrained, or tiny random in tiny mode).

    Args:
        name: Registry key (see :data:`REGISTRY` or ``course-utils doctor``).
        tiny: Force tiny mode on or off; ``None`` follows ``COURSE_UTILS_TINY``.
        device: ``"cpu"``, ``"cuda"``...; ``None`` picks cuda > mps > cpu.
        seed: Seed for the random weights of tiny models (deterministic tiny outputs).

    Returns:
        A :class:`LoadedModel` (unpacks as ``model, preprocess``).

    Raises:
        WeightsUnavailableError: pretrained weights cannot be found or downloaded.
        ChecksumError: the cached file is damaged.
    """
    spec = get_spec(name)
    tiny = is_tiny(tiny)
    dev = get_device(device)
    if spec.family == "sam":
        return _finish(_build_sam(spec, tiny, seed), spec, tiny, dev, None)
    if spec.family == "sam2":
        raise ValueError(f"{name!r} is a SAM 2 family model: load it with course_utils.sam2_models.load_sam2_video "
                         f"({name!r}) for video or load_sam2_image({name!r}) for SamSession.")
    if spec.source == "timm":
        model = _build_timm(spec, tiny, seed)
        return _finish(model, spec, tiny, dev, _timm_preprocess(model))
    if spec.source == "hf":
        model, processor = _build_hf(spec, tiny, seed)
        preprocess = _hf_preprocess(getattr(processor, "image_processor", processor))
        return _finish(model, spec, tiny, dev, preprocess, processor)
    raise ValueError(f"Cannot load {name}: unknown source {spec.source!r}.")


def _load_family(name: str, families: tuple[str, ...], loader: str, **kwargs: Any) -> LoadedModel:
    spec = get_spec(name)
    if spec.family not in families:
        choices = [n for n, s in REGISTRY.items() if s.family in families]
        raise ValueError(f"{name!r} is a {spec.family} model; {loader} takes one of: {', '.join(choices)}.")
    return load_model(name, **kwargs)


def load_vit(name: str = "vit_base", tiny: bool | None = None, device: str | torch.device | None = None,
             seed: int = 0) -> LoadedModel:
    """Load a supervised ViT (``vit_tiny`` ... ``vit_huge``, ``deit_small``, ``vit_base_hf``)."""
    return _load_family(name, ("vit",), "load_vit", tiny=tiny, device=device, seed=seed)


def load_dinov2(name: str = "dinov2_vits14", tiny: bool | None = None, device: str | torch.device | None = None,
                seed: int = 0) -> LoadedModel:
    """Load a self-supervised backbone (DINOv2 with/without registers, DINO v1)."""
    return _load_family(name, ("dinov2", "dino"), "load_dinov2", tiny=tiny, device=device, seed=seed)


def load_dinov3(name: str = "dinov3_vits16", tiny: bool | None = None, device: str | torch.device | None = None,
                seed: int = 0) -> LoadedModel:
    """Load DINOv3 (ViT-S/16 or ViT-B/16, timm): patch 16, CLS + 4 register tokens, RoPE positions.

    Its preprocessing comes from the checkpoint's own timm config (256 px, bicubic, ImageNet mean/std);
    the model also takes any multiple of 16 (``dynamic_img_size``), which is how DINOv3 gives dense features
    at high resolution. Tiny mode builds the same timm architecture, narrower, with random weights.

    Raises:
        GatedModelError: the Hub refused the download (accept the DINOv3 licence first; the message says how).
        WeightsUnavailableError: no weights here and no way to download them.
    """
    return _load_family(name, ("dinov3",), "load_dinov3", tiny=tiny, device=device, seed=seed)


def load_sam3(name: str = "sam3", tiny: bool | None = None, device: str | torch.device | None = None,
              seed: int = 0) -> LoadedModel:
    """Load SAM 3 (transformers ``Sam3Model`` with its ``Sam3Processor``) for concept prompts.

    Use it with :func:`course_utils.concept.segment_concept`. The ``facebook/sam3`` repository is gated:
    a refused download raises :class:`GatedModelError`, whose message names the licence page and the token setup.
    """
    return _load_family(name, ("sam3",), "load_sam3", tiny=tiny, device=device, seed=seed)


def load_sam(name: str = "sam_vit_b", tiny: bool | None = None, device: str | torch.device | None = None,
             seed: int = 0) -> LoadedModel:
    """Load a Segment Anything model (official checkpoint, verified by sha256)."""
    return _load_family(name, ("sam",), "load_sam", tiny=tiny, device=device, seed=seed)


def model_table() -> list[dict[str, Any]]:
    """Rows for the README / doctor table of the week's models."""
    return [{"name": s.name, "family": s.family, "source": s.source, "ref": s.ref, "params_m": s.params_m,
             "download_mb": s.download_mb, "licence": s.licence, "note": s.note, "open_source": s.open_source,
             "gated": s.gated, "weight_files": list(s.weight_files), "facts_source": s.facts_source,
             "checked": s.checked} for s in REGISTRY.values()]


def to_numpy_image(tensor: torch.Tensor, mean: Any, std: Any) -> np.ndarray:
    """Undo normalisation of a (3, H, W) input tensor -> HWC uint8 RGB (for showing model inputs)."""
    mean_t = torch.as_tensor(mean, dtype=tensor.dtype).view(3, 1, 1)
    std_t = torch.as_tensor(std, dtype=tensor.dtype).view(3, 1, 1)
    img = (tensor.detach().cpu() * std_t + mean_t).clamp(0, 1)
    return (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def describe_cache() -> dict[str, Any]:
    """Summary of the cache for ``doctor``: path, total bytes and per-file sizes."""
    files = cached_files()
    return {"path": str(cache_dir()), "total_bytes": sum(s for _, s in files),
            "files": [(str(p.relative_to(cache_dir())), s) for p, s in files]}


def _load_vlm(name: str, families: tuple[str, ...], loader: str, tiny: bool | None, device: str | torch.device | None,
              seed: int, dtype: str | torch.dtype | None, load_in_8bit: bool) -> LoadedModel:
    spec = get_spec(name)
    if spec.family not in families:
        choices = [n for n, s in REGISTRY.items() if s.family in families]
        raise ValueError(f"{name!r} is a {spec.family} model; {loader} takes one of: {', '.join(choices)}.")
    if is_tiny(tiny) or (dtype is None and not load_in_8bit):
        return load_model(name, tiny=tiny, device=device, seed=seed)
    # Large models (BLIP-2, LLaVA) on a GPU: load straight into half precision or 8-bit.
    import transformers as tf

    dev = get_device(device)
    folder = _local_weight_file(spec)
    kwargs: dict[str, Any] = {}
    if load_in_8bit:
        kwargs.update(quantization_config=tf.BitsAndBytesConfig(load_in_8bit=True), device_map="auto")
    else:
        kwargs["dtype"] = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    try:
        processor = tf.AutoProcessor.from_pretrained(folder)
        model = getattr(tf, spec.arch or "AutoModel").from_pretrained(folder, weights_only=True, **kwargs)
    except Exception as exc:
        raise ChecksumError(f"{folder} could not be loaded ({exc.__class__.__name__}: {exc}). Delete it and run "
                            f"`course-utils fetch-weights {spec.name}`, or check that bitsandbytes is installed "
                            "for load_in_8bit.") from exc
    if load_in_8bit:
        model.eval()
        mark_random_weights(model, False)
        return LoadedModel(model, None, spec, False, dev, processor)
    return _finish(model, spec, False, dev, None, processor)


def load_captioner(name: str = "blip_caption_base", tiny: bool | None = None,
                   device: str | torch.device | None = None, seed: int = 0,
                   dtype: str | torch.dtype | None = None, load_in_8bit: bool = False) -> LoadedModel:
    """Load an image captioner (BLIP base on CPU; BLIP-2 / LLaVA on a GPU with ``dtype`` or 8-bit).

    Args:
        name: ``blip_caption_base``, ``blip2_opt_2.7b`` or ``llava_1.5_7b``.
        tiny: Force tiny mode (random BLIP of the same classes); ``None`` follows ``COURSE_UTILS_TINY``.
        device: Where to run; ``None`` picks cuda > mps > cpu.
        seed: Seed of the tiny random weights.
        dtype: e.g. ``"float16"`` to load large models directly in half precision (GPU).
        load_in_8bit: Load in 8-bit with bitsandbytes (GPU; ``device_map="auto"``).

    Returns:
        A :class:`LoadedModel` with ``.model`` and ``.processor``.
    """
    return _load_vlm(name, ("captioner",), "load_captioner", tiny, device, seed, dtype, load_in_8bit)


def load_vqa(name: str = "blip_vqa_base", tiny: bool | None = None, device: str | torch.device | None = None,
             seed: int = 0, dtype: str | torch.dtype | None = None, load_in_8bit: bool = False) -> LoadedModel:
    """Load a visual question answering model (``blip_vqa_base``); arguments as :func:`load_captioner`."""
    return _load_vlm(name, ("vqa",), "load_vqa", tiny, device, seed, dtype, load_in_8bit)


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(model_table(), indent=1))
