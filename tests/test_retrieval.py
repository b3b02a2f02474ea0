"""Cosine top-k against scikit-learn, FAISS against torch, few-shot against direct scikit-learn fits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.neighbors import KNeighborsClassifier

import course_utils.dino
import course_utils.retrieval as retrieval
from course_utils.features import FeatureMismatchError, Features
from course_utils.retrieval import (
    FeatureIndex,
    build_index,
    default_classifiers,
    faiss_available,
    few_shot_curve,
    sample_shots,
    search,
)


def feats(n: int, d: int = 24, model: str = "m", seed: int = 0, tiny: bool = True) -> Features:
    rng = np.random.default_rng(seed)
    return Features(torch.from_numpy(rng.normal(size=(n, d)).astype(np.float32)),
                    torch.zeros(n, 1, 1, d), model, tiny)


def oracle_topk(db: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = cosine_similarity(q, db)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, order, axis=1), order


def test_search_matches_sklearn_cosine():
    db, q = feats(500, seed=1), feats(20, seed=2)
    scores, idx = search(build_index(db, backend="torch"), q, k=7)
    want_s, want_i = oracle_topk(db.cls.numpy(), q.cls.numpy(), 7)
    np.testing.assert_array_equal(idx.numpy(), want_i)
    np.testing.assert_allclose(scores.numpy(), want_s, rtol=1e-5, atol=1e-6)
    assert scores.dtype == torch.float32 and idx.dtype == torch.int64


def test_chunked_search_is_identical(monkeypatch):
    db, q = feats(300, seed=3), feats(50, seed=4)
    index = build_index(db, backend="torch")
    full = index.search(q, 5)
    monkeypatch.setattr(retrieval, "_BLOCK", 600)  # 2 queries per block
    chunked = index.search(q, 5)
    assert torch.equal(full[1], chunked[1]) and torch.allclose(full[0], chunked[0])


@pytest.mark.skipif(not faiss_available(), reason="faiss-cpu not installed")
def test_faiss_gives_the_same_neighbours():
    db, q = feats(2000, d=64, seed=5), feats(30, d=64, seed=6)
    s_t, i_t = build_index(db, backend="torch").search(q, 10)
    s_f, i_f = build_index(db, backend="faiss").search(q, 10)
    assert torch.equal(i_t, i_f)
    torch.testing.assert_close(s_t, s_f, rtol=1e-5, atol=1e-5)


def test_self_query_finds_itself_and_labels_follow():
    db = feats(40, seed=7)
    index = FeatureIndex().add(db[:25], labels=list(range(25))).add(db[25:], labels=list(range(25, 40)))
    scores, idx = index.search(db, 1)
    np.testing.assert_array_equal(idx[:, 0].numpy(), np.arange(40))
    torch.testing.assert_close(scores[:, 0], torch.ones(40))
    np.testing.assert_array_equal(index.labels, np.arange(40))
    assert FeatureIndex().add(db[:5], labels=list("abcde")).add(db[5:10]).labels is None


def test_mixing_models_and_misuse_raise_clear_errors():
    index = build_index(feats(10, model="dinov2_vits14"))
    with pytest.raises(FeatureMismatchError, match="one index per model"):
        index.add(feats(3, model="dino_vits16"))
    with pytest.raises(FeatureMismatchError, match="same model"):
        index.search(feats(3, model="dino_vits16"), 1)
    with pytest.raises(FeatureMismatchError, match="one index per model"):
        index.add(feats(3, model="dinov2_vits14", tiny=False))  # pretrained vs tiny random
    with pytest.raises(FeatureMismatchError, match="different models"):
        index.search(np.zeros((2, 48)), 1)
    with pytest.raises(ValueError, match="larger than the index"):
        index.search(feats(1, model="dinov2_vits14"), 11)
    with pytest.raises(RuntimeError, match="call add"):
        FeatureIndex().search(np.zeros((1, 4)), 1)
    with pytest.raises(ValueError, match="empty"):
        FeatureIndex().add(np.zeros((0, 4)))
    with pytest.raises(TypeError, match="build_index"):
        search(np.zeros((3, 4)), np.zeros((1, 4)), 1)


def test_sample_shots_draws_exactly_s_per_class():
    labels = np.repeat(np.arange(4), [3, 5, 7, 9])
    idx = sample_shots(labels, 3, seed=0)
    np.testing.assert_array_equal(np.bincount(labels[idx]), [3, 3, 3, 3])
    np.testing.assert_array_equal(idx, sample_shots(labels, 3, seed=0))
    with pytest.raises(ValueError, match="only 3 training examples"):
        sample_shots(labels, 4)


def test_few_shot_curve_equals_direct_sklearn_fits():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 16)) * 3
    ytr, yte = np.repeat(np.arange(5), 12), np.repeat(np.arange(5), 8)
    xtr = centres[ytr] + rng.normal(size=(60, 16)) * 1.5
    xte = centres[yte] + rng.normal(size=(40, 16)) * 1.5
    result = few_shot_curve(xtr, ytr, xte, yte, shots=(1, 2, 5, 10), repeats=2, seed=0)
    assert result.shots == [1, 2, 5, 10] and result.n_classes == 5 and result.n_test == 40
    # Oracle for one point: refit by hand on the same draws.
    j, s = 2, 5
    accs_knn, accs_lin = [], []
    for r in range(2):
        idx = sample_shots(ytr, s, seed=0 + 1000 * r + s)
        knn = KNeighborsClassifier(n_neighbors=1, metric="cosine").fit(xtr[idx], ytr[idx])
        accs_knn.append((knn.predict(xte) == yte).mean())
        norm = xtr[idx] / np.linalg.norm(xtr[idx], axis=1, keepdims=True)
        lin = LogisticRegression(max_iter=2000, C=10.0).fit(norm, ytr[idx])
        accs_lin.append((lin.predict(xte / np.linalg.norm(xte, axis=1, keepdims=True)) == yte).mean())
    names = list(default_classifiers())
    assert result.accuracy[names[0]][j] == pytest.approx(np.mean(accs_knn))
    assert result.accuracy[names[1]][j] == pytest.approx(np.mean(accs_lin))
    assert result.accuracy[names[1]][-1] >= 0.9  # separable blobs: 10 shots suffice
    assert "shots/class" in result.table()


def test_few_shot_errors():
    with pytest.raises(ValueError, match="must match"):
        few_shot_curve(np.zeros((4, 3)), [0, 1, 0], np.zeros((2, 3)), [0, 1])
    with pytest.raises(FeatureMismatchError):
        few_shot_curve(feats(6, model="a"), [0, 1] * 3, feats(2, model="b"), [0, 1], shots=(1,))


def test_assignment_solutions_are_not_in_the_package():
    """Assignment 4 asks students to write these; course_utils must not ship them."""
    for module in (retrieval, course_utils.dino):
        for name in ("recall_at_k", "weighted_knn_predict", "dino_loss", "update_center", "ema_update"):
            assert not hasattr(module, name), f"{module.__name__}.{name} would give away Assignment 4"


def test_retrieval_gallery_figure_is_marked_random():
    import matplotlib

    matplotlib.use("Agg")
    from course_utils.models import RANDOM_WEIGHTS_NOTE
    from course_utils.viz import plot_few_shot, show_retrieval

    imgs = [np.full((8, 8, 3), v, dtype=np.uint8) for v in (0, 80, 160, 240)]
    fig = show_retrieval(imgs[:2], imgs, torch.tensor([[0.9, 0.5], [0.8, 0.1]]), torch.tensor([[0, 1], [3, 2]]),
                         query_labels=["a", "b"], db_labels=["a", "b", "b", "a"], data=build_index(feats(4)))
    assert len(fig.axes) == 6
    assert fig.axes[1].get_title().startswith("#1 s=0.900")
    assert any(RANDOM_WEIGHTS_NOTE in t.get_text() for t in fig.texts)
    # Row 2, neighbour 1 is db[3] labelled "a" for query "b": a red frame.
    assert fig.axes[4].spines["left"].get_edgecolor()[:3] == matplotlib.colors.to_rgb("red")
    result = few_shot_curve(np.eye(4), [0, 1, 0, 1], np.eye(4), [0, 1, 0, 1], shots=(1, 2))
    assert plot_few_shot(result).axes[0].get_xlabel().startswith("labelled")
