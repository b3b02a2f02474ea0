"""Figures for the Week 4 lecture slides (slides/week4_lecture.ipynb), all drawn from code.

Every number shown on a figure is computed here (from timm, torch or the photo) or is a
hyper-parameter quoted from a paper with its source in the caption. The notebook imports this
module from the slides/ directory; nothing here downloads anything.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from course_utils.images import sample_image
from course_utils.viz import draw_patch_grid

HERE = Path(__file__).resolve().parent
FONT_DIR = HERE / "node_modules" / "@expo-google-fonts" / "nanum-gothic"

BLUE, GREEN, ORANGE, PURPLE, GREY, RED = "#dbe8fb", "#dff3e3", "#fde6cc", "#ece0f7", "#eeeeee", "#f9d6d5"


def setup_fonts() -> str:
    """Register Nanum Gothic (from the npm package) with matplotlib so Korean labels render."""
    from matplotlib import font_manager

    for ttf in sorted(FONT_DIR.glob("*/*.ttf")):
        font_manager.fontManager.addfont(str(ttf))
    family = "NanumGothic" if any(f.name == "NanumGothic" for f in font_manager.fontManager.ttflist) else "DejaVu Sans"
    matplotlib.rcParams.update({
        "font.family": [family, "DejaVu Sans"],
        "axes.unicode_minus": False,
    })
    return family


# --------------------------------------------------------------------------- drawing helpers


def _box(ax, x: float, y: float, w: float, h: float, text: str, color: str = BLUE, size: float = 11,
         bold: bool = False) -> tuple[float, float, float, float]:
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.12",
                                facecolor=color, edgecolor="#333333", linewidth=1.2))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size,
            fontweight="bold" if bold else "normal")
    return (x, y, w, h)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], color: str = "#333333",
           style: str = "-|>", rad: float = 0.0, lw: float = 1.4) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=14, color=color, linewidth=lw,
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=0, shrinkB=0))


def _canvas(width: float, height: float, xlim: tuple[float, float], ylim: tuple[float, float]):
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.axis("off")
    return fig, ax


def square_photo(name: str = "chelsea", size: int = 224) -> np.ndarray:
    """Centre-crop a bundled photo to a square and resize it (HWC uint8), like ViT preprocessing."""
    from PIL import Image

    img = sample_image(name)
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = img[top:top + side, left:left + side]
    return np.asarray(Image.fromarray(crop).resize((size, size), Image.BICUBIC))


# --------------------------------------------------------------------------- attention


def toy_attention() -> tuple[plt.Figure, dict[str, torch.Tensor]]:
    """A worked example: 4 tokens, d_k = 2. Scores, softmax weights and output, checked against torch."""
    tokens = ["[CLS]", "귀 (ear)", "눈 (eye)", "배경"]
    q = torch.tensor([[1.0, 1.0], [2.0, 0.0], [1.5, 0.5], [0.0, -1.0]])
    k = torch.tensor([[0.5, 0.5], [2.0, 0.5], [1.5, 1.0], [-1.0, -1.5]])
    v = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    d_k = q.shape[-1]
    scores = q @ k.T / math.sqrt(d_k)  # (N, N)
    weights = scores.softmax(dim=-1)  # (N, N)
    out = weights @ v  # (N, d_v)
    oracle = F.scaled_dot_product_attention(q[None], k[None], v[None])[0]
    assert torch.allclose(out, oracle, atol=1e-6), "hand-written attention disagrees with torch SDPA"

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), gridspec_kw={"width_ratios": [4, 4, 2.2]})
    panels = [(scores, r"$QK^\top/\sqrt{d_k}$ (scores)", "RdBu_r", tokens),
              (weights, "softmax (행마다 합 = 1)", "viridis", tokens),
              (out, "출력 = weights · V", "viridis", ["dim 0", "dim 1"])]
    for ax, (mat, title, cmap, cols) in zip(axes, panels):
        m = mat.numpy()
        lim = np.abs(m).max()
        ax.imshow(m, cmap=cmap, vmin=-lim if cmap == "RdBu_r" else 0, vmax=lim if cmap == "RdBu_r" else m.max())
        for (i, j), val in np.ndenumerate(m):
            bright = (cmap == "viridis" and val > 0.6 * m.max()) or (cmap == "RdBu_r" and abs(val) < 0.6 * lim)
            ax.text(j, i, f"{val:.2f}", ha="center", va="center", fontsize=11, color="black" if bright else "white")
        ax.set_xticks(range(len(cols)), cols, fontsize=10)
        ax.set_yticks(range(len(tokens)), tokens if ax is axes[0] else [""] * len(tokens), fontsize=10)
        ax.set_title(title, fontsize=12)
    axes[0].set_ylabel("Query", fontsize=11)
    axes[0].set_xlabel("Key", fontsize=11)
    axes[1].set_xlabel("Key", fontsize=11)
    fig.tight_layout()
    return fig, {"q": q, "k": k, "v": v, "scores": scores, "weights": weights, "out": out}


def patch_grid_figure(patch: int = 16) -> plt.Figure:
    """The real cat photo at 224x224 with its 16x16 patch grid, and the first patches as a token sequence."""
    img = square_photo("chelsea", 224)
    grid = draw_patch_grid(img, patch)
    n = 224 // patch
    fig = plt.figure(figsize=(11.5, 4.8))
    ax = fig.add_axes([0.0, 0.02, 0.40, 0.92])
    ax.imshow(grid)
    ax.set_title(f"224×224 → {n}×{n} = {n * n} patches ({patch}×{patch}×3 = {patch * patch * 3} 값)", fontsize=13)
    ax.axis("off")
    show = 8
    for i in range(show):
        r, c = divmod(i + 5 * n + 3, n)  # a row through the cat's face
        tile = img[r * patch:(r + 1) * patch, c * patch:(c + 1) * patch]
        sub = fig.add_axes([0.45 + i * 0.065, 0.55, 0.055, 0.2])
        sub.imshow(tile)
        sub.set_xticks([])
        sub.set_yticks([])
        sub.set_title(f"P{r * n + c + 1}", fontsize=11)
    cls = fig.add_axes([0.45, 0.18, 0.055, 0.2])
    cls.text(0.5, 0.5, "[CLS]", ha="center", va="center", fontsize=12, fontweight="bold")
    cls.set_facecolor(ORANGE)
    cls.set_xticks([])
    cls.set_yticks([])
    fig.text(0.52, 0.28, "+ 196 patch tokens → 197 tokens × D (ViT-B: D = 768)\n"
             "각 패치: flatten(16·16·3 = 768) → Linear(768 → D)\n"
             "   (= Conv2d(kernel 16, stride 16))\n"
             "+ learnable position embedding (197 × D)", fontsize=13, va="center", linespacing=1.5)
    return fig


def pixel_attention_figure(queries: tuple[tuple[int, int], ...] = ((5, 4), (2, 7), (12, 1)),
                           tau: float = 0.2) -> plt.Figure:
    """Attention of query patches over all patches, with W_q = W_k = I on raw pixel patches (no training).

    The query's weight on itself (always the largest) is clipped to the largest other weight so
    that the colour scale shows where else the query looks.
    """
    from course_utils.viz import overlay_heatmap

    img = square_photo("chelsea", 224)
    p, n = 16, 14
    patches = torch.tensor(img, dtype=torch.float32).reshape(n, p, n, p, 3).permute(0, 2, 1, 3, 4)
    x = patches.reshape(n * n, -1)  # (196, 768)
    x = F.normalize(x - x.mean(dim=0, keepdim=True), dim=-1)
    weights = (x @ x.T / tau).softmax(dim=-1)  # (196, 196), rows sum to 1
    fig, axes = plt.subplots(1, len(queries) + 1, figsize=(3.6 * (len(queries) + 1), 4.0))
    axes[0].imshow(img)
    axes[0].set_title("입력 (224×224)", fontsize=12)
    for ax, (r, c) in zip(axes[1:], queries):
        row = weights[r * n + c].clone()
        row[r * n + c] = row[torch.arange(n * n) != r * n + c].max()
        ax.imshow(overlay_heatmap(img, row.reshape(n, n).numpy(), alpha=0.6, cmap="inferno"))
        ax.add_patch(matplotlib.patches.Rectangle((c * p, r * p), p, p, fill=False, edgecolor="cyan", linewidth=2.5))
        ax.set_title(f"query (row {r}, col {c})", fontsize=12)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(f"학습 전 직관: W_q = W_k = I, 픽셀 패치 코사인 유사도, softmax(· / τ), τ = {tau}",
                 fontsize=12, y=0.01, va="bottom")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def multihead_figure(dim: int = 768, heads: int = 12, tokens: int = 197) -> plt.Figure:
    """Shapes through multi-head self-attention for ViT-B (numbers from the arguments, default ViT-B/16)."""
    hd = dim // heads
    fig, ax = _canvas(12, 3.6, (0, 13), (0.1, 4.4))
    _box(ax, 0.1, 1.8, 1.8, 1.0, f"X\n{tokens}×{dim}", GREY, 12)
    _box(ax, 2.5, 1.8, 2.1, 1.0, f"Linear qkv\n{dim} → 3·{dim}", BLUE, 11)
    _arrow(ax, (1.9, 2.3), (2.5, 2.3))
    colors = [BLUE, GREEN, ORANGE]
    for i, (name, col) in enumerate(zip("QKV", colors)):
        y = 3.4 - i * 1.1
        _box(ax, 5.2, y, 2.3, 0.8, f"{name}: {heads} heads × {tokens}×{hd}", col, 10)
        _arrow(ax, (4.6, 2.3), (5.2, y + 0.4))
    _box(ax, 8.1, 1.6, 2.2, 1.4, f"head마다\nsoftmax(QKᵀ/√{hd})·V\n({heads}개 병렬)", PURPLE, 10.5)
    for i in range(3):
        _arrow(ax, (7.5, 3.8 - i * 1.1), (8.1, 2.3))
    _box(ax, 10.8, 1.8, 2.1, 1.0, f"concat → {tokens}×{dim}\nLinear proj", BLUE, 10.5)
    _arrow(ax, (10.3, 2.3), (10.8, 2.3))
    ax.text(6.5, 0.35, f"d_model = {dim}, heads = {heads}, head dim = {dim}/{heads} = {hd}: "
            "head 수를 늘려도 연산량은 거의 같고, 관점(부분공간)만 나뉜다", ha="center", fontsize=11)
    return fig


# --------------------------------------------------------------------------- ViT


def vit_overview() -> plt.Figure:
    """ViT from image to class, left to right (ViT-B/16 shapes)."""
    fig, ax = _canvas(12.5, 2.5, (0, 12.8), (0.4, 2.7))
    steps = [("이미지\n224×224×3", GREY), ("16×16 패치\n196개 → Linear\n(= Conv2d)", BLUE),
             ("[CLS] + 196 tokens\n+ position emb.\n197 × 768", ORANGE), ("Encoder block\n× L = 12\n(pre-norm)", PURPLE),
             ("최종\nLayerNorm", GREEN), ("[CLS] 출력\n→ head\n→ 1000 classes", BLUE)]
    w, gap = 1.85, 0.3
    for i, (text, col) in enumerate(steps):
        x = 0.1 + i * (w + gap)
        _box(ax, x, 0.6, w, 1.9, text, col, 11.5, bold=(i == 3))
        if i:
            _arrow(ax, (x - gap, 1.55), (x, 1.55))
    return fig


def _encoder_block(ax, x0: float, w: float, order: list[tuple[str, str]], residual: bool) -> None:
    """Draw one encoder block bottom to top; "+" entries are residual adds."""
    xc = x0 + w / 2
    y = 0.9
    ax.text(xc, 0.2, "input x", ha="center", va="bottom", fontsize=13)
    _arrow(ax, (xc, 0.62), (xc, y))
    branch_from = 0.75
    for label, col in order:
        if label == "+":
            ax.add_patch(plt.Circle((xc, y + 0.3), 0.28, facecolor="white", edgecolor="#333", linewidth=1.3))
            ax.text(xc, y + 0.3, "+", ha="center", va="center", fontsize=16)
            if residual:
                xr = x0 + w + 0.45
                ax.plot([xc, xr, xr], [branch_from, branch_from, y + 0.3], color="#c0392b", linewidth=1.8)
                _arrow(ax, (xr, y + 0.3), (xc + 0.28, y + 0.3), color="#c0392b")
                branch_from = y + 0.75
            y += 0.6
        else:
            _box(ax, x0, y, w, 0.7, label, col, 13)
            y += 0.7
        _arrow(ax, (xc, y), (xc, y + 0.3))
        y += 0.3
    ax.text(xc, y + 0.02, "output", ha="center", va="bottom", fontsize=13)


def encoder_block_figure() -> plt.Figure:
    """The ViT encoder block as the paper defines it (pre-norm, residuals) next to the outline's drawing."""
    fig, ax = _canvas(12, 5.6, (0, 12.5), (0, 7.9))
    right = [("LayerNorm", GREEN), ("Multi-Head Self-Attention", BLUE), ("+", ""), ("LayerNorm", GREEN),
             ("MLP (D → 4D → D, GELU)", ORANGE), ("+", "")]
    _encoder_block(ax, 0.4, 3.6, right, residual=True)
    ax.text(2.2, 7.85, "ViT 논문 (Eq. 2–3): pre-norm ✔", ha="center", va="top", fontsize=14, fontweight="bold",
            color="#1e7b34")
    ax.text(5.0, 3.2, r"$x' = x + \mathrm{MSA}(\mathrm{LN}(x))$", fontsize=14, va="center")
    ax.text(5.0, 6.1, r"$x'' = x' + \mathrm{MLP}(\mathrm{LN}(x'))$", fontsize=14, va="center")
    wrong = [("Multi-Head Attention", BLUE), ("Layer Normalization", GREEN), ("MLP (Feed Forward)", ORANGE),
             ("Layer Normalization", GREEN)]
    _encoder_block(ax, 8.6, 3.4, wrong, residual=False)
    ax.text(10.3, 7.85, "강의 초안의 그림 ✘", ha="center", va="top", fontsize=14, fontweight="bold", color="#c0392b")
    ax.text(10.3, 5.8, "LN이 뒤에 오고 residual이 없음", ha="center", va="center", fontsize=12, color="#c0392b")
    return fig


def vit_block_matches_timm() -> str:
    """Check on a real timm block that LayerNorm comes *before* attention/MLP (pre-norm); return a summary."""
    import timm

    model = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    block = model.blocks[0]
    x = torch.randn(1, 197, model.embed_dim)
    with torch.no_grad():
        pre = x + block.ls1(block.attn(block.norm1(x)))
        pre = pre + block.ls2(block.mlp(block.norm2(pre)))
        ref = block(x)
    assert torch.allclose(pre, ref, atol=1e-5), "timm block is not pre-norm?"
    children = [name for name, _ in block.named_children()]
    return f"timm {timm.__version__} Block 하위 모듈 순서: {', '.join(children)} → x + attn(norm1(x)), x + mlp(norm2(x)) 재현 일치"


# --------------------------------------------------------------------------- DINO


def multicrop_figure(seed: int = 0) -> plt.Figure:
    """DINO multi-crop on the real cat photo: 2 global crops (224, scale 0.4-1) and 8 local (96, scale 0.05-0.4)."""
    from PIL import Image
    from torchvision.transforms import RandomResizedCrop

    torch.manual_seed(seed)
    pil = Image.fromarray(sample_image("chelsea"))
    glob = RandomResizedCrop(224, scale=(0.4, 1.0))
    loc = RandomResizedCrop(96, scale=(0.05, 0.4))
    crops = [("global", glob(pil)) for _ in range(2)] + [("local", loc(pil)) for _ in range(8)]
    fig = plt.figure(figsize=(13, 4.0))
    for i, (_kind, crop) in enumerate(crops[:2]):
        ax = fig.add_axes([0.01 + i * 0.22, 0.08, 0.2, 0.8])
        ax.imshow(crop)
        ax.set_title(f"global {i + 1}: 224×224", fontsize=11)
        ax.axis("off")
    for j, (_kind, crop) in enumerate(crops[2:]):
        r, c = divmod(j, 4)
        ax = fig.add_axes([0.47 + c * 0.13, 0.5 - r * 0.44, 0.11, 0.36])
        ax.imshow(crop)
        ax.set_title(f"local {j + 1}: 96×96", fontsize=10)
        ax.axis("off")
    return fig


def dino_diagram() -> plt.Figure:
    """DINO self-distillation: teacher sees global views only, student sees all; centring + sharpening; EMA."""
    fig, ax = _canvas(12, 4.3, (0, 13), (0.1, 6.5))
    _box(ax, 0.1, 3.4, 1.7, 1.2, "이미지\n(라벨 없음)", GREY, 11)
    _box(ax, 2.4, 5.2, 2.4, 1.1, "global views ×2\n224², scale 0.4–1", ORANGE, 10)
    _box(ax, 2.4, 1.6, 2.4, 1.1, "global ×2 + local ×8\n(96², scale 0.05–0.4)", ORANGE, 10)
    _arrow(ax, (1.8, 4.3), (2.4, 5.7))
    _arrow(ax, (1.8, 3.7), (2.4, 2.1))
    _box(ax, 5.4, 5.2, 2.4, 1.1, "Teacher $g_{\\theta_t}$\n(ViT + head)", PURPLE, 11, bold=True)
    _box(ax, 5.4, 1.6, 2.4, 1.1, "Student $g_{\\theta_s}$\n(ViT + head)", BLUE, 11, bold=True)
    _arrow(ax, (4.8, 5.75), (5.4, 5.75))
    _arrow(ax, (4.8, 2.15), (5.4, 2.15))
    _box(ax, 8.4, 5.1, 2.4, 1.3, "centering: − c\nsharpening: τ_t 0.04–0.07\nstop-gradient", GREEN, 10)
    _box(ax, 8.4, 1.6, 2.4, 1.1, "softmax(·/τ_s)\nτ_s = 0.1", GREEN, 10)
    _arrow(ax, (7.8, 5.75), (8.4, 5.75))
    _arrow(ax, (7.8, 2.15), (8.4, 2.15))
    _box(ax, 11.1, 3.35, 1.8, 1.3, "loss\n−Σ P_t log P_s\n(서로 다른 view 쌍)", RED, 10.5)
    _arrow(ax, (10.8, 5.75), (12.0, 4.65))
    _arrow(ax, (10.8, 2.15), (12.0, 3.35))
    _arrow(ax, (6.6, 2.7), (6.6, 5.2), color="#7a4fa3", rad=0.0)
    ax.text(6.75, 3.95, "EMA: θ_t ← m·θ_t + (1−m)·θ_s\n"
            "m: 0.996 → 1 (cosine)\n기울기로 학습하지 않지만 frozen 아님", fontsize=10, color="#7a4fa3", va="center")
    ax.text(6.5, 0.35, "하이퍼파라미터 출처: Caron et al. 2021 (arXiv 2104.14294) §3.1, App. 및 공식 저장소 기본값",
            ha="center", fontsize=10, color="#555")
    return fig


# --------------------------------------------------------------------------- SAM


def sam_diagram() -> plt.Figure:
    """SAM: heavy image encoder (once per image) and a light prompt encoder feed the mask decoder in parallel."""
    fig, ax = _canvas(12, 4.3, (0, 13), (0.0, 6.3))
    _box(ax, 0.1, 4.6, 2.0, 1.5, "이미지\n1024×1024", GREY, 11)
    _box(ax, 2.7, 4.6, 3.0, 1.5, "Image encoder\nViT-H/16 (MAE pre-train)\n한 번만: set_image()", PURPLE, 10.5, bold=True)
    _box(ax, 6.3, 4.6, 2.2, 1.5, "image embedding\n64×64×256", GREY, 10.5)
    _arrow(ax, (2.1, 5.35), (2.7, 5.35))
    _arrow(ax, (5.7, 5.35), (6.3, 5.35))
    _box(ax, 0.1, 1.0, 2.0, 1.9, "prompts\npoints (+/−)\nbox (XYXY)\nmask", ORANGE, 10.5)
    _box(ax, 2.7, 1.2, 3.0, 1.5, "Prompt encoder\npositional enc. + learned emb.\nmask → conv", BLUE, 10.5)
    _arrow(ax, (2.1, 1.95), (2.7, 1.95))
    _box(ax, 8.9, 2.8, 2.2, 1.7, "Mask decoder\n(two-way transformer,\n2 layers)", GREEN, 10.5, bold=True)
    _arrow(ax, (8.5, 5.35), (9.6, 4.5))
    _arrow(ax, (5.7, 1.95), (9.6, 2.8))
    _box(ax, 11.4, 3.9, 1.5, 1.0, "mask ×3\n(모호성)", RED, 10)
    _box(ax, 11.4, 2.4, 1.5, 1.0, "IoU 점수\n×3", RED, 10)
    _arrow(ax, (11.1, 3.9), (11.4, 4.3))
    _arrow(ax, (11.1, 3.4), (11.4, 2.9))
    ax.text(6.5, 0.25, "Kirillov et al. 2023 (arXiv 2304.02643) §3. 텍스트 프롬프트는 논문의 CLIP 기반 탐색 실험일 뿐, "
            "공개 모델은 지원하지 않음", ha="center", fontsize=10, color="#555")
    ax.text(7.3, 3.1, "프롬프트마다: 가벼운 경로\n(논문: 브라우저에서 ~50 ms)", fontsize=10, color="#555", ha="center")
    return fig


# --------------------------------------------------------------------------- model zoo


def zoo_markdown() -> str:
    """The ViT model zoo table from ``course_utils.zoo.vit_zoo_table()`` (timm on the meta device) as Markdown."""
    from course_utils.zoo import vit_zoo_table

    rows = vit_zoo_table()
    if hasattr(rows, "to_dict"):  # a pandas DataFrame
        rows = rows.to_dict("records")
    rows = list(rows)
    cols = list(rows[0].keys())
    fmt = [lambda v: f"{v:,.1f}" if isinstance(v, float) else str(v)][0]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def cost_figure() -> plt.Figure:
    """Cost per 1,000 images as a function of the prices: a structure chart with *symbolic* example prices."""
    tokens_in = np.array([300, 800, 1600])  # image + prompt tokens per request (examples, not measured)
    tokens_out = 150
    price_in, price_out = 1.0, 4.0  # hypothetical USD per 1M tokens, for the arithmetic only
    cost = (tokens_in * price_in + tokens_out * price_out) / 1e6 * 1000
    fig, ax = plt.subplots(figsize=(10, 2.4))
    ax.bar([f"입력 {t} tok" for t in tokens_in], cost, color=["#7fb3d5", "#5499c7", "#2471a3"])
    for i, c in enumerate(cost):
        ax.text(i, c, f"{c:.2f} USD", ha="center", va="bottom", fontsize=11)
    ax.set_ylabel("USD / 1,000 images")
    ax.set_title("가상의 가격 (입력 1달러, 출력 4달러 / 1M tokens)으로 본 구조: 실제 가격 아님", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def title_strip() -> plt.Figure:
    """Three views of the cat photo for the title slide: photo, 16x16 patch grid, one query's toy attention."""
    from course_utils.viz import overlay_heatmap

    img = square_photo("chelsea", 224)
    p, n = 16, 14
    x = torch.tensor(img, dtype=torch.float32).reshape(n, p, n, p, 3).permute(0, 2, 1, 3, 4).reshape(n * n, -1)
    x = F.normalize(x - x.mean(dim=0, keepdim=True), dim=-1)
    row = (x[5 * n + 4] @ x.T / 0.2).softmax(dim=-1)  # (196,)
    row[5 * n + 4] = row[torch.arange(n * n) != 5 * n + 4].max()
    panels = [(img, "photo"), (draw_patch_grid(img, p), "196 patches = 196 tokens"),
              (overlay_heatmap(img, row.reshape(n, n).numpy(), alpha=0.6, cmap="inferno"), "attention (toy)")]
    fig, axes = plt.subplots(1, 3, figsize=(9.5, 3.4))
    for ax, (im, title) in zip(axes, panels):
        ax.imshow(im)
        ax.set_title(title, fontsize=12)
        ax.axis("off")
    fig.tight_layout()
    return fig
