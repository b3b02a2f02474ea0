"""The ViT model zoo, computed from timm's own architectures instead of copied from a slide.

Every row is measured on a model built on PyTorch's ``meta`` device (no weights, no memory,
no download): depth, width, heads, MLP size, patch size and token count are read from the
module, parameters are summed from its tensors, and the compute at 224 px is an exact
count of the multiply-accumulates of every matrix product (patch-embedding convolution,
qkv, QK^T, attention x V, output projection, MLP, classifier head). The tests check that
count against :class:`torch.utils.flop_counter.FlopCounterMode`.

Two conventions for "FLOPs" are in use: papers and timm's tables usually quote
multiply-accumulates (ViT-B/16: 17.6 "GFLOPs"), while ``torch.utils.flop_counter`` counts a
multiply and an add separately (2x). Rows carry both, as ``gmacs`` and ``gflops``.
Element-wise work (LayerNorm, softmax, GELU, residual adds) is not counted by either.

Example:
    >>> from course_utils.zoo import vit_zoo_table, format_zoo_table
    >>> print(format_zoo_table(vit_zoo_table()))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["ZOO_NAMES", "vit_zoo_table", "vit_macs", "format_zoo_table", "register"]

ZOO_NAMES: tuple[str, ...] = (
    "vit_tiny_patch16_224",
    "vit_small_patch16_224",
    "vit_base_patch16_224",
    "vit_large_patch16_224",
    "vit_huge_patch14_224",
)

_COLUMNS = (
    ("model", "model", "{}"),
    ("layers", "layers", "{}"),
    ("width", "width", "{}"),
    ("heads", "heads", "{}"),
    ("mlp_dim", "MLP dim", "{}"),
    ("patch_size", "patch", "{}"),
    ("tokens", "tokens", "{}"),
    ("params_m", "params (M)", "{:.1f}"),
    ("gmacs", "GMACs", "{:.1f}"),
    ("gflops", "GFLOPs", "{:.1f}"),
)


def _as_int(value: Any) -> int:
    return int(value[0]) if isinstance(value, (tuple, list)) else int(value)


def _check_vit(model: nn.Module, name: str) -> None:
    missing = [a for a in ("patch_embed", "blocks", "embed_dim", "num_prefix_tokens") if not hasattr(model, a)]
    if missing:
        raise TypeError(f"{name!r} is not a timm VisionTransformer (missing {', '.join(missing)}); "
                        "vit_zoo_table takes timm ViT names such as 'vit_base_patch16_224'.")


def vit_macs(model: nn.Module) -> int:
    """Exact multiply-accumulate count of one forward pass of a timm ViT on one image.

    Counts the matrix products only, at the model's own input size: the patch-embedding
    convolution, and in each block qkv, QK^T, attention x V, the output projection and the
    two MLP layers, plus the classifier head on the pooled token.

    Args:
        model: A timm ``VisionTransformer`` (may live on the ``meta`` device).

    Returns:
        Multiply-accumulates for batch size 1 (multiply by 2 for torch's FLOP convention).
    """
    _check_vit(model, type(model).__name__)
    pe = model.patch_embed
    grid_h, grid_w = (int(g) for g in pe.grid_size)
    n_patches = grid_h * grid_w
    patch_h, patch_w = (int(p) for p in pe.patch_size)
    in_chans = int(pe.proj.in_channels)
    dim = int(model.embed_dim)
    tokens = n_patches + int(model.num_prefix_tokens)
    macs = n_patches * in_chans * patch_h * patch_w * dim  # patch embedding (conv as a matmul)
    for block in model.blocks:
        attn, mlp = block.attn, block.mlp
        qkv_out = int(attn.qkv.out_features)
        inner = qkv_out // 3  # heads * head_dim
        hidden = int(mlp.fc1.out_features)
        macs += tokens * dim * qkv_out                    # x @ W_qkv
        macs += tokens * tokens * inner                   # Q @ K^T, all heads: H * N * N * d
        macs += tokens * tokens * inner                   # attn @ V
        macs += tokens * inner * int(attn.proj.out_features)  # output projection
        macs += tokens * dim * hidden + tokens * hidden * int(mlp.fc2.out_features)  # MLP
    head = getattr(model, "head", None)
    if isinstance(head, nn.Linear):
        macs += head.in_features * head.out_features  # one pooled token
    return macs


def _build_meta(name: str, img_size: int, **kwargs: Any) -> nn.Module:
    import timm

    if not timm.is_model(name):
        raise ValueError(f"{name!r} is not a timm model name; try one of {', '.join(ZOO_NAMES)} "
                         "or timm.list_models('vit_*').")
    with torch.device("meta"):
        try:
            return timm.create_model(name, pretrained=False, img_size=img_size, **kwargs)
        except TypeError as exc:  # e.g. a CNN has no img_size argument
            raise TypeError(f"{name!r} is not a timm VisionTransformer ({exc}); vit_zoo_table takes timm "
                            "ViT names such as 'vit_base_patch16_224'.") from exc


def vit_zoo_table(names: Sequence[str] = ZOO_NAMES, img_size: int = 224,
                  num_classes: int | None = None) -> list[dict[str, Any]]:
    """One row per timm ViT, measured from the architecture built on the meta device.

    Args:
        names: timm model names (``"vit_base_patch16_224"``, ``"deit_small_patch16_224"``,
            ``"vit_small_patch14_reg4_dinov2"``...), with or without a pretrained tag.
        img_size: Square input size in pixels at which tokens and compute are counted.
        num_classes: Classifier head to build on every row (``1000`` = an ImageNet-1k head, ``0`` =
            none). ``None`` keeps each model's default pretrained config, which differs between rows
            (timm's ``vit_huge_patch14_224`` defaults to the IN-21k features without a head), so pass a
            number whenever rows are compared with each other.

    Returns:
        A list of dicts with keys ``model``, ``layers``, ``width``, ``heads``, ``mlp_dim``,
        ``patch_size``, ``tokens`` (patches + CLS + register tokens), ``prefix_tokens``,
        ``params`` (int), ``params_m``, ``macs`` (int), ``gmacs`` and ``gflops`` (= 2 x GMACs),
        ``num_classes`` (classes of the head counted, 0 = no head), for batch size 1 at ``img_size``.

    Raises:
        ValueError: ``names`` contains something that is not a timm model name.
        TypeError: the model is not a plain timm ViT.
    """
    if isinstance(names, str):
        names = (names,)
    rows = []
    for name in names:
        model = _build_meta(name, img_size, **({} if num_classes is None else {"num_classes": int(num_classes)}))
        _check_vit(model, name)
        first = model.blocks[0]
        params = sum(p.numel() for p in model.parameters())
        macs = vit_macs(model)
        grid = tuple(int(g) for g in model.patch_embed.grid_size)
        rows.append({
            "model": name,
            "layers": len(model.blocks),
            "width": int(model.embed_dim),
            "heads": int(first.attn.num_heads),
            "mlp_dim": int(first.mlp.fc1.out_features),
            "patch_size": _as_int(model.patch_embed.patch_size),
            "tokens": grid[0] * grid[1] + int(model.num_prefix_tokens),
            "prefix_tokens": int(model.num_prefix_tokens),
            "params": int(params),
            "params_m": params / 1e6,
            "macs": int(macs),
            "gmacs": macs / 1e9,
            "gflops": 2 * macs / 1e9,
            "num_classes": int(getattr(model, "num_classes", 0) or 0),
        })
    return rows


def format_zoo_table(rows: Sequence[dict[str, Any]], style: str = "markdown") -> str:
    """Format :func:`vit_zoo_table` rows as a Markdown table or aligned plain text (no pandas).

    Args:
        rows: Rows from :func:`vit_zoo_table`.
        style: ``"markdown"`` or ``"text"``.

    Returns:
        The table as one string.
    """
    if style not in ("markdown", "text"):
        raise ValueError(f"style must be 'markdown' or 'text', not {style!r}.")
    header = [title for _, title, _ in _COLUMNS]
    body = [[fmt.format(row[key]) for key, _, fmt in _COLUMNS] for row in rows]
    if style == "markdown":
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    fmt_row = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                      for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt_row(header), *(fmt_row(r) for r in body)])


def _zoo_command(args: Any) -> int:
    print(format_zoo_table(vit_zoo_table(args.names or ZOO_NAMES, img_size=args.img_size), style=args.style))
    return 0


def register(subparsers: Any) -> None:
    """Add ``vit-zoo`` (print the computed ViT zoo table) to the ``course-utils`` command line."""
    p = subparsers.add_parser("vit-zoo", help="print the ViT model zoo table computed from timm architectures")
    p.add_argument("names", nargs="*", help=f"timm ViT names (default: {' '.join(ZOO_NAMES)})")
    p.add_argument("--img-size", type=int, default=224, help="input size in pixels (default 224)")
    p.add_argument("--style", choices=("text", "markdown"), default="text")
    p.set_defaults(func=_zoo_command)


if __name__ == "__main__":  # pragma: no cover
    print(format_zoo_table(vit_zoo_table(), style="text"))
