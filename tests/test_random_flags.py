"""Results computed from a model copy its random-weights flag (``tiny.is_random(model)``), and only that."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import tiny
from course_utils.images import sample_image


@pytest.fixture(scope="module")
def image():
    return np.ascontiguousarray(sample_image("chelsea")[::6, ::6])  # (50, 76): keeps SAM fast


def test_sam_session_predictions_and_auto_masks_follow_the_model(image):
    from course_utils.models import load_sam
    from course_utils.sam import EmbeddingCache, SamSession, auto_masks

    loaded = load_sam(tiny=True, device="cpu", seed=0)
    session = SamSession(loaded, cache=EmbeddingCache()).set_image(image)
    pred = session.predict(points=[(30, 20)], labels=[1])
    masks, scores, logits = pred  # still unpacks as three
    assert session.random_weights and session.tiny and pred.random_weights
    records = auto_masks(session, image, points_per_side=2, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    assert records.random_weights and tiny.is_random(records)
    # The same module, declared trained: nothing computed from it claims random weights.
    bare = loaded.model
    tiny.mark(bare, False)
    try:
        clean = SamSession(bare, cache=EmbeddingCache()).set_image(image)
        assert not clean.random_weights and not clean.predict(points=[(30, 20)]).random_weights
        again = auto_masks(clean, image, points_per_side=2, pred_iou_thresh=0.0, stability_score_thresh=0.0)
        assert not again.random_weights
    finally:
        tiny.mark(bare, True)


def test_features_index_few_shot_and_cosegmentation_carry_the_flag():
    from course_utils.clustering import cosegment
    from course_utils.features import Features, extract_features
    from course_utils.models import load_dinov2
    from course_utils.retrieval import build_index, few_shot_curve

    dino = load_dinov2("dinov2_vits14", tiny=True, device="cpu")
    photos = [sample_image("motorcycle_left"), sample_image("motorcycle_right")]
    assert cosegment(photos, k=2, model=dino).random_weights
    feats = extract_features(dino, photos)
    assert feats.random_weights and cosegment(feats, k=2).random_weights
    declared = Features(feats.cls, feats.patches, "m", False)  # the same numbers, said to be trained
    assert not cosegment(declared, k=2).random_weights
    rng = np.random.default_rng(0)
    trained = Features(rng.normal(size=(6, 8)).astype(np.float32), np.zeros((6, 1, 1, 8), np.float32), "m", False)
    random = Features(trained.cls, trained.patches, "m", True)
    assert random.tiny and not trained.tiny  # the old name stays
    assert build_index(random).random_weights and not build_index(trained).random_weights
    labels = [0, 1] * 3
    assert few_shot_curve(random, labels, random, labels, shots=(1,), repeats=1).random_weights
    assert not few_shot_curve(trained, labels, trained, labels, shots=(1,), repeats=1).random_weights
