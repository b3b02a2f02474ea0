"""SAM 3 concept prompts on a tiny random Sam3Model: the oracle is transformers' own processor + model.

``segment_concept`` must equal ``Sam3Processor.post_process_instance_segmentation`` of the
model's outputs on the same inputs (sorted by score); its mask boxes must contain their masks;
thresholds behave as documented; bad prompts fail with errors that name the fix.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils import models
from course_utils.concept import ConceptResult, concept_inputs, mask_boxes, segment_concept
from course_utils.images import sample_image
from course_utils.models import load_sam3


@pytest.fixture(scope="module")
def sam3():
    return load_sam3(tiny=True, device="cpu")


@pytest.fixture(scope="module")
def coffee():
    return sample_image("coffee")  # 400 x 600 RGB


@pytest.fixture(scope="module")
def everything(sam3, coffee):
    return segment_concept(sam3, coffee, "cup", threshold=0.0)


def test_registry_row_matches_transformers_architecture():
    """840.38M parameters: transformers' Sam3Model at the published default config (meta device)."""
    import transformers as tf

    with torch.device("meta"):
        model = tf.Sam3Model(tf.Sam3Config())
    spec = models.REGISTRY["sam3"]
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(spec.params_m, abs=0.01)
    assert spec.ref == "facebook/sam3" and spec.licence == "SAM License" and spec.gated is True


def test_tiny_sam3_is_the_same_family(sam3):
    """Tiny mode: a transformers Sam3Model with every SAM 3 part, and a Sam3Processor with a tokenizer."""
    import transformers as tf

    assert isinstance(sam3.model, tf.Sam3Model) and isinstance(sam3.processor, tf.Sam3Processor)
    for part in ("vision_encoder", "text_encoder", "geometry_encoder", "detr_encoder", "detr_decoder",
                 "mask_decoder", "dot_product_scoring"):
        assert hasattr(sam3.model, part)
    assert sam3.tiny and sum(p.numel() for p in sam3.model.parameters()) < 1e6


def test_equals_processor_post_processing_of_the_model_outputs(sam3, coffee, everything):
    """Masks, boxes and scores are the processor's own instance segmentation (oracle), best first."""
    proc = sam3.processor
    inputs = proc(images=coffee, text="cup", return_tensors="pt")
    sizes = inputs.pop("original_sizes").tolist()
    with torch.no_grad():
        out = sam3.model(**inputs)
    ref = proc.post_process_instance_segmentation(out, threshold=0.0, mask_threshold=0.5, target_sizes=sizes)[0]
    order = torch.argsort(ref["scores"], descending=True, stable=True)
    assert len(everything) == len(ref["scores"]) == 20  # every query of the tiny detector passes threshold 0
    np.testing.assert_allclose(everything.scores, ref["scores"][order].numpy(), rtol=1e-6)
    np.testing.assert_allclose(everything.boxes, ref["boxes"][order].numpy(), rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(everything.masks, ref["masks"][order].bool().numpy())
    assert everything.masks.dtype == bool and everything.masks.shape == (20, 400, 600)
    assert np.all(np.diff(everything.scores) <= 0) and everything.random_weights


def test_exemplar_boxes_reach_the_model(sam3, coffee):
    """A positive exemplar box changes the outputs, and the processor got it as normalised cxcywh."""
    inputs, _, text = concept_inputs(sam3, coffee, "cup", boxes=[(60, 40, 300, 200)], box_labels=[1])
    np.testing.assert_allclose(inputs["input_boxes"][0, 0].numpy(),
                               [180 / 600, 120 / 400, 240 / 600, 160 / 400], rtol=1e-6)
    assert inputs["input_boxes_labels"].tolist() == [[1]] and text == "cup"
    plain = segment_concept(sam3, coffee, "cup", threshold=0.0)
    boxed = segment_concept(sam3, coffee, "cup", boxes=[(60, 40, 300, 200)], threshold=0.0)
    assert not np.allclose(plain.scores, boxed.scores)
    visual = segment_concept(sam3, coffee, None, boxes=[[60, 40, 300, 200], [320, 50, 500, 300]],
                             box_labels=[1, 0], threshold=0.0)
    assert visual.phrase is None and len(visual) == 20 and "exemplar boxes" in visual.note


def test_mask_boxes_contain_their_masks(everything):
    """Each tight box contains every pixel of its mask and touches it on all four sides."""
    boxes = everything.mask_boxes
    for mask, (x0, y0, x1, y1) in zip(everything.masks, boxes):
        if not mask.any():
            assert np.isnan([x0, y0, x1, y1]).all()
            continue
        ys, xs = np.nonzero(mask)
        assert xs.min() == x0 and ys.min() == y0 and xs.max() + 1 == x1 and ys.max() + 1 == y1
        inside = np.zeros_like(mask)
        inside[int(y0):int(y1), int(x0):int(x1)] = True
        assert not (mask & ~inside).any()
    hand = np.zeros((2, 5, 6), dtype=bool)
    hand[0, 1:3, 2:5] = True
    np.testing.assert_array_equal(mask_boxes(hand)[0], [2, 1, 5, 3])
    assert np.isnan(mask_boxes(hand)[1]).all()


def test_thresholds(sam3, coffee, everything):
    """A higher score threshold keeps exactly the instances above it; mask_threshold shrinks masks."""
    cut = float(np.median(everything.scores))
    high = segment_concept(sam3, coffee, "cup", threshold=cut)
    assert len(high) == int((everything.scores > cut).sum()) and (high.scores > cut).all()
    np.testing.assert_allclose(high.scores, everything.above(cut).scores)
    np.testing.assert_array_equal(everything.best(3).masks, everything.masks[:3])
    assert len(segment_concept(sam3, coffee, "cup", threshold=1.0)) == 0  # sigmoid scores never exceed 1
    strict = segment_concept(sam3, coffee, "cup", threshold=0.0, mask_threshold=0.9)
    assert strict.masks.sum() <= everything.masks.sum()
    assert (strict.masks <= everything.masks).all()  # a stricter mask is a subset of the looser one


def test_draws_with_the_existing_overlays(everything, coffee):
    """The result feeds viz.overlay_masks / draw_boxes directly; the figure says RANDOM WEIGHTS."""
    from course_utils import viz

    top = everything.above(float(everything.scores[3]))
    out = viz.draw_boxes(viz.overlay_masks(coffee, top.masks), top.boxes)
    assert out.shape == coffee.shape and out.dtype == np.uint8 and (out != coffee).any()
    fig = viz.show_concept(coffee, everything, max_instances=4)
    texts = [t.get_text() for t in fig.texts]
    assert any("RANDOM WEIGHTS" in t for t in texts)
    import matplotlib.pyplot as plt

    plt.close(fig)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"phrase": ""}, ValueError, "phrase is empty"),
    ({"phrase": "   "}, ValueError, "phrase is empty"),
    ({"phrase": None}, ValueError, "Give a concept"),
    ({"phrase": ["cat", "dog"]}, TypeError, "once per phrase"),
    ({"phrase": "a " * 40}, ValueError, "too long"),
    ({"phrase": "cup", "boxes": [(10, 10, 5, 50)]}, ValueError, "not XYXY"),
    ({"phrase": "cup", "boxes": [(10, 10, 50)]}, ValueError, r"shape \(K, 4\)"),
    ({"phrase": "cup", "boxes": [(10, 10, 700, 50)]}, ValueError, "leaves the 600x400 image"),
    ({"phrase": "cup", "boxes": [(10, 10, 50, 50)], "box_labels": [2]}, ValueError, "one 1 .* or 0"),
    ({"phrase": "cup", "box_labels": [1]}, ValueError, "without boxes"),
    ({"phrase": "cup", "threshold": 1.5}, ValueError, "between 0 and 1"),
])
def test_bad_prompts_are_explained(sam3, coffee, kwargs, error, match):
    with pytest.raises(error, match=match):
        segment_concept(sam3, coffee, **kwargs)


def test_bad_image_and_model_are_explained(sam3, coffee):
    with pytest.raises(TypeError, match="image: Cannot load an image from int"):
        segment_concept(sam3, 42, "cup")
    with pytest.raises(TypeError, match="torch tensor"):
        segment_concept(sam3, torch.zeros(3, 8, 8), "cup")
    sam1 = models.load_sam("sam_vit_b", tiny=True, device="cpu")
    with pytest.raises(TypeError, match="load_sam3"):
        segment_concept(sam1, coffee, "cup")


def test_result_repr_and_types(everything):
    assert isinstance(everything, ConceptResult) and everything.image_size == (400, 600)
    assert "RANDOM WEIGHTS" in repr(everything) and "'cup'" in everything.note


def test_pretrained_path_loads_a_hub_cache_snapshot(tmp_path, monkeypatch, coffee):
    """The real pretrained path: a save_pretrained Sam3Model + Sam3Processor in the hub-cache layout loads
    offline through load_sam3(tiny=False) and gives the same concept result as the saved model."""
    monkeypatch.setenv("COURSE_UTILS_CACHE", str(tmp_path / "cache"))
    source = load_sam3(tiny=True, device="cpu", seed=3)
    saved = tmp_path / "saved"
    source.model.save_pretrained(saved)
    source.processor.save_pretrained(saved)
    revision = "0123456789abcdef0123456789abcdef01234567"
    root = tmp_path / "cache" / "hf" / "models--facebook--sam3"
    snap = root / "snapshots" / revision
    snap.mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(revision)
    for f in saved.iterdir():
        (snap / f.name).write_bytes(f.read_bytes())
    loaded = load_sam3(tiny=False, device="cpu")
    assert not loaded.tiny and type(loaded.model).__name__ == "Sam3Model"
    a = segment_concept(loaded, coffee, "cup", threshold=0.0)
    b = segment_concept(source, coffee, "cup", threshold=0.0)
    assert not a.random_weights and b.random_weights
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a.masks, b.masks)
