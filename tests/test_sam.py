"""SamSession, its embedding cache, prompt validation and auto_masks, checked against raw segment-anything."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from segment_anything import SamAutomaticMaskGenerator, SamPredictor

from course_utils.images import sample_image
from course_utils.models import ChecksumError, cache_dir, load_sam
from course_utils.sam import (
    AUTO_PRESETS,
    EmbeddingCache,
    SamSession,
    _image_hash,
    _points_per_batch,
    auto_masks,
    model_fingerprint,
    profile_parts,
)


@pytest.fixture(scope="module")
def tiny():
    return load_sam(tiny=True, device="cpu", seed=0)


@pytest.fixture(scope="module")
def image():
    return sample_image("chelsea")  # (300, 451, 3)


@pytest.fixture(scope="module")
def session(tiny, image):
    return SamSession(tiny, cache=EmbeddingCache(max_items=4)).set_image(image)


@pytest.fixture(scope="module")
def oracle(tiny, image):
    predictor = SamPredictor(tiny.model)
    predictor.set_image(image)
    return predictor


def _same(result, raw):
    masks, scores, logits = raw
    np.testing.assert_array_equal(result.masks, masks)
    np.testing.assert_array_equal(result.scores, scores)
    np.testing.assert_array_equal(result.logits, logits)


# --------------------------------------------------------------------------- predictions = raw SamPredictor


def test_point_prompt_matches_raw_predictor(session, oracle):
    result = session.predict(points=[(225, 150)], labels=[1])
    _same(result, oracle.predict(np.array([[225.0, 150.0]]), np.array([1])))
    assert result.masks.dtype == bool and result.masks.shape == (3, 300, 451)
    assert result.best == int(np.argmax(result.scores))


def test_points_box_and_single_mask_match_raw_predictor(session, oracle):
    pts, labs, box = [(225, 150), (40, 30)], [1, 0], (100, 50, 400, 280)
    result = session.predict(points=pts, labels=labs, box=box, multimask=False)
    raw = oracle.predict(np.array(pts, float), np.array(labs), np.array(box, float), multimask_output=False)
    _same(result, raw)
    assert result.masks.shape == (1, 300, 451)


def test_single_point_pair_and_default_labels(session, oracle):
    _same(session.predict(points=(10.5, 20.25)), oracle.predict(np.array([[10.5, 20.25]]), np.array([1])))


def test_refinement_with_previous_logits_matches_raw_predictor(session, oracle):
    first = session.predict(points=[(225, 150)], labels=[1])
    prev = first.logits[first.best][None]
    result = session.predict(points=[(225, 150), (300, 100)], labels=[1, 1], mask=prev, multimask=False)
    raw = oracle.predict(np.array([[225, 150], [300, 100]], float), np.array([1, 1]), mask_input=prev,
                         multimask_output=False)
    _same(result, raw)
    _same(session.predict(points=[(225, 150)], mask=prev[0]), oracle.predict(
        np.array([[225.0, 150.0]]), np.array([1]), mask_input=prev))  # (256, 256) accepted too


def test_box_partly_outside_is_clipped_to_the_image(session, oracle):
    result = session.predict(box=(-50, -10, 500, 200))
    _same(result, oracle.predict(box=np.array([0, 0, 451, 200], float)))


def test_bgr_model_format_is_respected(tiny, image):
    # the caching predictor must flip channels exactly like SamPredictor.set_image does
    sess = SamSession(tiny, cache=False)
    sess.predictor.set_image(image[..., ::-1], image_format="BGR")
    raw = SamPredictor(tiny.model)
    raw.set_image(image)
    assert torch.equal(sess.predictor.features, raw.features)


# --------------------------------------------------------------------------- misuse and bad input


def test_predict_before_set_image_says_what_to_call(tiny):
    fresh = SamSession(tiny, cache=False)
    with pytest.raises(RuntimeError, match=r"set_image\(image\) before predict"):
        fresh.predict(points=[(1, 1)], labels=[1])
    with pytest.raises(RuntimeError, match="set_image"):
        fresh.get_image_embedding()


@pytest.mark.parametrize("kwargs, pattern", [
    ({"points": [(451, 10)], "labels": [1]}, r"outside the image of width 451 and height 300"),
    ({"points": [(10, -1)], "labels": [1]}, r"0 <= y < 300"),
    ({"points": [(20, 350)], "labels": [1]}, r"\(y, x\)"),  # (row, col) mix-up gets a hint
    ({"points": [(1, 2, 3)], "labels": [1]}, r"\(N, 2\)"),
    ({"points": [(np.nan, 2)], "labels": [1]}, r"NaN"),
    ({"points": [(1, 2)], "labels": [2]}, r"1 \(foreground\) or 0 \(background\)"),
    ({"points": [(1, 2), (3, 4)], "labels": [1]}, r"2 points but 1 labels"),
    ({"labels": [1]}, r"without points"),
    ({"box": (300, 50, 100, 280)}, r"x0 < x1 and y0 < y1.*XYWH"),
    ({"box": (10, 10, 10, 20)}, r"x0 < x1"),
    ({"box": (500, 10, 600, 20)}, r"entirely outside"),
    ({"box": (1, 2, 3)}, r"one XYXY box"),
    ({"points": [(5, 5)], "mask": np.zeros((300, 451), np.float32)}, r"low-res logits.*full-resolution"),
    ({"points": [(5, 5)], "mask": np.zeros((1, 256, 256), bool)}, r"not a bool"),
    ({}, r"at least one prompt"),
])
def test_bad_prompts_get_clear_errors(session, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        session.predict(**kwargs)


def test_bool_labels_are_accepted(session, oracle):
    _same(session.predict(points=[(20, 20), (200, 100)], labels=[True, False]),
          oracle.predict(np.array([[20, 20], [200, 100]], float), np.array([1, 0])))


def test_rgba_and_grayscale_images_are_converted(tiny, image):
    rgba = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    rgba[:50, :50, 3] = 0  # transparent corner -> white (load_image composites onto white)
    expected = image.copy()
    expected[:50, :50] = 255
    sess = SamSession(tiny, cache=False).set_image(rgba)
    np.testing.assert_array_equal(sess.image, expected)
    raw = SamPredictor(tiny.model)
    raw.set_image(expected)
    assert torch.equal(sess.get_image_embedding(), raw.features)

    gray = image[..., 1]
    sess.set_image(gray)
    np.testing.assert_array_equal(sess.image, np.dstack([gray] * 3))
    assert sess.image_size == (300, 451)


def test_damaged_checkpoint_gets_a_clear_error():
    dest = cache_dir() / "url" / "sam_vit_b_01ec64.pth"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(b"not a checkpoint")
    try:
        with pytest.raises(ChecksumError, match="damaged or incomplete.*fetch-weights"):
            load_sam("sam_vit_b", tiny=False, device="cpu")
    finally:
        dest.unlink()


# --------------------------------------------------------------------------- embedding cache


def test_cache_hit_returns_identical_embedding(tiny, image):
    cache = EmbeddingCache(max_items=2)
    first = SamSession(tiny, cache=cache).set_image(image)
    assert first.last_cache_hit is None and first.last_encoder_seconds is not None
    emb = first.get_image_embedding().clone()
    first.set_image(image)
    assert first.last_cache_hit == "current"
    second = SamSession(tiny, cache=cache).set_image(image.copy())  # e.g. a re-run cell
    assert second.last_cache_hit == "memory"
    assert torch.equal(second.get_image_embedding(), emb)
    # LRU: two other images push the first one out
    second.set_image(sample_image("coffee")[:200, :200])
    second.set_image(sample_image("rocket")[:200, :200])
    second.set_image(image)
    assert second.last_cache_hit is None
    assert torch.equal(second.get_image_embedding(), emb)


def test_different_tiny_models_never_share_entries(tiny, image):
    other = load_sam(tiny=True, device="cpu", seed=1)
    same = load_sam(tiny=True, device="cpu", seed=0)
    assert model_fingerprint(other) != model_fingerprint(tiny)
    assert model_fingerprint(same) == model_fingerprint(tiny)
    assert model_fingerprint(tiny).startswith("tiny-d32x2-s1024")
    cache = EmbeddingCache()
    SamSession(tiny, cache=cache).set_image(image)
    sess = SamSession(other, cache=cache).set_image(image)
    assert sess.last_cache_hit is None
    raw = SamPredictor(other.model)
    raw.set_image(image)
    assert torch.equal(sess.get_image_embedding(), raw.features)


def test_pretrained_registry_models_are_keyed_by_checkpoint(tiny):
    from course_utils.models import build_sam_architecture

    sam = build_sam_architecture({"encoder_embed_dim": 32, "encoder_depth": 2, "encoder_num_heads": 2,
                                  "encoder_global_attn_indexes": [1]})
    sam._course_utils_name, sam._course_utils_tiny = "sam_vit_b", False
    assert model_fingerprint(sam) == "sam_vit_b-ec2df62732614e57-d32x2-s1024-float32"


def test_disk_cache_survives_a_new_process_state(tiny, image, tmp_path):
    writer = SamSession(tiny, cache=EmbeddingCache(max_items=0, disk=tmp_path))
    writer.set_image(image)
    files = list(tmp_path.rglob("*.npz"))
    assert len(files) == 1 and files[0].parent.name == model_fingerprint(tiny)
    reader = SamSession(tiny, cache=EmbeddingCache(max_items=0, disk=tmp_path)).set_image(image)
    assert reader.last_cache_hit == "disk"
    assert torch.equal(reader.get_image_embedding(), writer.get_image_embedding())
    assert reader.predictor.original_size == (300, 451) and reader.predictor.input_size == (681, 1024)
    files[0].write_bytes(b"garbage")  # a damaged entry is dropped and recomputed, with a warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = SamSession(tiny, cache=EmbeddingCache(max_items=0, disk=tmp_path)).set_image(image)
    assert again.last_cache_hit is None and any("damaged" in str(w.message) for w in caught)
    assert torch.equal(again.get_image_embedding(), writer.get_image_embedding())


def test_disk_cache_default_location(tiny, image):
    sess = SamSession(tiny, disk_cache=True)
    assert sess.cache is not None and sess.cache.disk_dir == cache_dir() / "sam_embeddings"


# --------------------------------------------------------------------------- automatic masks


@pytest.mark.slow
def test_auto_masks_match_the_raw_generator_sorted_by_area(tiny, image):
    small = np.ascontiguousarray(image[::3, ::3])  # (100, 151): keeps the test fast
    settings = {"points_per_side": 3, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}
    sess = SamSession(tiny, cache=EmbeddingCache()).set_image(image)
    records = auto_masks(sess, small, preset="cpu", **settings)
    raw = SamAutomaticMaskGenerator(tiny.model, points_per_batch=32, **settings).generate(small)
    raw.sort(key=lambda r: -r["area"])
    assert len(records) == len(raw) > 0
    for ours, theirs in zip(records, raw):
        np.testing.assert_array_equal(ours["segmentation"], theirs["segmentation"])
        assert ours["predicted_iou"] == theirs["predicted_iou"]
    areas = [r["area"] for r in records]
    assert areas == sorted(areas, reverse=True)
    # the session still works on its own image afterwards, from the cache
    assert sess.last_cache_hit == "memory"
    np.testing.assert_array_equal(sess.image, image)
    # and a second run reuses the embedding of the small image
    auto_masks(sess, small, **settings)
    assert sess.predictor.cache.get((sess.fingerprint, _image_hash(small)))[0] is not None


def test_auto_masks_presets_and_errors(tiny):
    assert AUTO_PRESETS["gpu"]["points_per_side"] == 32 and AUTO_PRESETS["cpu"]["points_per_side"] == 16
    with pytest.raises(ValueError, match="preset"):
        auto_masks(tiny, np.zeros((8, 8, 3), np.uint8), preset="tpu")


def test_points_per_batch_budget_hand_computed():
    # 3 logits of 4 bytes + 3 bools per point: 1000 x 1000 image -> 15 MB per point
    assert _points_per_batch(64, (1000, 1000, 3), 4096) == 64
    assert _points_per_batch(64, (1000, 1000, 3), 300) == 20
    assert _points_per_batch(32, (4000, 3000, 3), 512) == 2
    assert _points_per_batch(32, (20000, 20000, 3), 512) == 1


def test_profile_parts_times_each_part(session):
    times = profile_parts(session, points=[(225, 150)], labels=[1], repeats=1)
    assert set(times) == {"image_encoder", "prompt_encoder", "mask_decoder", "postprocess"}
    assert all(v > 0 for v in times.values())


def test_show_sam_prediction_marks_random_weights_and_draws_each_mask(session):
    import matplotlib.pyplot as plt

    from course_utils.models import RANDOM_WEIGHTS_NOTE
    from course_utils.viz import overlay_mask, show_sam_prediction

    result = session.predict(points=[(225, 150)], labels=[1])
    fig = show_sam_prediction(session.image, result, points=[(225, 150)], labels=[1])
    assert len(fig.axes) == 3 and RANDOM_WEIGHTS_NOTE in [t.get_text() for t in fig.texts]
    assert "★" in fig.axes[result.best].get_title()
    shown = fig.axes[0].images[0].get_array()
    tinted = overlay_mask(session.image, result.masks[0])
    far = (slice(0, 100), slice(300, 451))  # away from the drawn point
    np.testing.assert_array_equal(np.asarray(shown)[far], tinted[far])
    with pytest.raises(ValueError, match="low-res logits"):
        show_sam_prediction(session.image, result.logits)
    plt.close("all")


# --------------------------------------------------------------------------- shared state: copies, not aliases


def test_embedding_handed_out_is_a_copy_and_the_cache_stays_intact(tiny, image, oracle):
    """Editing an embedding in place changes neither the session nor the shared cache (raw predictor = oracle)."""
    cache = EmbeddingCache(max_items=2)
    first = SamSession(tiny, cache=cache).set_image(image)
    first.get_image_embedding().zero_()                       # a student edits "their" tensor
    first.predictor.get_image_embedding().mul_(-1)            # or segment-anything's own accessor
    second = SamSession(tiny, cache=cache).set_image(image.copy())
    assert second.last_cache_hit == "memory"
    assert torch.equal(second.get_image_embedding(), oracle.features)
    second.get_image_embedding().zero_()
    _same(second.predict(points=[(225, 150)]), oracle.predict(np.array([[225.0, 150.0]]), np.array([1])))
    third = SamSession(tiny, cache=cache).set_image(image.copy())
    assert third.last_cache_hit == "memory" and torch.equal(third.get_image_embedding(), oracle.features)


def test_session_image_is_a_private_copy_that_auto_masks_restores(tiny, image, oracle, session):
    """Drawing on the caller's array after set_image changes nothing the session encodes or restores."""
    mine = image.copy()
    sess = SamSession(tiny, cache=session.cache).set_image(mine)   # the fixture's cache: no extra encode
    assert not np.shares_memory(sess.image, mine)
    mine[100:200, 100:300] = 0                                # the caller draws on their own array
    np.testing.assert_array_equal(sess.image, image)
    with pytest.raises(ValueError, match="read-only"):
        sess.image[0, 0, 0] = 1                               # and the session's copy cannot be edited
    small = np.ascontiguousarray(image[::10, ::10])           # (30, 46): keeps the generator fast
    auto_masks(sess, small, points_per_side=2, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    np.testing.assert_array_equal(sess.image, image)          # restored from the private copy...
    assert sess.last_cache_hit == "memory"                    # ...which is the embedding of the original
    assert torch.equal(sess.get_image_embedding(), oracle.features)
    _same(sess.predict(points=[(225, 150)]), oracle.predict(np.array([[225.0, 150.0]]), np.array([1])))
