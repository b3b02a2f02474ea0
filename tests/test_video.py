"""SAM 2 / EdgeTAM: registry facts, video sessions, DAVIS J and F, the synthetic clip, SamSession on a CPU SAM."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils import models
from course_utils.sam2_models import _ARCH, SAM2_NAMES, full_config, load_sam2_image, load_sam2_video
from course_utils.video import FrameSource, VideoSession, write_frames
from course_utils.video_clip import make_clip
from course_utils.video_metrics import boundary_map, boundary_tolerance, evaluate_masks, f_measure, jaccard


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny models are dominated by per-op overhead; one thread avoids OpenMP spinning on a busy machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def clip():
    return make_clip(num_frames=4, size=(48, 64))


@pytest.fixture(scope="module")
def tiny_video():
    return load_sam2_video("sam2.1_hiera_tiny", tiny=True, device="cpu")


# --------------------------------------------------------------------------- registry facts


@pytest.mark.parametrize("name", SAM2_NAMES)
def test_registry_parameter_counts_match_transformers(name):
    import transformers as tf

    with torch.device("meta"):
        model = getattr(tf, _ARCH[name]["video"])(full_config(name, "video"))
    n = sum(p.numel() for p in model.parameters()) / 1e6
    spec = models.REGISTRY[name]
    assert n == pytest.approx(spec.params_m, rel=0.005)
    # The published weights are fp32 safetensors: 4 bytes a parameter.
    assert spec.download_mb == pytest.approx(4 * n, rel=0.02)
    assert spec.family == "sam2" and spec.source == "hf" and spec.licence == "Apache-2.0"


def test_edgetam_uses_repvit_and_two_memory_layers():
    cfg = full_config("edgetam", "video")
    assert cfg.vision_config.backbone_config.architecture == "repvit_m1"
    assert cfg.memory_attention_num_layers == 2
    assert full_config("sam2.1_hiera_tiny").memory_attention_num_layers == 4


def test_load_model_points_to_the_sam2_loaders():
    with pytest.raises(ValueError, match="load_sam2_video"):
        models.load_model("edgetam", tiny=True)


def test_pretrained_without_cache_names_the_fixes(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_UTILS_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(models.WeightsUnavailableError, match="fetch-weights edgetam"):
        load_sam2_video("edgetam", tiny=False)


def test_save_pretrained_folder_in_hub_cache_loads_video_and_image(tmp_path, monkeypatch):
    # The hub repo of each entry holds one Sam2Video/EdgeTamVideo checkpoint; the image model loads from it too.

    monkeypatch.setenv("COURSE_UTILS_CACHE", str(tmp_path))
    source = load_sam2_video("edgetam", tiny=True, seed=3, device="cpu")
    repo = models.REGISTRY["edgetam"].ref
    snap = tmp_path / "hf" / f"models--{repo.replace('/', '--')}" / "snapshots" / ("0" * 40)
    source.model.save_pretrained(snap)
    source.processor.save_pretrained(snap)
    (tmp_path / "hf" / f"models--{repo.replace('/', '--')}" / "refs").mkdir()
    (tmp_path / "hf" / f"models--{repo.replace('/', '--')}" / "refs" / "main").write_text("0" * 40)
    video = load_sam2_video("edgetam", tiny=False, device="cpu")
    for (k, a), b in zip(source.model.state_dict().items(), video.model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    image = load_sam2_image("edgetam", tiny=False, device="cpu")
    shared = image.model.state_dict()
    enc = {k: v for k, v in source.model.state_dict().items() if k.startswith("vision_encoder.")}
    assert enc and all(torch.equal(shared[k], v) for k, v in enc.items())


# --------------------------------------------------------------------------- J and F, hand-worked


def _square(top: int, left: int, k: int, shape=(60, 60)) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[top:top + k, left:left + k] = True
    return m


def test_boundary_map_of_a_square_is_its_4k_ring():
    b = boundary_map(_square(2, 2, 4, (10, 10)))
    # The ring sits half a pixel towards the origin: row 1 (x 1..5), column 1 (y 2..5), column 5, row 5.
    expected = np.zeros((10, 10), dtype=bool)
    expected[1, 1:6] = True
    expected[2:6, 1] = True
    expected[2:6, 5] = True
    expected[5, 2:5] = True
    assert b.sum() == 16
    np.testing.assert_array_equal(b, expected)


def test_boundary_tolerance_follows_the_davis_rule():
    assert boundary_tolerance((60, 60)) == 1        # ceil(0.008 * 84.9) = ceil(0.68)
    assert boundary_tolerance((480, 854)) == 8      # ceil(0.008 * 979.6) = ceil(7.84)
    assert boundary_tolerance((480, 854), bound_th=3) == 3


def test_j_and_f_of_a_shifted_square_equal_the_hand_count():
    gt, pred = _square(2, 2, 4), _square(2, 4, 4)  # shifted 2 px to the right
    # Overlap: 4 rows x 2 columns = 8 pixels; union 16 + 16 - 8 = 24.
    assert jaccard(pred, gt) == pytest.approx(8 / 24)
    # Radius 1 (a plus-shaped disk): 10 of the 16 predicted ring pixels lie within 1 px of the true ring,
    # and 10 of the 16 true ring pixels within 1 px of the predicted one (counted by hand) -> F = 10/16.
    assert f_measure(pred, gt) == pytest.approx(10 / 16)
    # One pixel of shift is fully within the tolerance: every ring pixel has a partner.
    assert f_measure(_square(2, 3, 4), gt) == pytest.approx(1.0)


def test_empty_mask_conventions():
    empty, full = np.zeros((8, 8), bool), _square(2, 2, 3, (8, 8))
    assert jaccard(empty, empty) == 1.0 and f_measure(empty, empty) == 1.0
    assert jaccard(empty, full) == 0.0 and f_measure(empty, full) == 0.0   # P = 1, R = 0
    assert f_measure(full, empty) == 0.0                                   # P = 0, R = 1


def test_jaccard_matches_scikit_learn_and_evaluate_masks_averages():
    from sklearn.metrics import jaccard_score

    rng = np.random.default_rng(0)
    a, b = rng.random((3, 20, 30)) > 0.5, rng.random((3, 20, 30)) > 0.4
    for x, y in zip(a, b):
        assert jaccard(x, y) == pytest.approx(jaccard_score(y.ravel(), x.ravel()))
    res = evaluate_masks(a, b)
    assert res["J_mean"] == pytest.approx(np.mean([jaccard(x, y) for x, y in zip(a, b)]))
    assert res["JF_mean"] == pytest.approx((res["J_mean"] + res["F_mean"]) / 2)
    assert len(evaluate_masks(a, b, skip_first_last=True)["J"]) == 1
    with pytest.raises(ValueError, match="same shape"):
        jaccard(a[0], b[0, :10])


def test_synthetic_clip_masks_are_exact(clip):
    assert len(clip) == 4 and clip.masks.shape == (4, 48, 64)
    areas = clip.masks.sum(axis=(1, 2))
    assert (areas > 0).all() and areas[-1] > areas[0]  # the object grows
    # The object's pixels are the fur texture pasted at the mask; outside the mask frames differ between
    # frames because the camera pans.
    assert not np.array_equal(clip.frames[0][~clip.masks[0]], clip.frames[1][~clip.masks[0]])
    x, y = clip.center_point(0)
    assert clip.masks[0][int(y), int(x)]
    full = make_clip(num_frames=2)
    assert full.size == (240, 320) and jaccard(full.masks[0], full.masks[0]) == 1.0


# --------------------------------------------------------------------------- video session


def test_every_frame_gets_a_mask_per_object_and_later_prompts_propagate_backwards(tiny_video, clip):
    session = VideoSession(tiny_video, clip.frames)
    first = session.add_prompt(frame=2, obj_id=5, points=[clip.center_point(2)], labels=[1])
    assert first.shape == clip.size and first.dtype == bool
    session.add_prompt(frame=3, obj_id=9, box=clip.boxes[3])
    result = session.propagate(progress=False)
    assert result.obj_ids == [5, 9] and result.tiny
    for obj in (5, 9):
        assert result.frames_with_masks(obj) == [0, 1, 2, 3]  # frames 0 and 1 come from backward propagation
        assert result.stack(obj).shape == (4, 48, 64)
    # Frames are streamed: far fewer preprocessed frames are kept than the clip has.
    assert len(session._lazy._cache) <= 2
    scores = evaluate_masks(result.stack(5), clip.masks)
    assert 0.0 <= scores["JF_mean"] <= 1.0


def test_streamed_session_with_released_memory_matches_transformers_own_session():
    # Oracle: transformers' init_video_session(video=...) with all frames preprocessed up front and every
    # frame's outputs kept. Ours streams frames and releases memory beyond the window (4 frames here).
    clip = make_clip(num_frames=11, size=(32, 40))
    loaded = load_sam2_video("edgetam", tiny=True, seed=1, device="cpu")
    start = 5
    ours = VideoSession(loaded, clip.frames)
    assert ours.memory_window == 4
    ours.add_prompt(start, 1, points=[clip.center_point(start)])
    mine = ours.propagate(progress=False).stack(1)
    kept = ours.session.output_dict_per_obj[0]["non_cond_frame_outputs"]
    assert 0 not in kept and len(kept) < len(clip) - 1  # frame 0 (5 from the prompt, 10 behind) was released
    assert all("high_res_masks" not in out for out in kept.values())
    proc, model = loaded.processor, loaded.model
    ref = proc.init_video_session(video=np.stack(clip.frames), inference_device="cpu")
    proc.add_inputs_to_inference_session(ref, frame_idx=start, obj_ids=1,
                                         input_points=[[[list(clip.center_point(start))]]], input_labels=[[[1]]])
    theirs = {}
    with torch.inference_mode():
        model(inference_session=ref, frame_idx=start)
        for reverse in (True, False):
            for out in model.propagate_in_video_iterator(ref, start_frame_idx=start, reverse=reverse):
                theirs[out.frame_idx] = proc.post_process_masks([out.pred_masks], original_sizes=[list(clip.size)],
                                                                binarize=True)[0][0, 0].numpy()
    assert len(ref.output_dict_per_obj[0]["non_cond_frame_outputs"]) == len(clip) - 1
    np.testing.assert_array_equal(mine, np.stack([theirs[f] for f in range(len(clip))]))
    # Different random masks per frame: the comparison is not trivially all-empty.
    assert len({m.tobytes() for m in mine}) > 1 or mine.any()


def test_folder_and_video_file_clips(tmp_path, clip):
    folder = write_frames(clip.frames, tmp_path / "frames", fmt="png")
    src = FrameSource(folder)
    assert len(src) == 4 and src.size == (48, 64)
    np.testing.assert_array_equal(src[2], clip.frames[2])  # PNG is lossless
    import av

    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for f in clip.frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    video = FrameSource(path)
    assert len(video) == 4 and video.size == (48, 64)
    assert np.abs(video[0].astype(int) - clip.frames[0].astype(int)).mean() < 20  # lossy, but the same picture


def test_bad_inputs_get_clear_errors(tiny_video, clip, tmp_path):
    with pytest.raises(ValueError, match="empty"):
        VideoSession(tiny_video, [])
    (tmp_path / "none").mkdir()
    with pytest.raises(ValueError, match="empty"):
        FrameSource(tmp_path / "none")
    with pytest.raises(ValueError, match="same size"):
        FrameSource([clip.frames[0], clip.frames[1][:40]])
    session = VideoSession(tiny_video, clip.frames)
    with pytest.raises(RuntimeError, match="add_prompt"):
        session.propagate(progress=False)
    with pytest.raises(ValueError, match=r"outside the frame of width 64 and height 48"):
        session.add_prompt(0, 1, points=[(64, 10)])
    with pytest.raises(ValueError, match="frame must be an index 0..3"):
        session.add_prompt(4, 1, points=[(5, 5)])
    with pytest.raises(ValueError, match="XYXY"):
        session.add_prompt(0, 1, box=(30, 30, 10, 10))
    session.add_prompt(0, 1, points=[(5, 5)])
    result = session.propagate(progress=False)
    with pytest.raises(ValueError, match="never prompted; the prompted ids are \\[1\\]"):
        result.mask(0, obj_id=2)


# --------------------------------------------------------------------------- SamSession on a CPU SAM


@pytest.mark.parametrize("name", ["edgetam", "sam2.1_hiera_tiny"])
def test_sam_session_drives_the_transformers_model_with_its_cache(name, tmp_path):
    from course_utils.images import sample_image
    from course_utils.sam import EmbeddingCache, SamSession

    loaded = load_sam2_image(name, tiny=True, device="cpu")
    image = sample_image("coffee")[::4, ::4].copy()
    cache = EmbeddingCache(max_items=2)
    session = SamSession(loaded, cache=cache)
    session.set_image(image)
    assert session.last_cache_hit is None and session.tiny
    masks, scores, logits = session.predict(points=[(40, 30)], labels=[1])
    assert masks.shape == (3, *image.shape[:2]) and masks.dtype == bool and logits.shape == (3, 256, 256)
    # Oracle: the same model and processor called directly on the pixels, the transformers way.
    proc = loaded.processor
    inputs = proc(images=image, input_points=[[[[40, 30]]]], input_labels=[[[1]]], return_tensors="pt")
    with torch.inference_mode():
        out = loaded.model(pixel_values=inputs["pixel_values"], input_points=inputs["input_points"],
                           input_labels=inputs["input_labels"])
    ref = proc.post_process_masks(out.pred_masks, inputs["original_sizes"])[0][0].numpy()
    np.testing.assert_array_equal(masks, ref)
    np.testing.assert_allclose(scores, out.iou_scores[0, 0].numpy(), rtol=1e-5, atol=1e-6)
    # A second session hits the cache and gives the same masks; refining with logits works.
    again = SamSession(loaded, cache=cache).set_image(image)
    assert again.last_cache_hit == "memory"
    np.testing.assert_array_equal(again.predict(points=[(40, 30)]).masks, masks)
    one = again.predict(points=[(40, 30), (5, 5)], labels=[1, 0], box=(10, 10, 90, 70),
                        mask=logits[0][None], multimask=False)
    assert one.masks.shape == (1, *image.shape[:2])
    with pytest.raises(ValueError, match="outside the image"):
        again.predict(points=[(500, 5)])
    assert again.get_image_embedding().shape[-2:] == (16, 16)
    # The disk level stores the three-level pyramid as one array and gives it back bit-identical.
    disk = EmbeddingCache(max_items=0, disk=tmp_path)
    SamSession(loaded, cache=disk).set_image(image)
    from_disk = SamSession(loaded, cache=disk).set_image(image)
    assert from_disk.last_cache_hit == "disk"
    np.testing.assert_array_equal(from_disk.predict(points=[(40, 30)]).masks, masks)


def test_sam_widget_runs_on_the_cpu_default():
    from course_utils.images import sample_image
    from course_utils.sam import SamSession
    from course_utils.sam_hf import choose_cpu_sam
    from course_utils.widgets.sam_widget import SamWidget

    assert choose_cpu_sam("cpu") == "edgetam" and choose_cpu_sam("cuda") == "sam_vit_b"
    session = SamSession(load_sam2_image(choose_cpu_sam("cpu"), tiny=True, device="cpu"))
    image = sample_image("chelsea")[::4, ::4].copy()
    widget = SamWidget(session, image, frontend="form")
    widget.add_point(30, 20, 1)
    assert widget.masks is not None and widget.masks.shape[1:] == image.shape[:2]
    direct = session.predict(points=[(30, 20)], labels=[1], multimask=True)
    np.testing.assert_array_equal(widget.mask, direct.masks[direct.best])
    widget.set_box((5, 5, 60, 50))
    assert widget.masks.shape[0] == 1  # a point and a box: one mask


def test_dashboard_sam_tab_uses_the_cpu_default_and_runs_the_video_panel():
    from course_utils.widgets import Dashboard
    from course_utils.widgets.video_panel import VideoPanel

    images = {"chelsea": __import__("course_utils").sample_image("chelsea")[::4, ::4].copy()}
    dash = Dashboard(images=images, vit="vit_small", tiny=True)
    assert dash.model_names["sam"] == "edgetam"  # CPU here
    panel = VideoPanel(tiny=True, num_frames=3, size=(40, 48))
    assert panel.result is None and panel.slider.disabled  # nothing runs before the click
    panel.run_button.click()
    assert "J&amp;F" in panel.status.value and "RANDOM WEIGHTS" in panel.status.value, panel.status.value
    assert panel.result.frames_with_masks(1) == [0, 1, 2]
    expected = evaluate_masks(panel.result.stack(1), panel.clip.masks)["JF_mean"]
    assert panel.scores["JF_mean"] == pytest.approx(expected)
    panel.slider.value = 2
    assert panel.frame_view.value[:4] == b"\x89PNG"
