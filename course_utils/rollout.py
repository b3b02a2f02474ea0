"""Attention rollout (Abnar & Zuidema, "Quantifying Attention Flow in Transformers", ACL 2020).

A single block's attention says which tokens a token reads *in that block*; but information
also flows through the residual connection and across blocks. Rollout approximates the flow
from the input tokens to the last block:

    A_l   = fuse_heads(attn_l)                      # (B, N, N), mean / max / min over heads
    A_l   = discard(A_l, discard_ratio)             # optional: zero the weakest weights
    A_l   = 0.5 * A_l + 0.5 * I                     # the residual connection
    A_l   = A_l / A_l.sum(-1, keepdim=True)         # rows sum to 1 again
    R     = A_L @ ... @ A_2 @ A_1                   # first block applied first

``R[b, 0, p:]`` (the CLS row over the patch columns) is the rollout map that is drawn over the
image. The ``keepdim=True`` matters: several popular notebooks divide by ``A.sum(dim=-1)``
without it, which broadcasts the row sums along the wrong axis (it divides column j by the sum
of row j) and silently gives a matrix whose rows no longer sum to 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["attention_rollout", "rollout_map"]

_FUSIONS = ("mean", "max", "min")


def _fuse_heads(attn: torch.Tensor, head_fusion: str) -> torch.Tensor:
    if head_fusion == "mean":
        return attn.mean(dim=2)
    if head_fusion == "max":
        return attn.amax(dim=2)
    return attn.amin(dim=2)


def _discard(fused: torch.Tensor, discard_ratio: float, num_prefix_tokens: int) -> torch.Tensor:
    """Zero the lowest ``discard_ratio`` share of each (sample, layer) matrix, sparing the prefix
    tokens' own entries (i, i), i < num_prefix_tokens."""
    b, n_layers, n, _ = fused.shape
    flat = fused.reshape(b, n_layers, n * n).clone()
    protected = torch.zeros(n * n, dtype=torch.bool, device=fused.device)
    p = min(num_prefix_tokens, n)
    protected[torch.arange(p, device=fused.device) * (n + 1)] = True
    k = int(discard_ratio * (n * n - p))
    if k == 0:
        return fused
    ranking = flat.masked_fill(protected, float("inf"))  # protected entries are never among the lowest
    total = n * n
    if k <= total // 2:
        lowest = ranking.topk(k, dim=-1, largest=False).indices  # (B, L, k)
        flat.scatter_(-1, lowest, 0.0)
    else:  # cheaper to find the entries that survive (ties are broken arbitrarily either way)
        kept = ranking.topk(total - k, dim=-1, largest=True).indices  # (B, L, total - k)
        keep = torch.zeros_like(flat, dtype=torch.bool).scatter_(-1, kept, True)
        flat.masked_fill_(~keep, 0.0)
    return flat.reshape(b, n_layers, n, n)


def attention_rollout(attn: torch.Tensor | Any, head_fusion: str = "mean", discard_ratio: float = 0.0,
                      num_prefix_tokens: int = 1) -> torch.Tensor:
    """Attention rollout over all layers.

    Args:
        attn: Attention weights (L, H, N, N) or (B, L, H, N, N) (e.g. ``AttentionMaps.attn``), or
            an :class:`~course_utils.attention.AttentionMaps` (its ``num_prefix_tokens`` is used).
        head_fusion: How to merge heads: ``"mean"``, ``"max"`` or ``"min"``.
        discard_ratio: Share in [0, 1) of each layer's fused weights set to zero, lowest first
            (the prefix tokens' own entries (i, i), i < num_prefix_tokens, are never dropped).
            The count is ``int(discard_ratio * (N*N - num_prefix_tokens))`` per sample and layer.
        num_prefix_tokens: CLS + register tokens at the start of the sequence.

    Returns:
        (B, N, N) float tensor R = A_L ... A_1 whose rows sum to 1; ``R[b, 0, num_prefix_tokens:]``
        is the CLS rollout over the patches.

    Raises:
        ValueError: wrong shape, unknown ``head_fusion`` or ``discard_ratio`` outside [0, 1).
    """
    if hasattr(attn, "attn") and hasattr(attn, "num_prefix_tokens"):
        num_prefix_tokens = attn.num_prefix_tokens
        attn = attn.attn
    attn = torch.as_tensor(attn)
    if attn.ndim == 4:
        attn = attn[None]
    if attn.ndim != 5 or attn.shape[-1] != attn.shape[-2]:
        raise ValueError(f"attn must have shape (L, H, N, N) or (B, L, H, N, N), got {tuple(attn.shape)}.")
    if head_fusion not in _FUSIONS:
        raise ValueError(f"head_fusion must be one of {_FUSIONS}, not {head_fusion!r}.")
    if not 0.0 <= discard_ratio < 1.0:
        raise ValueError(f"discard_ratio must be in [0, 1), got {discard_ratio}.")
    attn = attn.float()
    fused = _fuse_heads(attn, head_fusion)  # (B, L, N, N)
    if discard_ratio > 0:
        fused = _discard(fused, discard_ratio, num_prefix_tokens)
    a = fused.mul(0.5)  # 0.5 * A + 0.5 * I, without building I
    a.diagonal(dim1=-2, dim2=-1).add_(0.5)
    a.div_(a.sum(dim=-1, keepdim=True))  # renormalise rows (keepdim!)
    result = a[:, 0]
    for layer in range(1, a.shape[1]):  # first block first: R_l = A_l @ R_{l-1}
        result = a[:, layer] @ result
    return result.contiguous()


def rollout_map(maps: Any, head_fusion: str = "mean", discard_ratio: float = 0.0, query: int = 0,
                batch: int = 0) -> np.ndarray:
    """Rollout of an :class:`~course_utils.attention.AttentionMaps` as a (h, w) patch map.

    Args:
        maps: The captured attention (``capture_attention(model, x)``).
        head_fusion: ``"mean"``, ``"max"`` or ``"min"``.
        discard_ratio: See :func:`attention_rollout`.
        query: Row of the rollout to show: 0 is CLS, 1.. the register tokens.
        batch: Which image of the batch.

    Returns:
        (h, w) float32 numpy map (the patch columns of row ``query``; not renormalised).
    """
    if not (hasattr(maps, "attn") and hasattr(maps, "to_grid")):
        raise TypeError("rollout_map takes the AttentionMaps returned by capture_attention(model, x); for a "
                        "bare tensor use attention_rollout(attn).")
    result = attention_rollout(maps.attn[batch:batch + 1], head_fusion, discard_ratio, maps.num_prefix_tokens)
    return maps.to_grid(result[0, query, maps.num_prefix_tokens:])
