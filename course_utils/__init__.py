"""course_utils: the Week 4 course kit (ViT, DINO/DINOv2, SAM, multimodal benchmark).

The names a notebook needs are importable from here; everything else lives in its module
(``course_utils.attention``, ``course_utils.sam``, ``course_utils.bench``...).
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> the module that defines it. Imported on first use (PEP 562), so `import course_utils` stays
# light: torch, segment_anything and the benchmark load only when a notebook first needs them.
_EXPORTS = {
    "capture_attention": "attention",
    "load_mini_vqa": "bench", "load_run": "bench", "run_benchmark": "bench",
    "cluster_patches": "clustering", "pca_rgb": "clustering",
    "segment_concept": "concept",
    "extract_features": "features",
    "load_image": "images", "sample_image": "images", "sample_images": "images",
    "get_device": "models", "is_random": "models", "is_tiny": "models", "load_dinov2": "models",
    "load_dinov3": "models", "load_model": "models", "load_sam": "models", "load_sam3": "models",
    "load_vit": "models",
    "build_index": "retrieval", "search": "retrieval",
    "attention_rollout": "rollout",
    "SamSession": "sam", "auto_masks": "sam",
    "mark_random": "viz", "overlay_heatmap": "viz", "overlay_mask": "viz", "show_attention": "viz",
    "show_images": "viz",
    "vit_zoo_table": "zoo",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__version__ = "0.4.0"

__all__ = [
    "SamSession",
    "auto_masks",
    "load_mini_vqa",
    "load_run",
    "run_benchmark",
    "attention_rollout",
    "build_index",
    "capture_attention",
    "cluster_patches",
    "extract_features",
    "pca_rgb",
    "search",
    "show_attention",
    "vit_zoo_table",
    "get_device",
    "is_random",
    "is_tiny",
    "load_dinov2",
    "load_image",
    "load_model",
    "load_sam",
    "load_vit",
    "mark_random",
    "overlay_heatmap",
    "overlay_mask",
    "sample_image",
    "sample_images",
    "show_images",
    "load_dinov3",
    "load_sam3",
    "segment_concept",
]
