"""The registry of every model the week uses, as data: name -> source, reference, size, licence, files, gating.

Loaders (:mod:`course_utils.models.loaders`) build from a :class:`ModelSpec`; downloads
(:mod:`course_utils.models.downloads`) fetch what it names. Files, gating and licences read from each
repository (with their source and date) live in :mod:`course_utils.model_facts` and are merged in here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..model_facts import MODEL_FACTS
from ..tiny.backbones import timm_kwargs as _timm_tiny

__all__ = ["ModelSpec", "REGISTRY", "register_model", "get_spec", "model_table"]


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
        tiny_kwargs: Constructor overrides that make the tiny random variant
            (:func:`course_utils.tiny.backbones.timm_kwargs` for the timm ViTs).
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

# Files, gating and licences as read from each repository (source + date) live in course_utils/model_facts.py.
for _name, _facts in MODEL_FACTS.items():
    if _name in REGISTRY:
        register_model(replace(REGISTRY[_name], **_facts))


def get_spec(name: str) -> ModelSpec:
    """Return the registry entry for ``name`` or raise a KeyError listing the choices."""
    if name not in REGISTRY:
        raise KeyError(f"Unknown model {name!r}. Known models: {', '.join(REGISTRY)}.")
    return REGISTRY[name]


def model_table() -> list[dict[str, Any]]:
    """One row (a plain dict) per registry entry, with its facts; ``python -m course_utils.models`` prints
    them as JSON."""
    return [{"name": s.name, "family": s.family, "source": s.source, "ref": s.ref, "params_m": s.params_m,
             "download_mb": s.download_mb, "licence": s.licence, "note": s.note, "open_source": s.open_source,
             "gated": s.gated, "weight_files": list(s.weight_files), "facts_source": s.facts_source,
             "checked": s.checked} for s in REGISTRY.values()]

