"""VideoSession costs, as ratios measured in one run (issue 13).

1. Per-frame time of ``VideoSession.propagate`` (lazy frame reading + preprocessing, the model call,
   post-processing to a bool mask, bit packing, memory release) over the bare per-frame model call it wraps
   (``model(inference_session, frame_idx)`` on a transformers session whose frames were all preprocessed up
   front). Target: <= 1.2x. Default: full-size EdgeTAM with random weights on 480p frames.
2. Peak RSS of a whole run (separate processes) at 30 and 300 frames of 480p JPEG frames read from a folder,
   ours vs transformers' own ``init_video_session(video=...)``. Target: flat in clip length. Default: the tiny
   model (the memory of frames and masks is the point here; a 300-frame full-size run takes too long on a CPU).

Usage::

    python benchmarks/bench_video.py                     # both parts
    python benchmarks/bench_video.py --part rss --frames 30 300
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _frames(n: int, size=(480, 854)) -> list[np.ndarray]:
    from course_utils.video_clip import make_clip

    return make_clip(num_frames=n, size=size).frames


def _full_size_edgetam():
    from course_utils.models import REGISTRY, _finish
    from course_utils.sam2_models import build_sam2, processor_for

    model = build_sam2("edgetam", "video", tiny=False)
    return _finish(model, REGISTRY["edgetam"], True, torch.device("cpu"), None, processor_for("video"))


def part_time(frames: int, full_size: bool) -> None:
    from course_utils.sam2_models import load_sam2_video
    from course_utils.video import VideoSession

    loaded = _full_size_edgetam() if full_size else load_sam2_video("edgetam", tiny=True, device="cpu")
    clip = _frames(frames)
    point = [[200.0, 380.0]]
    # Bare: transformers' session with every frame preprocessed up front; time only the model calls.
    proc, model = loaded.processor, loaded.model
    ref = proc.init_video_session(video=np.stack(clip), inference_device="cpu")
    proc.add_inputs_to_inference_session(ref, frame_idx=0, obj_ids=1, input_points=[[point]], input_labels=[[[1]]])
    bare = []
    with torch.inference_mode():
        model(inference_session=ref, frame_idx=0)
        for f in range(frames):
            t0 = time.perf_counter()
            model(inference_session=ref, frame_idx=f)
            bare.append(time.perf_counter() - t0)
    vs = VideoSession(loaded, clip)
    vs.add_prompt(0, 1, points=point)
    t0 = time.perf_counter()
    vs.propagate(progress=False)
    ours = (time.perf_counter() - t0) / (frames + 1)  # frame 0 is visited twice (backward, then forward)
    print(f"1. per-frame time, {'full-size' if full_size else 'tiny'} EdgeTAM, {frames} frames 854x480: "
          f"bare model call {np.median(bare):.3f} s, VideoSession.propagate {ours:.3f} s, "
          f"ratio {ours / np.median(bare):.3f}")


def _rss_child(folder: str, frames: int, mode: str) -> None:
    from course_utils.sam2_models import load_sam2_video
    from course_utils.video import FrameSource, VideoSession

    torch.set_num_threads(1)
    loaded = load_sam2_video("edgetam", tiny=True, device="cpu")
    src = FrameSource(folder, max_frames=frames)
    if mode == "ours":
        vs = VideoSession(loaded, src)
        vs.add_prompt(0, 1, points=[(200.0, 380.0)])
        vs.propagate(progress=False)
    else:
        proc, model = loaded.processor, loaded.model
        video = np.stack([src[i] for i in range(len(src))])
        ref = proc.init_video_session(video=video, inference_device="cpu")
        proc.add_inputs_to_inference_session(ref, frame_idx=0, obj_ids=1, input_points=[[[[200.0, 380.0]]]],
                                             input_labels=[[[1]]])
        masks = []
        with torch.inference_mode():
            model(inference_session=ref, frame_idx=0)
            for out in model.propagate_in_video_iterator(ref, start_frame_idx=0):
                masks.append(proc.post_process_masks([out.pred_masks], original_sizes=[list(src.size)])[0])
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def part_rss(counts: list[int]) -> None:
    from course_utils.video import write_frames

    with tempfile.TemporaryDirectory() as tmp:
        write_frames(_frames(max(counts)), Path(tmp) / "frames")
        env = {**os.environ, "COURSE_UTILS_TINY": "1"}
        for mode in ("ours", "transformers"):
            peaks = []
            for n in counts:
                out = subprocess.run([sys.executable, __file__, "--rss-child", str(Path(tmp) / "frames"), str(n), mode],
                                     capture_output=True, text=True, env=env, check=True)
                peaks.append(float(out.stdout.strip().splitlines()[-1]))
            desc = ", ".join(f"{n} frames {p:.0f} MB" for n, p in zip(counts, peaks))
            print(f"2. peak RSS, tiny EdgeTAM, 854x480 JPEG folder, {mode}: {desc}; ratio {peaks[-1] / peaks[0]:.2f}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--rss-child":
        _rss_child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["time", "rss", "both"], default="both")
    parser.add_argument("--frames", type=int, nargs="+", default=[30, 300])
    parser.add_argument("--time-frames", type=int, default=6)
    parser.add_argument("--tiny", action="store_true", help="time part with the tiny model")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"load average before: {os.getloadavg()}, threads {torch.get_num_threads()}")
    if args.part in ("time", "both"):
        part_time(args.time_frames, full_size=not args.tiny)
    if args.part in ("rss", "both"):
        part_rss(args.frames)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
