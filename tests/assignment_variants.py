"""Alternative correct solutions and subtle wrong solutions of Assignment 4, for the fairness tests.

``ALTERNATIVES``: solution cells that differ from the reference in harmless ways (another loop order,
float64 inside, extra helper functions, other torch / numpy calls); each must keep full marks.
``WRONG``: one edit of a reference solution cell that breaks one sentence of the notebook's
specification (quoted in ``reason``); each must lose exactly its own function's points.
Used by tests/test_hidden_tests.py (in process, every variant) and tests/test_assignment.py (through
``nbgrader autograde``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "assignments" / "reference"))

from extract import graded_solution_cells  # noqa: E402

REFERENCE = graded_solution_cells()
# Solution cell grade id -> the test cell that grades it.
TEST_OF = {solution: f"test_{solution}" for solution in REFERENCE}


@dataclass(frozen=True)
class Wrong:
    cell: str  # solution cell grade id
    reason: str  # the specification sentence it violates
    old: str
    new: str
    prefix: str = ""  # cell-level code put before the solution (e.g. an import under another name)

    @property
    def source(self) -> str:
        text = REFERENCE[self.cell]
        assert self.old in text, (self.cell, self.old)
        return self.prefix + text.replace(self.old, self.new)

    @property
    def name(self) -> str:
        return f"{self.cell}: {self.reason}"


ALTERNATIVES = {
    "sdpa": '''
def _stable_softmax(scores):
    scores = scores - scores.amax(dim=-1, keepdim=True).clamp_min(-1e300)
    weights = scores.exp()
    return weights / weights.sum(dim=-1, keepdim=True)


def scaled_dot_product_attention(q, k, v, mask=None):
    """float64 inside, einsum, a hand-written stable softmax."""
    dtype = q.dtype
    scores = torch.einsum("...nd,...md->...nm", q.double(), k.double()) * q.shape[-1] ** -0.5
    if mask is not None:
        scores = torch.where(mask, scores, torch.tensor(float("-inf"), dtype=torch.float64))
    attn = _stable_softmax(scores)
    return torch.einsum("...nm,...md->...nd", attn, v.double()).to(dtype), attn.to(dtype)
''',
    "mhsa": '''
class MultiHeadSelfAttention(nn.Module):
    def __init__(self, dim, num_heads, qkv_bias=True):
        super().__init__()
        if dim % num_heads:
            raise ValueError("dim must be divisible by num_heads")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        """One head at a time, then concatenated."""
        B, N, C = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)  # each (B, N, C), heads side by side
        heads = []
        for h in range(self.num_heads):
            part = slice(h * C // self.num_heads, (h + 1) * C // self.num_heads)
            out, _ = scaled_dot_product_attention(q[..., part], k[..., part], v[..., part])
            heads.append(out)
        return self.proj(torch.cat(heads, dim=-1))
''',
    "patch_embed": '''
from einops import rearrange


class PatchEmbed(nn.Module):
    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=768):
        super().__init__()
        side = img_size // patch_size
        self.patch_size, self.grid_size, self.num_patches = patch_size, (side, side), side * side
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        """Patches flattened by hand, then the convolution's weights as a matrix."""
        p, (h, w) = self.patch_size, self.grid_size
        patches = rearrange(x[..., :h * p, :w * p], "b c (h p1) (w p2) -> b (h w) (c p1 p2)", p1=p, p2=p)
        return patches @ self.proj.weight.flatten(1).T + self.proj.bias
''',
    "block": '''
class Mlp(nn.Module):
    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden_dim), nn.Linear(hidden_dim, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


def _residual(x, f):
    return x + f(x)


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio=4.0, qkv_bias=True):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MultiHeadSelfAttention(dim, num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = _residual(x, lambda t: self.attn(self.norm1(t)))
        return _residual(x, lambda t: self.mlp(self.norm2(t)))
''',
    "vit": '''
class VisionTransformer(nn.Module):
    def __init__(self, img_size=224, patch_size=16, in_chans=3, num_classes=1000, embed_dim=768, depth=12,
                 num_heads=12, mlp_ratio=4.0):
        super().__init__()
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.patch_embed.num_patches, embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.ModuleList([Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Identity() if num_classes == 0 else nn.Linear(embed_dim, num_classes)

    def forward_features(self, x):
        """Blocks applied in a loop over a ModuleList."""
        tokens = self.patch_embed(x)
        x = torch.cat([self.cls_token.repeat(tokens.shape[0], 1, 1), tokens], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, x):
        return self.head(self.forward_features(x)[:, 0, :])
''',
    "count_parameters": '''
def count_parameters(model):
    """Deduplicate by identity over named_parameters (which already skips duplicates)."""
    unique = {id(p): p for _, p in model.named_parameters()}
    return sum(int(p.numel()) for p in unique.values() if p.requires_grad)
''',
    "dino_loss": '''
def dino_loss(student_out, teacher_out, center, n_global=2, student_temp=0.1, teacher_temp=0.04):
    """Vectorised: all (teacher view, student view) pairs at once, float64 inside, the diagonal masked out."""
    batch = teacher_out.shape[0] // n_global
    n_crops = student_out.shape[0] // batch
    log_p_s = F.log_softmax(student_out.double() / student_temp, dim=-1).reshape(n_crops, batch, -1)
    with torch.no_grad():
        p_t = F.softmax((teacher_out.double() - center.double()) / teacher_temp, dim=-1).reshape(n_global, batch, -1)
    ce = -torch.einsum("ibk,vbk->iv", p_t, log_p_s) / batch  # (n_global, n_crops)
    keep = torch.ones_like(ce, dtype=torch.bool)
    keep[torch.arange(n_global), torch.arange(n_global)] = False
    return ce[keep].mean().to(student_out.dtype)
''',
    "update_center": '''
def update_center(center, teacher_out, momentum=0.9):
    with torch.no_grad():
        return torch.lerp(teacher_out.mean(0)[None], center, momentum)
''',
    "ema_update": '''
def _pairs(teacher, student):
    return list(zip(teacher.parameters(), student.parameters()))


@torch.no_grad()
def ema_update(teacher, student, momentum):
    """lerp_ moves each teacher parameter towards the student's by (1 - m)."""
    for p_t, p_s in _pairs(teacher, student):
        p_t.lerp_(p_s.to(p_t.dtype), 1 - momentum)
''',
    "weighted_knn": '''
def weighted_knn_predict(train_feats, train_labels, test_feats, k=20, T=0.07, num_classes=None):
    """float64, one-hot votes by a matrix product, torch only."""
    train = F.normalize(torch.as_tensor(train_feats).double(), dim=-1)
    test = F.normalize(torch.as_tensor(test_feats).double(), dim=-1)
    labels = torch.as_tensor(train_labels).to(torch.int64)
    n_classes = int(labels.max().item()) + 1 if num_classes is None else num_classes
    sim = test @ train.T
    values, index = sim.topk(min(k, train.shape[0]), dim=-1)
    one_hot = F.one_hot(labels[index], n_classes).double()  # (M, k, C)
    votes = torch.einsum("mk,mkc->mc", (values / T).exp(), one_hot)
    return votes.argmax(dim=-1).long()
''',
    "recall_at_k": '''
def recall_at_k(query_labels, db_labels, ranked_indices, k):
    """A plain loop over the queries, with torch."""
    q = torch.as_tensor(np.asarray(query_labels).astype(np.int64))
    db = torch.as_tensor(np.asarray(db_labels).astype(np.int64))
    ranked = torch.as_tensor(np.asarray(ranked_indices).astype(np.int64))
    hits = 0
    for i in range(len(q)):
        hits += int(bool((db[ranked[i, :k]] == q[i]).any()))
    return hits / len(q)
''',
    "clicks_to_prompt": '''
def clicks_to_prompt(clicks, display_size, image_size):
    """A loop that appends one click at a time."""
    sx, sy = image_size[0] / display_size[0], image_size[1] / display_size[1]
    coords, labels = [], []
    for x, y, positive in clicks:
        coords.append([x * sx, y * sy])
        labels.append(int(bool(positive)))
    return np.array(coords, dtype=np.float32).reshape(-1, 2), np.array(labels, dtype=np.int32)
''',
    "mask_to_box": '''
def mask_to_box(mask):
    """Rows and columns that contain the mask, from any()."""
    mask = np.asarray(mask).astype(bool)
    ys, xs = np.where(mask.any(axis=1))[0], np.where(mask.any(axis=0))[0]
    if len(ys) == 0:
        raise ValueError("empty mask")
    return np.array([xs[0], ys[0], xs[-1], ys[-1]])
''',
    "stability_score": '''
def stability_score(mask_logits, threshold=0.0, offset=1.0):
    """Intersection over union computed literally, in float64."""
    x = torch.as_tensor(mask_logits)
    high, low = x > threshold + offset, x > threshold - offset
    inter = (high & low).double().sum(dim=(-1, -2))
    union = (high | low).double().sum(dim=(-1, -2))
    return (inter / union).float()
''',
    "cluster_centroid_points": '''
def cluster_centroid_points(labels, image_size):
    """Loops over the grid, the labels in order of first appearance."""
    labels = np.asarray(labels)
    h, w = labels.shape
    cells = {}
    for r in range(h):
        for c in range(w):
            cells.setdefault(labels[r, c].item(), []).append((r, c))
    points = {}
    for label, members in cells.items():
        cr = sum(r for r, _ in members) / len(members)
        cc = sum(c for _, c in members) / len(members)
        r, c = min(members, key=lambda rc: (rc[0] - cr) ** 2 + (rc[1] - cc) ** 2)
        points[label] = ((c + 0.5) / w * image_size[0], (r + 0.5) / h * image_size[1])
    return points
''',
    "pareto_front": '''
def _dominates(a, b, x, y):
    return a[x] <= b[x] and a[y] >= b[y] and (a[x], a[y]) != (b[x], b[y])


def pareto_front(results, x="cost_per_1k", y="accuracy"):
    """Sort first (stable), then keep the rows no other row dominates."""
    rows = sorted(results, key=lambda r: r[x])
    return [r["model"] for r in rows if not any(_dominates(o, r, x, y) for o in rows)]
''',
    "select_model": '''
def _ok(bound, value, upper=True):
    return bound is None or (value <= bound if upper else value >= bound)


def select_model(results, max_cost_per_1k=None, max_p95_latency_s=None, min_accuracy=None, require_open_source=False):
    """Sort the candidates (stable) by accuracy descending, then cost ascending, and take the first."""
    candidates = [r for r in results if _ok(max_cost_per_1k, r["cost_per_1k"]) and
                  _ok(max_p95_latency_s, r["p95_latency_s"]) and _ok(min_accuracy, r["accuracy"], upper=False)
                  and (r["open_source"] or not require_open_source)]
    ranked = sorted(candidates, key=lambda r: (-r["accuracy"], r["cost_per_1k"]))
    return ranked[0]["model"] if ranked else None
''',
}


WRONG = [
    # 1.1 scaled_dot_product_attention
    Wrong("sdpa", "softmax(QK^T / sqrt(d_k)): scaled by the value width", "math.sqrt(q.shape[-1])", "math.sqrt(v.shape[-1])"),
    Wrong("sdpa", "masked weights must be exactly 0 (a finite fill value)", 'float("-inf")', "-1e4"),
    Wrong("sdpa", "large scores must stay finite (softmax without subtracting the maximum)",
          "attn = scores.softmax(dim=-1)", "attn = scores.exp() / scores.exp().sum(dim=-1, keepdim=True)"),
    Wrong("sdpa", "the output keeps the input dtype", "scores = q @ k", "q, k, v = q.float(), k.float(), v.float()\n    scores = q @ k"),
    Wrong("sdpa", "any number of batch dims (transposes dims 1 and 2)", "k.transpose(-2, -1)", "k.transpose(1, 2)"),
    Wrong("sdpa", "no scaling at all", " / math.sqrt(q.shape[-1])", ""),
    Wrong("sdpa", "forbidden: torch's fused attention, imported under another name at cell level",
          "return attn @ v, attn", "return fused(q, k, v, attn_mask=mask), attn",
          prefix="from torch.nn.functional import scaled_dot_product_attention as fused\n\n\n"),
    # 1.2 MultiHeadSelfAttention
    Wrong("mhsa", "timm's layout reshape(B, N, 3, num_heads, head_dim)",
          "reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)",
          "reshape(B, N, self.num_heads, 3, self.head_dim).permute(3, 0, 2, 1, 4)"),
    Wrong("mhsa", "ValueError when dim is not divisible by num_heads (an AssertionError instead)",
          'raise ValueError(f"dim={dim} is not divisible by num_heads={num_heads}")', 'raise AssertionError("indivisible")'),
    Wrong("mhsa", "heads merged back in (B, N, H * head_dim) order", "out.transpose(1, 2).reshape(B, N, C)", "out.reshape(B, N, C)"),
    # 1.3 PatchEmbed
    Wrong("patch_embed", "num_patches = (img_size // patch_size) ** 2, not img_size ** 2 // patch_size ** 2",
          "self.num_patches = self.grid_size[0] * self.grid_size[1]", "self.num_patches = img_size ** 2 // patch_size ** 2"),
    Wrong("patch_embed", "raster (row by row) order of the tokens",
          "x.flatten(2).transpose(1, 2)", "x.transpose(2, 3).flatten(2).transpose(1, 2)"),
    # 1.4 Block
    Wrong("block", "exact GELU, nn.GELU() (the tanh approximation instead)", "nn.GELU()", 'nn.GELU(approximate="tanh")'),
    Wrong("block", "hidden width int(dim * mlp_ratio) (rounded instead)", "int(dim * mlp_ratio)", "round(dim * mlp_ratio)"),
    Wrong("block", "pre-norm x = x + attn(norm1(x)) (post-norm instead)",
          "x = x + self.attn(self.norm1(x))", "x = self.norm1(x + self.attn(x))"),
    Wrong("block", "LayerNorm(dim, eps=1e-6) applied with the default eps 1e-5",
          "x = x + self.mlp(self.norm2(x))",
          "x = x + self.mlp(F.layer_norm(x, x.shape[-1:], self.norm2.weight, self.norm2.bias))"),
    # 1.5 VisionTransformer
    Wrong("vit", "[CLS] goes first", "torch.cat([cls, x], dim=1) + self.pos_embed", "torch.cat([x, cls], dim=1) + self.pos_embed"),
    Wrong("vit", "norm = LayerNorm(D, eps=1e-6)", "self.norm = nn.LayerNorm(embed_dim, eps=1e-6)", "self.norm = nn.LayerNorm(embed_dim)"),
    Wrong("vit", "num_classes=0: head is nn.Identity()", "if num_classes > 0 else nn.Identity()",
          "if num_classes > 0 else nn.Linear(embed_dim, embed_dim)"),
    Wrong("vit", "head on the [CLS] output (mean pooling instead)", "self.forward_features(x)[:, 0]",
          "self.forward_features(x).mean(dim=1)"),
    # 1.6 count_parameters
    Wrong("count_parameters", "trainable parameters only", " if p.requires_grad", ""),
    Wrong("count_parameters", "a shared parameter counted once", "model.parameters()", "model.parameters(remove_duplicate=False)"),
    Wrong("count_parameters", "parameters, not buffers (state_dict counts buffers)",
          "sum(p.numel() for p in model.parameters() if p.requires_grad)",
          "sum(v.numel() for v in model.state_dict().values())"),
    # 2.1 dino_loss
    Wrong("dino_loss", "pairs with the same view (i = v) are excluded", "            if v == i:\n                continue\n", ""),
    Wrong("dino_loss", "student views stacked view by view (read as interleaved)",
          "F.log_softmax(student_out / student_temp, dim=-1).chunk(n_crops)",
          "F.log_softmax(student_out / student_temp, dim=-1).reshape(batch, n_crops, -1).unbind(1)"),
    Wrong("dino_loss", "finite for large logits (log of softmax instead of log_softmax)",
          "F.log_softmax(student_out / student_temp, dim=-1)", "torch.log(F.softmax(student_out / student_temp, dim=-1))"),
    Wrong("dino_loss", "1/B sum over the batch (a sum instead of the mean)",
          "(-(p_t * logp_s).sum(dim=-1)).mean()", "(-(p_t * logp_s).sum(dim=-1)).sum()"),
    Wrong("dino_loss", "teacher centred by subtracting the centre", "(teacher_out - center)", "(teacher_out + center)"),
    # 2.2 update_center
    Wrong("update_center", "new = m * center + (1 - m) * mean (the momentum on the wrong side)",
          "center * momentum + batch_center * (1 - momentum)", "center * (1 - momentum) + batch_center * momentum"),
    Wrong("update_center", "no gradient history", "teacher_out.detach().mean", "teacher_out.mean"),
    Wrong("update_center", "a new tensor; the input centre unchanged",
          "return center * momentum + batch_center * (1 - momentum)",
          "return center.mul_(momentum).add_(batch_center * (1 - momentum))"),
    # 2.3 ema_update
    Wrong("ema_update", "parameters only: buffers stay (state_dict updates buffers and tied weights twice)",
          "        for p_t, p_s in zip(teacher.parameters(), student.parameters()):\n"
          "            p_t.mul_(momentum).add_(p_s.detach(), alpha=1 - momentum)",
          "        state = student.state_dict()\n"
          "        for name, value in teacher.state_dict().items():\n"
          "            if value.is_floating_point():\n"
          "                value.mul_(momentum).add_(state[name], alpha=1 - momentum)"),
    Wrong("ema_update", "frozen parameters are parameters too (only requires_grad ones updated)",
          "zip(teacher.parameters(), student.parameters())",
          "((a, b) for a, b in zip(teacher.parameters(), student.parameters()) if a.requires_grad)"),
    Wrong("ema_update", "tied parameters updated once (module by module updates them twice)",
          "zip(teacher.parameters(), student.parameters())",
          "((a, b) for mt, ms in zip(teacher.modules(), student.modules())"
          " for a, b in zip(mt.parameters(recurse=False), ms.parameters(recurse=False)))"),
    # 2.4 weighted_knn_predict
    Wrong("weighted_knn", "L2-normalise the train features too (norms must not matter)",
          "train_feats = F.normalize(torch.as_tensor(train_feats, dtype=torch.float32), dim=1)",
          "train_feats = torch.as_tensor(train_feats, dtype=torch.float32)"),
    Wrong("weighted_knn", "vote weights exp(sim / T) (an unweighted majority vote)",
          "weights = (top_sim / T).exp()", "weights = torch.ones_like(top_sim)"),
    Wrong("weighted_knn", "labels of any integer dtype (int8 labels used as scatter indices)",
          "train_labels = torch.as_tensor(train_labels).long()", "train_labels = torch.as_tensor(train_labels)"),
    Wrong("weighted_knn", "all N neighbours when N < k", "sim.topk(min(k, sim.shape[1]), dim=1)", "sim.topk(k, dim=1)"),
    # 2.5 recall_at_k
    Wrong("recall_at_k", "success = at least one same-label item (precision@k instead)", ".any(axis=1)", ".mean(axis=1)"),
    Wrong("recall_at_k", "the top k items (k + 1 instead)", "[:, :k]", "[:, :k + 1]"),
    # 3.1 clicks_to_prompt
    Wrong("clicks_to_prompt", "y scales with the heights (the width ratio for both)",
          "np.array([image_w / display_w, image_h / display_h])", "np.array([image_w / display_w, image_w / display_w])"),
    Wrong("clicks_to_prompt", "coordinates are floats (integer division)",
          "coords = xy * np.array([image_w / display_w, image_h / display_h])",
          "coords = xy * np.array([image_w, image_h]) // np.array([display_w, display_h])"),
    Wrong("clicks_to_prompt", "labels are integers 1/0 (booleans instead)",
          "labels = np.array([1 if positive else 0 for _, _, positive in clicks], dtype=np.int64)",
          "labels = np.array([bool(positive) for _, _, positive in clicks])"),
    Wrong("clicks_to_prompt", "no clicks: coords of shape (0, 2)",
          "return np.zeros((0, 2), dtype=np.float32)", "return np.zeros((0,), dtype=np.float32)"),
    # 3.2 mask_to_box
    Wrong("mask_to_box", "x1, y1 are the last column / row inside the mask (exclusive instead)",
          "cols.max(), rows.max()", "cols.max() + 1, rows.max() + 1"),
    Wrong("mask_to_box", "an integer array (floats instead)", "dtype=np.int64", "dtype=np.float32"),
    Wrong("mask_to_box", "XYXY order (YXYX instead)", "[cols.min(), rows.min(), cols.max(), rows.max()]",
          "[rows.min(), cols.min(), rows.max(), cols.max()]"),
    # 3.3 stability_score
    Wrong("stability_score", "strict comparison >", "(mask_logits > threshold + offset)", "(mask_logits >= threshold + offset)"),
    Wrong("stability_score", "strict comparison > (on the low threshold)", "(mask_logits > threshold - offset)",
          "(mask_logits >= threshold - offset)"),
    Wrong("stability_score", "one score per mask (...): sums over every dim",
          "inner.float() / outer.float()", "inner.float().sum() / outer.float().sum()"),
    # 3.4 cluster_centroid_points
    Wrong("cluster_centroid_points", "the patch of the cluster nearest the centroid (the rounded centroid instead)",
          "points[int(label)] = ((cols[i] + 0.5) * width / grid_w, (rows[i] + 0.5) * height / grid_h)",
          "points[int(label)] = ((round(cx) + 0.5) * width / grid_w, (round(cy) + 0.5) * height / grid_h)"),
    Wrong("cluster_centroid_points", "the patch centre (col + 0.5)", "((cols[i] + 0.5) * width / grid_w, (rows[i] + 0.5)",
          "(cols[i] * width / grid_w, rows[i]"),
    Wrong("cluster_centroid_points", "nearest in Euclidean distance (Manhattan instead)",
          "(rows - cy) ** 2 + (cols - cx) ** 2", "abs(rows - cy) + abs(cols - cx)"),
    Wrong("cluster_centroid_points", "x = (col + 0.5) * W / w (grid height instead)", "width / grid_w", "width / grid_h"),
    # 4.1 pareto_front
    Wrong("pareto_front", "dominate: no worse on both and strictly better on one (strict on both instead)",
          "(other[x] < row[x] or other[y] > row[y])", "(other[x] < row[x] and other[y] > row[y])"),
    Wrong("pareto_front", "same x in input order", "sorted(front, key=lambda r: r[x])",
          "sorted(front[::-1], key=lambda r: r[x])"),
    Wrong("pareto_front", "identical rows do not dominate each other (one of them dropped)",
          "        if not dominated:\n            front.append(row)",
          "        if not dominated and all((r[x], r[y]) != (row[x], row[y]) for r in front):\n            front.append(row)"),
    # 4.2 select_model
    Wrong("select_model", "None = no constraint, 0 is a constraint", "(max_cost_per_1k is None or", "(not max_cost_per_1k or"),
    Wrong("select_model", "bounds are inclusive (<=)", 'row["p95_latency_s"] <= max_p95_latency_s', 'row["p95_latency_s"] < max_p95_latency_s'),
    Wrong("select_model", "equal accuracy and cost: the earlier model",
          'best = min(candidates, key=lambda row: (-row["accuracy"], row["cost_per_1k"]))',
          'best = sorted(candidates, key=lambda row: (row["accuracy"], -row["cost_per_1k"]))[-1]'),
    Wrong("select_model", "equal accuracy: the cheaper model (the faster one instead)",
          '(-row["accuracy"], row["cost_per_1k"])', '(-row["accuracy"], row["p95_latency_s"])'),
]
