"""Capture the attention weights of every block of a Vision Transformer.

Works for timm ``VisionTransformer`` models (ViT, DeiT, DINO v1, DINOv2 with and without
register tokens), timm's DINOv3 (``Eva`` blocks with rotary position embeddings: the rotation is
applied to the hooked q and k exactly as the block does) and Hugging Face ``ViT*`` / ``Dinov2*`` models, whatever attention kernel
they run. Fused kernels (``F.scaled_dot_product_attention``, timm's ``fused_attn=True``,
transformers' ``attn_implementation="sdpa"``) never materialise the attention matrix, so
instead of switching them off we hook the query and key of each block and recompute

    A = softmax(Q K^T / sqrt(d))        # (B, H, N, N) per block

next to the model's own computation. Nothing in the model is modified: the hooks are
removed when the forward pass ends (also on error) and the model's output is the one it
would have produced anyway. Attention dropout is not applied (use the model in eval mode).

Example:
    >>> model, preprocess = load_vit("vit_base")
    >>> maps = capture_attention(model, preprocess(sample_image("chelsea"))[None])
    >>> maps.attn.shape                    # (B, L, H, N, N) = (1, 12, 12, 197, 197)
    >>> heat = maps.patch_map(layer=-1)     # (14, 14) CLS -> patch attention, mean of heads
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .tiny import SHORT_NOTE
from .vit_introspect import is_hf, token_layout, unwrap

__all__ = ["AttentionMaps", "capture_attention", "attention_blocks"]


@dataclass
class AttentionMaps:
    """Attention weights of every block for one batch.

    Attributes:
        attn: Softmax weights, float32 tensor of shape (B, L, H, N, N): batch, layer (block),
            head, query token, key token. Rows (last dim) sum to 1.
        num_prefix_tokens: Tokens before the patches: 1 (CLS) + register tokens (DINOv2-reg: 5).
        grid: Patch grid (h, w); N == num_prefix_tokens + h * w.
        output: What the model returned for the batch (logits, features or an HF output object).
        random_weights: True when the model was a tiny random one (figures then say so).
    """

    attn: torch.Tensor
    num_prefix_tokens: int
    grid: tuple[int, int]
    output: Any = None
    random_weights: bool = False

    @property
    def num_layers(self) -> int:
        return int(self.attn.shape[1])

    @property
    def num_heads(self) -> int:
        return int(self.attn.shape[2])

    @property
    def num_tokens(self) -> int:
        return int(self.attn.shape[-1])

    @property
    def num_registers(self) -> int:
        """Register tokens (prefix tokens other than CLS)."""
        return max(0, self.num_prefix_tokens - 1)

    def _layer_index(self, layer: int) -> int:
        if not isinstance(layer, (int, np.integer)) or isinstance(layer, bool):
            raise TypeError(f"layer must be an int (0-based, negative counts from the end), not {layer!r}.")
        if not -self.num_layers <= layer < self.num_layers:
            raise IndexError(f"layer {layer} is out of range: this model has {self.num_layers} blocks, "
                             f"use 0..{self.num_layers - 1} (0-based; 'layer 1' of a slide is index 0) "
                             "or -1 for the last.")
        return int(layer) % self.num_layers

    def _head_index(self, head: int | None) -> int | None:
        if head is None:
            return None
        if not isinstance(head, (int, np.integer)) or isinstance(head, bool):
            raise TypeError(f"head must be an int or None (mean of all heads), not {head!r}.")
        if not -self.num_heads <= head < self.num_heads:
            raise IndexError(f"head {head} is out of range: each block has {self.num_heads} heads "
                             f"(0..{self.num_heads - 1}); pass head=None for their mean.")
        return int(head) % self.num_heads

    def layer(self, layer: int) -> torch.Tensor:
        """Weights of one block, (B, H, N, N); ``layer`` is 0-based, negative counts from the end."""
        return self.attn[:, self._layer_index(layer)]

    def to_grid(self, values: torch.Tensor | np.ndarray) -> np.ndarray:
        """Reshape per-patch values (..., h*w) to (..., h, w) numpy float32."""
        values = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
        h, w = self.grid
        if values.shape[-1] != h * w:
            raise ValueError(f"Expected {h * w} patch values (grid {h}x{w}), got {values.shape[-1]}.")
        return values.reshape(*values.shape[:-1], h, w).astype(np.float32)

    def patch_map(self, layer: int = -1, head: int | None = None, query: int = 0, batch: int = 0) -> np.ndarray:
        """Attention from one query token to every patch, as a (h, w) map.

        Args:
            layer: Block index, 0-based (negative counts from the end).
            head: Head index, or None for the mean over heads.
            query: Query token: 0 is CLS, 1..num_registers the register tokens; a larger index
                is a patch token (``num_prefix_tokens + row * w + col``).
            batch: Which image of the batch.

        Returns:
            (h, w) float32 numpy array of weights (prefix-token columns left out, not renormalised).
        """
        a = self.layer(layer)[batch]  # (H, N, N)
        if not -self.num_tokens <= query < self.num_tokens:
            raise IndexError(f"query token {query} is out of range (N={self.num_tokens}).")
        h = self._head_index(head)
        row = a[:, query, self.num_prefix_tokens:]  # (H, h*w)
        row = row.mean(0) if h is None else row[h]
        return self.to_grid(row)

    def head_maps(self, layer: int = -1, query: int = 0, batch: int = 0) -> np.ndarray:
        """All heads of one block at once: (H, h, w) maps of ``query``-to-patch attention."""
        a = self.layer(layer)[batch]
        return self.to_grid(a[:, query, self.num_prefix_tokens:])

    def prefix_share(self, layer: int = -1, batch: int = 0) -> np.ndarray:
        """Share of each patch's attention that goes to the prefix tokens (CLS + registers).

        Returns:
            (h, w) map, mean over heads: sum over the prefix columns of the patch rows.
        """
        a = self.layer(layer)[batch].mean(0)  # (N, N)
        p = self.num_prefix_tokens
        return self.to_grid(a[p:, :p].sum(-1))

    def rollout_map(self, head_fusion: str = "mean", discard_ratio: float = 0.0, query: int = 0,
                    batch: int = 0) -> np.ndarray:
        """Attention rollout through all blocks as a (h, w) map (:func:`course_utils.rollout.rollout_map`)."""
        from .rollout import rollout_map

        return rollout_map(self, head_fusion=head_fusion, discard_ratio=discard_ratio, query=query, batch=batch)

    def __repr__(self) -> str:
        b, n_layers, n_heads, n, _ = self.attn.shape
        note = f", {SHORT_NOTE}" if self.random_weights else ""
        return (f"AttentionMaps(attn=(B={b}, L={n_layers}, H={n_heads}, N={n}, N={n}), "
                f"num_prefix_tokens={self.num_prefix_tokens}, grid={self.grid}{note})")


# --------------------------------------------------------------------------- model adapters


@dataclass
class _Site:
    """Where to read q and k in one block and how to turn them into (B, H, N, d)."""

    q_module: nn.Module
    k_module: nn.Module
    num_heads: int
    scale: float
    split_heads: bool  # HF projections give (B, N, H*d); timm q_norm/k_norm give (B, H, N, d)
    rope_module: nn.Module | None = None  # timm Eva/DINOv3: RoPE is applied to q, k after q_norm/k_norm
    rope_prefix: int = 0  # tokens RoPE leaves alone (CLS + registers)
    rotate_half: bool = False  # the RoPE layout (DINOv3: half rotation)


def _timm_sites(model: nn.Module) -> list[_Site]:
    sites = []
    for i, block in enumerate(model.blocks):
        attn = getattr(block, "attn", None)
        needed = ("qkv", "q_norm", "k_norm", "num_heads", "scale")
        if attn is None or not all(hasattr(attn, a) for a in needed):
            raise TypeError(f"Block {i} of {type(model).__name__} has no timm Attention module "
                            f"({type(attn).__name__} lacks {', '.join(a for a in needed if not hasattr(attn, a))}); "
                            "capture_attention supports timm VisionTransformer models (ViT, DeiT, DINO, DINOv2).")
        rope = attn if getattr(model, "rope", None) is not None and hasattr(attn, "rotate_half") else None
        sites.append(_Site(attn.q_norm, attn.k_norm, int(attn.num_heads), float(attn.scale), False, rope,
                           int(getattr(attn, "num_prefix_tokens", 0)), bool(getattr(attn, "rotate_half", False))))
    return sites


def _apply_rope(t: torch.Tensor, rope: torch.Tensor | None, site: _Site) -> torch.Tensor:
    """Rotate the patch tokens of q or k (B, H, N, d) exactly as timm's EvaAttention does."""
    if rope is None:
        return t
    from timm.layers import apply_rot_embed_cat

    npt = site.rope_prefix
    return torch.cat([t[:, :, :npt], apply_rot_embed_cat(t[:, :, npt:], rope, half=site.rotate_half)], dim=2)


def _hf_sites(model: nn.Module) -> list[_Site]:
    base = model.base_model
    encoder = getattr(base, "encoder", None)
    # transformers 5.2x: base.layers; earlier releases: base.encoder.layer
    layers = getattr(base, "layers", None) or getattr(encoder, "layer", None) or getattr(encoder, "layers", None)
    if layers is None:
        raise TypeError(f"{type(model).__name__} has no list of encoder layers; capture_attention supports the "
                        "transformers ViT and DINOv2 families (ViTModel, ViTForImageClassification, Dinov2Model...).")
    config = model.config
    sites = []
    for layer in layers:
        att = layer.attention
        if hasattr(att, "q_proj"):  # transformers >= 5
            q, k = att.q_proj, att.k_proj
        elif hasattr(att, "attention") and hasattr(att.attention, "query"):  # transformers 4.x
            att = att.attention
            q, k = att.query, att.key
        else:
            raise TypeError(f"Unsupported attention module {type(att).__name__} in {type(model).__name__}.")
        heads = int(getattr(att, "num_attention_heads", config.num_attention_heads))
        head_dim = q.out_features // heads
        scale = float(getattr(att, "scaling", head_dim ** -0.5))
        sites.append(_Site(q, k, heads, scale, True))
    return sites


def attention_blocks(model: nn.Module) -> int:
    """Number of transformer blocks whose attention :func:`capture_attention` records."""
    model = unwrap(model, "a Vision Transformer such as load_vit('vit_base')").module
    return len(_hf_sites(model) if is_hf(model) else _timm_sites(_check_timm(model)))


def _check_timm(model: nn.Module) -> nn.Module:
    needed = ("blocks", "patch_embed", "num_prefix_tokens")
    if not all(hasattr(model, a) for a in needed):
        raise TypeError(f"capture_attention needs a Vision Transformer (a timm VisionTransformer such as "
                        f"load_vit('vit_base').model, or a transformers ViT/DINOv2 model); got "
                        f"{type(model).__name__}, which has no {', '.join(a for a in needed if not hasattr(model, a))}.")
    return model


def _check_input(x: Any) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a normalised float tensor (B, 3, H, W), not {type(x).__name__}; "
                        "turn images into one with preprocess(image)[None] or preprocess.batch([...]).")
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"x must be a float tensor of shape (B, 3, H, W), got {tuple(x.shape)} {x.dtype}; "
                         "use preprocess(image)[None].")
    return x


def capture_attention(model: nn.Module, x: torch.Tensor, no_grad: bool = True) -> AttentionMaps:
    """Run ``model`` on ``x`` once and record the attention weights of every block.

    Args:
        model: A timm ``VisionTransformer`` (ViT, DeiT, DINO v1, DINOv2, with or without
            registers; fused attention or not) or a transformers ViT / DINOv2 model, or the
            :class:`~course_utils.models.LoadedModel` holding one.
        x: Normalised input, float tensor (B, 3, H, W) (a single (3, H, W) image is accepted),
            e.g. ``preprocess(image)[None]``. Fixed-size models need their own input size.
        no_grad: Run under ``torch.no_grad()`` (default). Pass False to keep the graph.

    Returns:
        :class:`AttentionMaps` with ``attn`` (B, L, H, N, N) float32, ``num_prefix_tokens``,
        ``grid`` (h, w) and the model's ``output``.

    Raises:
        TypeError: ``model`` is not a supported Vision Transformer, or ``x`` is not a tensor.
        ValueError: ``x`` has the wrong shape, or the wrong size for a fixed-size model.
    """
    model, _, _, random_weights = unwrap(model, "a Vision Transformer such as load_vit('vit_base')")
    x = _check_input(x)
    hf = is_hf(model)
    if not hf:
        _check_timm(model)
    sites = _hf_sites(model) if hf else _timm_sites(model)
    height, width = x.shape[-2:]
    num_prefix, grid = token_layout(model, int(height), int(width))
    try:
        x = x.to(next(model.parameters()).device)
    except StopIteration:
        pass

    captured: list[torch.Tensor | None] = [None] * len(sites)
    pending_q: list[torch.Tensor | None] = [None] * len(sites)
    ropes: list[torch.Tensor | None] = [None] * len(sites)  # the rotary embedding each block was called with

    def heads(t: torch.Tensor, site: _Site) -> torch.Tensor:
        if site.split_heads:  # (B, N, H*d) -> (B, H, N, d)
            b, n, c = t.shape
            return t.reshape(b, n, site.num_heads, c // site.num_heads).transpose(1, 2)
        return t

    def on_q(i: int) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, out: torch.Tensor) -> None:
            pending_q[i] = out
        return hook

    def on_k(i: int) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, out: torch.Tensor) -> None:
            site = sites[i]
            q, k = heads(pending_q[i], site), heads(out, site)  # (B, H, N, d)
            if site.rope_module is not None:  # DINOv3 / EVA: attention sees the rotated q and k
                q, k = _apply_rope(q, ropes[i], site), _apply_rope(k, ropes[i], site)
            scores = (q.float() * site.scale) @ k.float().transpose(-2, -1)  # (B, H, N, N)
            captured[i] = scores.softmax(dim=-1)
            pending_q[i] = None
        return hook

    def on_attn(i: int) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, kwargs: dict[str, Any]) -> None:
            ropes[i] = kwargs.get("rope", args[1] if len(args) > 1 else None)
        return hook

    handles = []
    try:
        for i, site in enumerate(sites):
            if site.rope_module is not None:
                handles.append(site.rope_module.register_forward_pre_hook(on_attn(i), with_kwargs=True))
            handles.append(site.q_module.register_forward_hook(on_q(i)))
            handles.append(site.k_module.register_forward_hook(on_k(i)))
        with torch.no_grad() if no_grad else torch.enable_grad():
            output = model(pixel_values=x) if hf else model(x)
    finally:
        for handle in handles:
            handle.remove()
    missing = [i for i, a in enumerate(captured) if a is None]
    if missing:
        raise RuntimeError(f"Blocks {missing} did not run; the model's forward skips them.")
    attn = torch.stack(captured, dim=1)  # type: ignore[arg-type]  # (B, L, H, N, N)
    n = attn.shape[-1]
    if n != num_prefix + grid[0] * grid[1]:
        raise RuntimeError(f"Captured {n} tokens but expected {num_prefix} prefix + {grid[0]}x{grid[1]} patches.")
    return AttentionMaps(attn=attn, num_prefix_tokens=num_prefix, grid=grid, output=output,
                         random_weights=random_weights)
