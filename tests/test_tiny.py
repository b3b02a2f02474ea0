"""The one home of tiny mode: the switch, the note, and random-weights provenance carried by data."""

from __future__ import annotations

import gc
from dataclasses import dataclass

import numpy as np
import pytest

from course_utils import tiny


@dataclass
class _Maps:
    random_weights: bool


class _Module:  # stands in for an nn.Module (weak-referenceable, no attribute set by mark)
    pass


@pytest.mark.parametrize("value, on", [("1", True), ("yes", True), ("TRUE", True), ("", False), ("0", False),
                                       ("off", False), ("No", False), (" false ", False)])
def test_switch_reads_the_environment(monkeypatch, value, on):
    monkeypatch.setenv(tiny.TINY_ENV, value)
    assert tiny.enabled() is on
    assert tiny.enabled(True) is True and tiny.enabled(False) is False  # an explicit argument wins


def test_mark_remembers_a_module_without_touching_it():
    m = _Module()
    assert not tiny.is_random(m)
    assert tiny.mark(m) is m and tiny.is_random(m)
    assert vars(m) == {}  # nothing attached
    tiny.mark(m, False)
    assert not tiny.is_random(m)
    tiny.mark(m)
    n_before = len(tiny._random_modules)
    del m
    gc.collect()
    assert len(tiny._random_modules) == n_before - 1  # weak: a marked module can still be freed


def test_is_random_reads_the_data():
    assert tiny.is_random(_Maps(True)) and not tiny.is_random(_Maps(False))
    assert tiny.is_random({"random_weights": True}) and not tiny.is_random({"model": "x"})
    assert tiny.is_random([{"random_weights": False}, _Maps(True)])
    assert not tiny.is_random(np.zeros((4, 4)), "a string", None, False)
    assert tiny.is_random(None, True)


def test_the_switch_alone_does_not_make_data_random(monkeypatch):
    monkeypatch.setenv(tiny.TINY_ENV, "1")
    assert not tiny.is_random(_Maps(False), np.zeros(3))  # a pretrained result stays unmarked in tiny mode


def test_stamp_matplotlib_once():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    assert tiny.stamp(fig, _Maps(False)) is fig and not fig.texts
    tiny.stamp(fig, _Maps(True))
    tiny.stamp(fig, _Maps(True))
    assert [t.get_text() for t in fig.texts] == [tiny.NOTE]
    plt.close(fig)


def test_stamp_plotly_once():
    go = pytest.importorskip("plotly.graph_objects")
    fig = go.Figure()
    tiny.stamp(fig, {"random_weights": True})
    tiny.stamp(fig, {"random_weights": True})
    assert [a.text for a in fig.layout.annotations] == [tiny.NOTE]


def test_loaded_model_carries_the_flag():
    from course_utils.models import load_vit

    loaded = load_vit("vit_tiny", tiny=True)
    assert loaded.random_weights and loaded.tiny
    assert tiny.is_random(loaded) and tiny.is_random(loaded.model)
    assert not hasattr(loaded.model, "_course_utils_tiny")
