"""course_utils: the Week 4 course kit (ViT, DINO/DINOv2, SAM, multimodal benchmark).

The names a notebook needs are importable from here; everything else lives in its module
(``course_utils.attention``, ``course_utils.sam``, ``course_utils.bench``...).
"""

from .attention import capture_attention
from .bench import load_mini_vqa, load_run, run_benchmark
from .clustering import cluster_patches, pca_rgb
from .concept import segment_concept
from .features import extract_features
from .images import load_image, sample_image, sample_images
from .models import (
    get_device,
    is_random,
    is_tiny,
    load_dinov2,
    load_dinov3,
    load_model,
    load_sam,
    load_sam3,
    load_vit,
)
from .retrieval import build_index, search
from .rollout import attention_rollout
from .sam import SamSession, auto_masks
from .viz import mark_random, overlay_heatmap, overlay_mask, show_attention, show_images
from .zoo import vit_zoo_table

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
