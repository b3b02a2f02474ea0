"""The ViT-vs-CNN digits experiment: honest split, reproducible runs, correct bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score

from course_utils import data_efficiency as de
from course_utils.viz import plot_data_efficiency


def test_split_is_a_fixed_stratified_30_percent():
    x_pool, x_test, y_pool, y_test = de._digits()
    digits = load_digits()
    assert len(x_test) == 540 and len(x_pool) == 1257 and x_pool.shape[1:] == (1, 8, 8)
    # stratified: every class keeps its share (within one image)
    assert np.all(np.abs(np.bincount(y_test) - 0.3 * np.bincount(digits.target)) <= 1)
    assert x_pool.max() <= 1.0 and x_pool.min() >= 0.0
    # no test image leaks into the training pool (the data set has a few exact duplicates)
    pool = {row.tobytes() for row in x_pool.reshape(len(x_pool), -1)}
    leak = [row.tobytes() in pool for row in x_test.reshape(len(x_test), -1)]
    assert sum(leak) <= 5


def test_parameter_counts_by_hand():
    cnn = de._make_model("cnn")
    # conv 1->16 3x3: 144+16, conv 16->32 3x3: 4608+32, linear 128->10: 1280+10
    assert sum(p.numel() for p in cnn.parameters()) == 160 + 4640 + 1290
    assert cnn(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    vit = de._make_model("vit")
    assert vit.patch_embed.grid_size == (2, 2) and vit.num_prefix_tokens == 1
    with pytest.raises(ValueError, match="'vit' or 'cnn'"):
        de._make_model("mlp")


def test_reported_accuracy_is_sklearn_accuracy_and_reproducible():
    x_pool, x_test, y_pool, y_test = de._digits()
    acc, params, model = de._train_eval("cnn", x_pool[:200], y_pool[:200], x_test, y_test, steps=60, seed=0)
    with torch.no_grad():
        pred = model(torch.from_numpy(x_test)).argmax(-1).numpy()
    assert acc == pytest.approx(accuracy_score(y_test, pred))
    assert acc > 0.5  # it learns something in 60 steps (chance is 0.1)
    again, _, _ = de._train_eval("cnn", x_pool[:200], y_pool[:200], x_test, y_test, steps=60, seed=0)
    assert again == acc


def test_run_rows_and_summary():
    rows = de.run_data_efficiency(train_sizes=(20, 40), seeds=(0, 1), steps=5, models=("cnn",), progress=False)
    assert [(r["n_train"], r["seed"]) for r in rows] == [(20, 0), (20, 1), (40, 0), (40, 1)]
    summary = de.summarize_data_efficiency(rows)["cnn"]
    np.testing.assert_array_equal(summary["n_train"], [20, 40])
    by_hand = [np.mean([rows[0]["accuracy"], rows[1]["accuracy"]]), np.mean([rows[2]["accuracy"], rows[3]["accuracy"]])]
    np.testing.assert_allclose(summary["mean"], by_hand)
    np.testing.assert_allclose(summary["std"][0], np.std([rows[0]["accuracy"], rows[1]["accuracy"]]))
    with pytest.raises(ValueError, match="train_sizes"):
        de.run_data_efficiency(train_sizes=(5000,), progress=False)


def test_summary_and_plot_on_known_rows():
    rows = [{"model": "vit", "n_train": n, "seed": s, "accuracy": a, "params": 100, "steps": 10, "seconds": 0.0}
            for n, s, a in [(10, 0, 0.5), (10, 1, 0.7), (100, 0, 0.9), (100, 1, 0.9)]]
    s = de.summarize_data_efficiency(rows)["vit"]
    np.testing.assert_allclose(s["mean"], [0.6, 0.9])
    np.testing.assert_allclose(s["std"], [0.1, 0.0], atol=1e-12)
    fig = plot_data_efficiency(rows)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    texts = " ".join(t.get_text() for t in fig.texts)
    assert "RANDOM WEIGHTS" not in texts  # these models were trained, not random


def test_quick_preset_in_tiny_mode(monkeypatch):
    seen = {}

    def fake_train_eval(kind, x_tr, y_tr, x_te, y_te, steps, seed):
        seen.setdefault("steps", steps)
        return 0.5, 1, None

    monkeypatch.setattr(de, "_train_eval", fake_train_eval)
    rows = de.run_data_efficiency(progress=False)  # conftest sets COURSE_UTILS_TINY=1
    assert seen["steps"] == de.QUICK["steps"]
    assert sorted({r["n_train"] for r in rows}) == list(de.QUICK["train_sizes"])
