"""Reference solutions of Assignment 4, generated from the source notebook's solution cells. Do not edit.

Regenerate with ``python assignments/reference/extract.py`` after changing the notebook. Instructor
material: never copy it into ``course_utils`` or into the released notebook.
"""
# ruff: noqa: F401, I001  (the notebook's own imports, kept as the notebook has them)

import contextlib
import inspect
import math
import os
from functools import partial
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention, softmax(q k^T / sqrt(d)) v.

    Args:
        q: Queries (..., N, d).
        k: Keys (..., M, d).
        v: Values (..., M, d_v).
        mask: Optional boolean mask broadcastable to (..., N, M); True = may attend, False = masked out.

    Returns:
        (out, attn): out (..., N, d_v) and the attention weights attn (..., N, M) whose rows sum to 1.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., N, M)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    attn = scores.softmax(dim=-1)
    return attn @ v, attn


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention with timm's parameter names (``qkv``, ``proj``) and layout.

    Args:
        dim: Token dimension C.
        num_heads: Number of heads H; head_dim = C // H.
        qkv_bias: Whether the ``qkv`` projection has a bias.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"dim={dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, N, C)."""
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, H, N, head_dim)
        out, _ = scaled_dot_product_attention(q, k, v)  # (B, H, N, head_dim)
        out = out.transpose(1, 2).reshape(B, N, C)
        return self.proj(out)


class PatchEmbed(nn.Module):
    """Image to patch tokens with a strided convolution (timm's ``PatchEmbed``).

    Args:
        img_size: Input height = width in pixels.
        patch_size: Patch side in pixels.
        in_chans: Input channels.
        embed_dim: Token dimension.
    """

    def __init__(self, img_size: int = 224, patch_size: int = 16, in_chans: int = 3, embed_dim: int = 768) -> None:
        super().__init__()
        self.img_size = img_size
        self.patch_size = patch_size
        self.grid_size = (img_size // patch_size, img_size // patch_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, num_patches, embed_dim)."""
        x = self.proj(x)  # (B, D, h, w)
        return x.flatten(2).transpose(1, 2)


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2 (timm's ``Mlp`` without dropout)."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer encoder block with timm's parameter names.

    Args:
        dim: Token dimension.
        num_heads: Attention heads.
        mlp_ratio: Hidden width of the MLP as a multiple of ``dim``.
        qkv_bias: Whether the attention's ``qkv`` projection has a bias.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MultiHeadSelfAttention(dim, num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, N, C)."""
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class VisionTransformer(nn.Module):
    """ViT classifier with a class token; parameter names follow timm so a timm state dict loads.

    Args:
        img_size: Input height = width in pixels.
        patch_size: Patch side in pixels.
        in_chans: Input channels.
        num_classes: Classes of the linear head (0: no head, ``forward`` returns the CLS feature).
        embed_dim: Token dimension D.
        depth: Number of blocks.
        num_heads: Attention heads per block.
        mlp_ratio: MLP hidden width as a multiple of D.
    """

    def __init__(self, img_size: int = 224, patch_size: int = 16, in_chans: int = 3, num_classes: int = 1000,
                 embed_dim: int = 768, depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.embed_dim = embed_dim
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        num_patches = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, num_patches + 1, embed_dim))
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads, mlp_ratio, qkv_bias=True) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> normalised tokens (B, 1 + num_patches, D), CLS first."""
        x = self.patch_embed(x)  # (B, N, D)
        cls = self.cls_token.expand(x.shape[0], -1, -1)  # (B, 1, D)
        x = torch.cat([cls, x], dim=1) + self.pos_embed
        x = self.blocks(x)
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> logits (B, num_classes)."""
        return self.head(self.forward_features(x)[:, 0])


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (``requires_grad``), each shared parameter counted once."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def dino_loss(student_out: torch.Tensor, teacher_out: torch.Tensor, center: torch.Tensor, n_global: int = 2,
              student_temp: float = 0.1, teacher_temp: float = 0.04) -> torch.Tensor:
    """DINO's cross-view distillation loss with a centred, sharpened teacher.

    Args:
        student_out: Student scores (n_crops * B, K), stacked view by view; the first ``n_global`` views are global.
        teacher_out: Teacher scores (n_global * B, K) for the global views, same view order.
        center: Running centre of the teacher scores (1, K).
        n_global: Number of global views.
        student_temp: Student softmax temperature.
        teacher_temp: Teacher softmax temperature (sharpening).

    Returns:
        Scalar loss averaged over images and over all (teacher view, student view) pairs with different views.
    """
    batch = teacher_out.shape[0] // n_global
    n_crops = student_out.shape[0] // batch
    student_logp = F.log_softmax(student_out / student_temp, dim=-1).chunk(n_crops)
    teacher_p = F.softmax((teacher_out - center) / teacher_temp, dim=-1).detach().chunk(n_global)
    total, n_pairs = student_out.new_zeros(()), 0
    for i, p_t in enumerate(teacher_p):
        for v, logp_s in enumerate(student_logp):
            if v == i:
                continue
            total = total + (-(p_t * logp_s).sum(dim=-1)).mean()
            n_pairs += 1
    return total / n_pairs


def update_center(center: torch.Tensor, teacher_out: torch.Tensor, momentum: float = 0.9) -> torch.Tensor:
    """EMA of the teacher's batch mean: returns a new (1, K) centre without gradient history."""
    batch_center = teacher_out.detach().mean(dim=0, keepdim=True)
    return center * momentum + batch_center * (1 - momentum)


def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """In-place EMA of the student's parameters into the teacher's (no gradients)."""
    with torch.no_grad():
        for p_t, p_s in zip(teacher.parameters(), student.parameters()):
            p_t.mul_(momentum).add_(p_s.detach(), alpha=1 - momentum)


def weighted_knn_predict(train_feats: torch.Tensor, train_labels: torch.Tensor, test_feats: torch.Tensor,
                         k: int = 20, T: float = 0.07, num_classes: int | None = None) -> torch.Tensor:
    """DINO's weighted k-NN classifier on cosine similarity.

    Args:
        train_feats: (N, D) features of the labelled set.
        train_labels: (N,) integer labels.
        test_feats: (M, D) features to classify.
        k: Number of neighbours (all N when N < k).
        T: Temperature of the vote weights exp(sim / T).
        num_classes: Number of classes; ``None`` means ``train_labels.max() + 1``.

    Returns:
        (M,) ``torch.long`` predicted labels.
    """
    train_feats = F.normalize(torch.as_tensor(train_feats, dtype=torch.float32), dim=1)
    test_feats = F.normalize(torch.as_tensor(test_feats, dtype=torch.float32), dim=1)
    train_labels = torch.as_tensor(train_labels).long()
    if num_classes is None:
        num_classes = int(train_labels.max()) + 1
    sim = test_feats @ train_feats.T  # (M, N)
    top_sim, top_idx = sim.topk(min(k, sim.shape[1]), dim=1)  # (M, k)
    weights = (top_sim / T).exp()
    votes = torch.zeros(sim.shape[0], num_classes)
    votes.scatter_add_(1, train_labels[top_idx], weights)
    return votes.argmax(dim=1)


def recall_at_k(query_labels, db_labels, ranked_indices, k: int) -> float:
    """Fraction of queries with at least one same-label database item among their top-k ranked items."""
    query_labels = np.asarray(query_labels)
    db_labels = np.asarray(db_labels)
    top = np.asarray(ranked_indices)[:, :k]
    hits = (db_labels[top] == query_labels[:, None]).any(axis=1)
    return float(hits.mean())


def clicks_to_prompt(clicks, display_size: tuple[int, int], image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Convert UI clicks to SamPredictor point prompts.

    Args:
        clicks: Sequence of (x, y, is_positive) in display pixels.
        display_size: (width, height) of the displayed image.
        image_size: (width, height) of the original image given to ``SamPredictor.set_image``.

    Returns:
        coords: float32 (N, 2) of (x, y) in original-image pixels.
        labels: int (N,), 1 for positive (foreground) clicks, 0 for negative (background) ones.
    """
    (display_w, display_h), (image_w, image_h) = display_size, image_size
    clicks = list(clicks)
    if not clicks:
        return np.zeros((0, 2), dtype=np.float32), np.zeros((0,), dtype=np.int64)
    xy = np.array([(x, y) for x, y, _ in clicks], dtype=np.float64)
    coords = xy * np.array([image_w / display_w, image_h / display_h])
    labels = np.array([1 if positive else 0 for _, _, positive in clicks], dtype=np.int64)
    return coords.astype(np.float32), labels


def mask_to_box(mask: np.ndarray) -> np.ndarray:
    """Tight XYXY box (inclusive max coordinates) around a boolean HxW mask; raises ValueError when empty."""
    mask = np.asarray(mask, dtype=bool)
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise ValueError("mask is empty: no box")
    return np.array([cols.min(), rows.min(), cols.max(), rows.max()], dtype=np.int64)


def stability_score(mask_logits: torch.Tensor, threshold: float = 0.0, offset: float = 1.0) -> torch.Tensor:
    """IoU between the masks thresholded at threshold + offset and threshold - offset, per mask (...)."""
    mask_logits = torch.as_tensor(mask_logits)
    inner = (mask_logits > threshold + offset).sum(dim=(-2, -1))
    outer = (mask_logits > threshold - offset).sum(dim=(-2, -1))
    return inner.float() / outer.float()


def cluster_centroid_points(labels: np.ndarray, image_size: tuple[int, int]) -> dict[int, tuple[float, float]]:
    """One (x, y) point prompt in image pixels per patch cluster: the centre of the cluster's patch nearest its centroid.

    Args:
        labels: (h, w) integer cluster id per patch.
        image_size: (width, height) of the image in pixels.

    Returns:
        {label: (x, y)} for every label present in ``labels``.
    """
    labels = np.asarray(labels)
    grid_h, grid_w = labels.shape
    width, height = image_size
    points = {}
    for label in np.unique(labels):
        rows, cols = np.nonzero(labels == label)
        cy, cx = rows.mean(), cols.mean()
        i = int(np.argmin((rows - cy) ** 2 + (cols - cx) ** 2))
        points[int(label)] = ((cols[i] + 0.5) * width / grid_w, (rows[i] + 0.5) * height / grid_h)
    return points


def pareto_front(results: list[dict], x: str = "cost_per_1k", y: str = "accuracy") -> list[str]:
    """Names of the models not dominated by another one (lower ``x`` and higher ``y`` are better), sorted by ``x``."""
    rows = list(results)
    front = []
    for row in rows:
        dominated = any(
            other[x] <= row[x] and other[y] >= row[y] and (other[x] < row[x] or other[y] > row[y])
            for other in rows
        )
        if not dominated:
            front.append(row)
    return [row["model"] for row in sorted(front, key=lambda r: r[x])]


def select_model(results: list[dict], max_cost_per_1k: float | None = None, max_p95_latency_s: float | None = None,
                 min_accuracy: float | None = None, require_open_source: bool = False) -> str | None:
    """The lecture's decision tree: filter by the constraints, then the most accurate, then the cheapest model."""
    candidates = [
        row for row in results
        if (max_cost_per_1k is None or row["cost_per_1k"] <= max_cost_per_1k)
        and (max_p95_latency_s is None or row["p95_latency_s"] <= max_p95_latency_s)
        and (min_accuracy is None or row["accuracy"] >= min_accuracy)
        and (not require_open_source or row["open_source"])
    ]
    if not candidates:
        return None
    best = min(candidates, key=lambda row: (-row["accuracy"], row["cost_per_1k"]))
    return best["model"]
