"""What each registry model's repository holds, its gating and its licence: read, with source and date.

Facts about the outside world live here as data (one dict per registry name) and are merged into
:data:`course_utils.models.REGISTRY` by :mod:`course_utils.models.registry`. Each entry records:

- ``weight_files``: the weight files the repository's main branch holds (the loader downloads
  safetensors when there are any, else ``pytorch_model*.bin``, loaded with ``weights_only=True``);
- ``gated``: whether the hub page asks for an access form before download;
- ``licence`` / ``licence_note``: the licence the model card states, and the terms of parts that
  come with their own licence (BLIP-2's OPT language model, LLaVA's Llama 2 base);
- ``open_source``: True only when every part of the weights is under an OSI-approved licence
  (the benchmark's "open source" flag and the slides' wording follow it);
- ``facts_source`` and ``checked``: the page(s) read and the date (``"unverified"`` when not read).

Pages were read through a stored copy of huggingface.co; "read 2026-12-01" is the date we read them
(the pages show only relative dates such as "9 months ago").
"""

from __future__ import annotations

from typing import Any

__all__ = ["MODEL_FACTS", "UNVERIFIED"]

UNVERIFIED = "unverified"
_READ = "2026-12-01"
_HF = "https://huggingface.co/"
_APACHE = "Apache-2.0"
_TIMM_FILES = ("model.safetensors", "pytorch_model.bin")


def _timm(repo: str, checked: str = _READ, note: str = "") -> dict[str, Any]:
    return {"weight_files": _TIMM_FILES, "gated": False, "licence": _APACHE, "open_source": True,
            "facts_source": f"{_HF}timm/{repo}/tree/main (file list, licence tag)", "checked": checked,
            "licence_note": note}


MODEL_FACTS: dict[str, dict[str, Any]] = {
    "vit_tiny": _timm("vit_tiny_patch16_224.augreg_in21k_ft_in1k"),
    # The Small and Large AugReg repos themselves were not read; their siblings (Tiny, Base, the
    # in21k-only Large) hold model.safetensors + pytorch_model.bin under Apache-2.0.
    "vit_small": _timm("vit_small_patch16_224.augreg_in21k_ft_in1k", checked=UNVERIFIED),
    "vit_base": _timm("vit_base_patch16_224.augreg2_in21k_ft_in1k"),
    "vit_large": _timm("vit_large_patch16_224.augreg_in21k_ft_in1k", checked=UNVERIFIED),
    "vit_huge": _timm("vit_huge_patch14_224.orig_in21k"),
    "deit_small": _timm("deit_small_patch16_224.fb_in1k"),
    "dino_vits16": _timm("vit_small_patch16_224.dino"),
    "dinov2_vits14": _timm("vit_small_patch14_dinov2.lvd142m"),
    "dinov2_vits14_reg": _timm("vit_small_patch14_reg4_dinov2.lvd142m"),
    "dinov2_vitb14": _timm("vit_base_patch14_dinov2.lvd142m"),
    "vit_base_hf": {
        "weight_files": ("model.safetensors", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack"),
        "gated": False, "licence": _APACHE, "open_source": True, "licence_note": "",
        "facts_source": f"{_HF}google/vit-base-patch16-224/tree/main", "checked": _READ},
    "dinov2_small_hf": {
        "weight_files": ("model.safetensors", "pytorch_model.bin"), "gated": False, "licence": _APACHE,
        "open_source": True, "facts_source": f"{_HF}facebook/dinov2-small/tree/main", "checked": _READ,
        "licence_note": "The card's licence was changed from CC-BY-NC-4.0 to Apache-2.0 in Sep 2023 "
                        "(commit ed25f3a)."},
    "sam_vit_b": {"weight_files": ("sam_vit_b_01ec64.pth",), "gated": False, "licence": _APACHE,
                  "open_source": True, "licence_note": "",
                  "facts_source": "https://github.com/facebookresearch/segment-anything/blob/main/LICENSE",
                  "checked": _READ},
    "blip_caption_base": {
        # The main branch has NO safetensors (a conversion exists only as open PRs refs/pr/7, /38).
        "weight_files": ("pytorch_model.bin", "tf_model.h5"), "gated": False, "licence": "BSD-3-Clause",
        "open_source": True, "licence_note": "",
        "facts_source": f"{_HF}Salesforce/blip-image-captioning-base/tree/main", "checked": _READ},
    "blip_vqa_base": {
        "weight_files": ("model.safetensors", "pytorch_model.bin", "tf_model.h5"), "gated": False,
        "licence": "BSD-3-Clause", "open_source": True, "licence_note": "",
        "facts_source": f"{_HF}Salesforce/blip-vqa-base/tree/main", "checked": _READ},
    "blip2_opt_2.7b": {
        "weight_files": ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                         "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"),
        "gated": False, "licence": "MIT (card); OPT-2.7B part: OPT licence (non-commercial)",
        "open_source": False,
        "licence_note": "The card says MIT, but the weights contain the OPT-2.7B language model, whose "
                        "card (facebook/opt-2.7b) states licence 'other' (Meta's OPT licence, research "
                        "and non-commercial use); those terms follow the weights.",
        "facts_source": f"{_HF}Salesforce/blip2-opt-2.7b/tree/main; {_HF}facebook/opt-2.7b",
        "checked": _READ},
    "llava_1.5_7b": {
        "weight_files": ("model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                         "model-00003-of-00003.safetensors"),
        "gated": False, "licence": "Llama 2 Community Licence", "open_source": False,
        "licence_note": "The card states 'llama2': the language model is Vicuna, fine-tuned from Llama 2, "
                        "so Meta's Llama 2 Community Licence (use restrictions, not OSI open source) "
                        "follows the weights. Not gated on the llava-hf page.",
        "facts_source": f"{_HF}llava-hf/llava-1.5-7b-hf/tree/main", "checked": _READ},
}
# SAM ViT-L and ViT-H: same repository and licence file as ViT-B.
MODEL_FACTS["sam_vit_l"] = {**MODEL_FACTS["sam_vit_b"], "weight_files": ("sam_vit_l_0b3195.pth",)}
MODEL_FACTS["sam_vit_h"] = {**MODEL_FACTS["sam_vit_b"], "weight_files": ("sam_vit_h_4b8939.pth",)}
# DINOv3 (timm copies of Meta's weights) and SAM 3: both under Meta's own licences, not OSI open source.
# Whether the timm copies are gated could not be read (the official facebook/dinov3-* repos are); a refused
# download of either explains how to accept the licence (course_utils.gated).
_DINOV3_NOTE = ("DINOv3 License (Meta's own terms, not an OSI licence); gating not verified for the timm copy "
                "(the official facebook/dinov3-* repositories are gated)")
MODEL_FACTS["dinov3_vits16"] = {
    "weight_files": ("model.safetensors",), "gated": None, "licence": "DINOv3 License", "open_source": False,
    "licence_note": _DINOV3_NOTE, "checked": _READ,
    "facts_source": f"{_HF}timm/vit_small_patch16_dinov3.lvd1689m (model card and file list)"}
MODEL_FACTS["dinov3_vitb16"] = {
    **MODEL_FACTS["dinov3_vits16"],
    "facts_source": f"{_HF}timm/vit_base_patch16_dinov3.lvd1689m (model card and file list)"}
MODEL_FACTS["sam3"] = {
    # The file names were not read on facebook/sam3 itself: a third-party ungated mirror's README
    # (AEmotionStudio/sam3, read 2026-12-01) says the repository holds transformers-format safetensors
    # next to the official sam3.pt checkpoint.
    "weight_files": ("model.safetensors", "sam3.pt"), "gated": True, "licence": "SAM License",
    "open_source": False, "checked": UNVERIFIED,
    "licence_note": "SAM License (Meta's own terms: use restrictions, not an OSI licence); gated on the Hub "
                    "(accept the licence on the model page, then log in with a token)",
    "facts_source": f"{_HF}api/models/facebook/sam3 (gated: manual); file names from the "
                    "AEmotionStudio/sam3 mirror's README (unverified)"}
# SAM 2.1 and EdgeTAM through transformers (course_utils.sam2_models). Licence and gating were read on the
# model pages (facebook/sam2.1-hiera-tiny; EdgeTAM through the t3ta/EdgeTAM-hf mirror card of
# yonigozlan/EdgeTAM-hf); the weight file names of these repositories were not read, so they are marked unverified.
_SAM2_NOTE = "weight file names not read (transformers-format safetensors assumed next to the official .pt)"
MODEL_FACTS["sam2.1_hiera_tiny"] = {
    "weight_files": ("model.safetensors", "sam2.1_hiera_tiny.pt"), "gated": False, "licence": _APACHE,
    "open_source": True, "licence_note": _SAM2_NOTE, "checked": UNVERIFIED,
    "facts_source": f"{_HF}facebook/sam2.1-hiera-tiny (licence, processor_config.json; read 2026-12-01)"}
MODEL_FACTS["sam2.1_hiera_small"] = {
    **MODEL_FACTS["sam2.1_hiera_tiny"], "weight_files": ("model.safetensors", "sam2.1_hiera_small.pt"),
    "facts_source": f"{_HF}facebook/sam2.1-hiera-small (licence; read 2026-12-01)"}
MODEL_FACTS["edgetam"] = {
    "weight_files": ("model.safetensors",), "gated": False, "licence": _APACHE, "open_source": True,
    "licence_note": "weight file name not read; facebook/EdgeTAM had transformers weights only on refs/pr/1",
    "checked": UNVERIFIED,
    "facts_source": f"{_HF}t3ta/EdgeTAM-hf (mirror card of yonigozlan/EdgeTAM-hf; read 2026-12-01)"}
