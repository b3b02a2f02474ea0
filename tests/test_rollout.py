"""Attention rollout against a hand-computed example and a plain-loop reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.attention import AttentionMaps
from course_utils.rollout import attention_rollout, rollout_map


def test_two_layers_by_hand():
    """One head, two tokens, two layers, computed on paper.

    A1 = [[.5, .5], [.2, .8]] -> 0.5 A1 + 0.5 I = [[.75, .25], [.10, .90]]
    A2 = [[.9, .1], [.4, .6]] -> 0.5 A2 + 0.5 I = [[.95, .05], [.20, .80]]
    R  = A2' @ A1' = [[.95*.75 + .05*.10, .95*.25 + .05*.90], [.20*.75 + .80*.10, .20*.25 + .80*.90]]
       = [[.7175, .2825], [.23, .77]]
    """
    attn = torch.tensor([[[[0.5, 0.5], [0.2, 0.8]]], [[[0.9, 0.1], [0.4, 0.6]]]])  # (L=2, H=1, 2, 2)
    result = attention_rollout(attn)
    assert result.shape == (1, 2, 2)
    torch.testing.assert_close(result[0], torch.tensor([[0.7175, 0.2825], [0.23, 0.77]]))


def test_two_heads_max_fusion_needs_row_renormalisation_by_hand():
    """Max over two heads does not keep rows stochastic, so the renormalisation matters.

    heads [[.5, .5], [.2, .8]] and [[.9, .1], [.6, .4]] -> max [[.9, .5], [.6, .8]]
    + I, /2: [[.95, .25], [.3, .9]] -> rows / (1.2, 1.2) = [[19/24, 5/24], [1/4, 3/4]]
    one layer only, so R is that matrix.
    """
    attn = torch.tensor([[[[0.5, 0.5], [0.2, 0.8]], [[0.9, 0.1], [0.6, 0.4]]]])  # (L=1, H=2, 2, 2)
    result = attention_rollout(attn, head_fusion="max")[0]
    torch.testing.assert_close(result, torch.tensor([[19 / 24, 5 / 24], [1 / 4, 3 / 4]]))
    result = attention_rollout(attn, head_fusion="min")[0]
    # min [[.5, .1], [.2, .4]] -> [[.75, .05], [.1, .7]] / (.8, .8)
    torch.testing.assert_close(result, torch.tensor([[0.75 / 0.8, 0.05 / 0.8], [0.1 / 0.8, 0.7 / 0.8]]))


def test_discard_by_hand_spares_cls_self_entry():
    """Three tokens; discard_ratio 0.5 drops int(0.5 * (9 - 1)) = 4 lowest entries, never (0, 0)."""
    a = torch.tensor([[0.01, 0.49, 0.50],   # (0,0) is the smallest entry but is protected
                      [0.30, 0.40, 0.30],
                      [0.05, 0.15, 0.80]])
    # unprotected entries sorted: .05, .15, .30, .30, .40, .49, .50, .80 -> the four lowest
    # are .05, .15 and both .30s
    kept = torch.tensor([[0.01, 0.49, 0.50],
                         [0.00, 0.40, 0.00],
                         [0.00, 0.00, 0.80]])
    expected = 0.5 * kept + 0.5 * torch.eye(3)
    expected = expected / expected.sum(-1, keepdim=True)
    result = attention_rollout(a[None, None], discard_ratio=0.5)[0]
    torch.testing.assert_close(result, expected)


def _reference(attn: np.ndarray, fusion: str, prefix: int, ratio: float) -> np.ndarray:
    """Plain numpy loop over samples and layers."""
    out = []
    for sample in attn:
        n = sample.shape[-1]
        r = np.eye(n)
        for layer in sample:
            f = {"mean": layer.mean(0), "max": layer.max(0), "min": layer.min(0)}[fusion].astype(np.float64)
            if ratio:
                flat = f.ravel().copy()
                order = [i for i in np.argsort(flat, kind="stable") if not (i // n == i % n and i // n < prefix)]
                flat[order[: int(ratio * (n * n - min(prefix, n)))]] = 0
                f = flat.reshape(n, n)
            a = 0.5 * f + 0.5 * np.eye(n)
            a = a / a.sum(axis=1)[:, None]
            r = a @ r
        out.append(r)
    return np.stack(out)


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.9])
def test_matches_reference_on_random_batches(fusion, ratio):
    g = torch.Generator().manual_seed(0)
    attn = torch.rand(3, 4, 2, 7, 7, generator=g).softmax(-1)  # (B, L, H, N, N), continuous: no ties
    result = attention_rollout(attn, head_fusion=fusion, discard_ratio=ratio, num_prefix_tokens=2)
    np.testing.assert_allclose(result.numpy(), _reference(attn.numpy(), fusion, 2, ratio), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(result.sum(-1), torch.ones(3, 7))


def test_batch_items_are_independent():
    """The missing-keepdim slip mixes rows; each sample must equal its own single-sample rollout."""
    g = torch.Generator().manual_seed(1)
    attn = torch.rand(2, 3, 2, 5, 5, generator=g)  # unnormalised rows on purpose
    batch = attention_rollout(attn, head_fusion="max")
    for b in range(2):
        torch.testing.assert_close(batch[b], attention_rollout(attn[b], head_fusion="max")[0])


def test_rollout_map_from_attention_maps_and_errors():
    g = torch.Generator().manual_seed(2)
    attn = torch.rand(1, 2, 3, 1 + 2 + 6, 9, generator=g).softmax(-1)  # CLS + 2 registers + 2x3 patches
    maps = AttentionMaps(attn=attn, num_prefix_tokens=3, grid=(2, 3))
    heat = rollout_map(maps)
    full = attention_rollout(attn, num_prefix_tokens=3)[0]
    np.testing.assert_allclose(heat, full[0, 3:].reshape(2, 3).numpy(), rtol=1e-6)
    np.testing.assert_allclose(rollout_map(maps, query=1), full[1, 3:].reshape(2, 3).numpy(), rtol=1e-6)
    torch.testing.assert_close(attention_rollout(maps), full[None])
    with pytest.raises(ValueError, match="head_fusion"):
        attention_rollout(attn, head_fusion="median")
    with pytest.raises(ValueError, match="discard_ratio"):
        attention_rollout(attn, discard_ratio=1.0)
    with pytest.raises(ValueError, match="shape"):
        attention_rollout(torch.rand(3, 4, 4))
    with pytest.raises(TypeError, match="capture_attention"):
        rollout_map(attn)
