"""Time to a first mask (image encoder + one point prompt) of the kit's SAM candidates, on this machine.

Used by ``benchmarks/bench_sam_cpu.py`` and by lab 4-3's speed comparison. Speed does not depend on the
weights, so full-size *random* models (``full_size=True``) give the real timing without a download;
tiny models (``full_size=False``) only show that the code path works.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import numpy as np
import torch

from .models import REGISTRY, _finish, build_sam_architecture, load_sam
from .sam import SamSession

__all__ = ["CANDIDATES", "build_session", "time_to_first_mask", "compare"]

#: The candidates compared: SAM ViT-B (segment-anything) and the two transformers SAM 2 models.
CANDIDATES = ("sam_vit_b", "sam2.1_hiera_tiny", "edgetam")


def build_session(name: str, full_size: bool = True, seed: int = 0, channels_last: bool = False) -> SamSession:
    """A CPU :class:`~course_utils.sam.SamSession` without embedding cache (so every ``set_image`` runs
    the encoder) on a random model of ``name``'s architecture, full size or tiny."""
    from .sam2_models import build_sam2, load_sam2_image, processor_for
    from .sam_hf import attach_predictor

    spec = REGISTRY[name]
    if spec.family == "sam":
        if full_size:
            torch.manual_seed(seed)
            loaded = _finish(build_sam_architecture(spec.arch or "vit_b"), spec, True, torch.device("cpu"), None)
        else:
            loaded = load_sam(name, tiny=True, device="cpu", seed=seed)
    elif full_size:
        model = build_sam2(name, "image", tiny=False, seed=seed)
        loaded = attach_predictor(_finish(model, spec, True, torch.device("cpu"), None, processor_for("image")))
    else:
        loaded = load_sam2_image(name, tiny=True, device="cpu", seed=seed)
    if channels_last:
        loaded.model.to(memory_format=torch.channels_last)
    return SamSession(loaded, cache=False)


def time_to_first_mask(session: SamSession, image: np.ndarray, point: tuple[float, float] | None = None,
                       bf16: bool = False) -> tuple[float, np.ndarray]:
    """Seconds for ``set_image`` + one point ``predict`` on a new image, and the best mask.

    Args:
        session: From :func:`build_session` (no cache).
        image: HWC uint8 RGB.
        point: (x, y) pixel prompt; ``None`` = the image centre.
        bf16: Run under CPU autocast to bfloat16 (useful only where the CPU has bf16 instructions).
    """
    point = point or (image.shape[1] / 2, image.shape[0] / 2)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    session.reset_image()
    start = time.perf_counter()
    with ctx, torch.inference_mode():
        session.set_image(image)
        pred = session.predict(points=[point], labels=[1])
    return time.perf_counter() - start, pred.masks[pred.best]


def compare(image: np.ndarray, names: tuple[str, ...] = CANDIDATES, full_size: bool = True,
            repeats: int = 2) -> list[dict[str, Any]]:
    """Time to first mask of each candidate (best of ``repeats`` after one warm-up run) and its ratio to
    the first candidate (SAM ViT-B). Returns one row per model."""
    rows: list[dict[str, Any]] = []
    for name in names:
        session = build_session(name, full_size=full_size)
        n = sum(p.numel() for p in session.model.parameters())
        time_to_first_mask(session, image)  # warm-up: allocator, kernels
        best = min(time_to_first_mask(session, image)[0] for _ in range(repeats))
        rows.append({"model": name, "params_m": n / 1e6, "seconds": best})
        del session
    base = rows[0]["seconds"]
    for row in rows:
        row["ratio_to_first"] = row["seconds"] / base
        row["speedup"] = base / row["seconds"]
    return rows

