"""A small, *measured* ViT-vs-CNN data-efficiency experiment that runs on a laptop CPU.

The lecture's claim: with little data a CNN wins (its convolution is an inductive bias:
locality and translation equivariance); a ViT has to learn those from data and pays off
only with a lot of it (Dosovitskiy et al. 2021 needed ImageNet-21k / JFT-300M pre-training).
We cannot train on JFT here, but we can watch the *direction* of the effect at toy scale:
scikit-learn's 8x8 handwritten digits (1,797 images, shipped with scikit-learn, no
download), a 2-block ViT (timm ``VisionTransformer``, 4x4-pixel patches -> 2x2 grid = 4 patch
tokens + CLS) and a 2-layer CNN with fewer parameters, trained from scratch on training sets of growing size and
tested on the same held-out images. Every number comes from this run; nothing is copied.

Example:
    >>> rows = run_data_efficiency(quick=True)
    >>> fig = course_utils.viz.plot_data_efficiency(rows)   # the drawing lives in viz
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["run_data_efficiency", "summarize_data_efficiency", "MODEL_LABELS", "QUICK", "FULL"]

# quick: for tiny mode / CI (a few seconds); full: the lab's optional longer run (a few minutes on CPU)
QUICK: dict[str, Any] = {"train_sizes": (30, 100, 300, 1000), "seeds": (0,), "steps": 120}
FULL: dict[str, Any] = {"train_sizes": (25, 50, 100, 200, 400, 800, 1257), "seeds": (0, 1, 2), "steps": 500}
_TEST_FRACTION = 0.3


def _digits(split_seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits as (N, 1, 8, 8) float32 in [0, 1] with a fixed stratified 70/30 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    y = data.target.astype(np.int64)
    return tuple(train_test_split(x, y, test_size=_TEST_FRACTION, stratify=y,  # type: ignore[return-value]
                                  random_state=split_seed))


def _make_model(kind: str) -> nn.Module:
    if kind == "vit":
        from timm.models.vision_transformer import VisionTransformer

        # 8x8 image, 4x4 patches -> 2x2 grid = 4 patch tokens + CLS; 2 blocks of width 32.
        # (2x2 patches, 16 tokens, need several times more steps to train at all on CPU.)
        return VisionTransformer(img_size=8, patch_size=4, in_chans=1, num_classes=10, embed_dim=32, depth=2,
                                 num_heads=4, mlp_ratio=2.0)
    if kind == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # (B, 16, 4, 4)
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (B, 32, 2, 2)
            nn.Flatten(), nn.Linear(32 * 2 * 2, 10),
        )
    raise ValueError(f"Unknown model kind {kind!r}; use 'vit' or 'cnn'.")


def _train_eval(kind: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                steps: int, seed: int, batch_size: int = 64, lr: float = 5e-3) -> tuple[float, int, nn.Module]:
    torch.manual_seed(seed)
    model = _make_model(kind)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(xt), (min(batch_size, len(xt)),), generator=gen)
        loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x_test)).argmax(-1).numpy()
    return float((pred == y_test).mean()), int(params), model


def run_data_efficiency(train_sizes: Sequence[int] | None = None, seeds: Sequence[int] | None = None,
                        steps: int | None = None, quick: bool | None = None, models: Sequence[str] = ("vit", "cnn"),
                        progress: bool = True) -> list[dict[str, Any]]:
    """Train each model from scratch on growing subsets of digits and measure test accuracy.

    Args:
        train_sizes: Training-set sizes (at most 1257, the 70 % training split); subsets are
            stratified samples drawn with the run's seed.
        seeds: Repetitions (each seed changes the subset, the initialisation and the batches).
        steps: Optimiser steps per run (batch 64, AdamW lr 5e-3, cosine schedule); the same for every
            size, so small sets are seen for more epochs.
        quick: Use :data:`QUICK` defaults (seconds) instead of :data:`FULL` (minutes) for the
            arguments left as None; None means quick in tiny mode (``COURSE_UTILS_TINY``).
        models: Any of ``"vit"`` and ``"cnn"``.
        progress: Print one line per training-set size.

    Returns:
        One dict per run: ``model``, ``n_train``, ``seed``, ``accuracy`` (on the 540 held-out
        images), ``params``, ``steps``, ``seconds``, and ``random_weights`` (always False: these
        models are trained here, so figures of them carry no random-weights note).
    """
    from sklearn.model_selection import train_test_split

    from .tiny import enabled

    preset = QUICK if (enabled() if quick is None else quick) else FULL
    train_sizes = tuple(preset["train_sizes"] if train_sizes is None else train_sizes)
    seeds = tuple(preset["seeds"] if seeds is None else seeds)
    steps = int(preset["steps"] if steps is None else steps)
    x_pool, x_test, y_pool, y_test = _digits()
    bad = [n for n in train_sizes if not 10 <= n <= len(x_pool)]
    if bad:
        raise ValueError(f"train_sizes must lie in 10..{len(x_pool)} (the training split), got {bad}.")
    for kind in models:
        _make_model(kind)  # validate names before spending time
    rows = []
    for n in train_sizes:
        line = []
        for seed in seeds:
            if n < len(x_pool):
                x_tr, _, y_tr, _ = train_test_split(x_pool, y_pool, train_size=n, stratify=y_pool,
                                                    random_state=seed)
            else:
                x_tr, y_tr = x_pool, y_pool
            for kind in models:
                start = time.perf_counter()
                acc, params, _ = _train_eval(kind, x_tr, y_tr, x_test, y_test, steps, seed)
                rows.append({"model": kind, "n_train": int(n), "seed": int(seed), "accuracy": acc,
                             "params": params, "steps": steps, "seconds": time.perf_counter() - start,
                             "random_weights": False})
                line.append(f"{kind}={acc:.3f}")
        if progress:
            print(f"n_train={n:5d}: " + " ".join(line), flush=True)
    return rows


def summarize_data_efficiency(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    """Mean and standard deviation of accuracy over seeds.

    Returns:
        ``{model: {"n_train": (S,), "mean": (S,), "std": (S,), "runs": (S,)}}`` sorted by n_train.
    """
    out: dict[str, dict[str, np.ndarray]] = {}
    for kind in dict.fromkeys(r["model"] for r in rows):
        sizes = sorted({r["n_train"] for r in rows if r["model"] == kind})
        accs = [[r["accuracy"] for r in rows if r["model"] == kind and r["n_train"] == n] for n in sizes]
        out[kind] = {"n_train": np.array(sizes), "mean": np.array([np.mean(a) for a in accs]),
                     "std": np.array([np.std(a) for a in accs]), "runs": np.array([len(a) for a in accs])}
    return out


#: How figures name the two models.
MODEL_LABELS = {"vit": "tiny ViT (2 blocks, 4x4-px patches)", "cnn": "small CNN (2 conv layers)"}
