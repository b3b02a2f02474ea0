"""SamSession overheads, as ratios measured in one run (no absolute timing claims).

1. ``SamSession.predict`` vs the raw ``SamPredictor.predict`` on the same model, image and prompt
   (interleaved runs, medians). Target: <= 1.1x.
2. A second ``set_image`` of the same image, served from the memory cache (new session, as when a
   cell is re-run) and from the disk cache, vs the first ``set_image`` (image encoder). Target: < 2 %.

Usage::

    python benchmarks/bench_sam.py                 # sam_vit_b if its weights are cached, else tiny
    COURSE_UTILS_TINY=1 python benchmarks/bench_sam.py --repeats 20
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import torch
from segment_anything import SamPredictor

from course_utils.images import sample_image
from course_utils.models import WeightsUnavailableError, is_tiny, load_sam
from course_utils.sam import EmbeddingCache, SamSession


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sam_vit_b")
    parser.add_argument("--image", default="chelsea")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--full-random", action="store_true",
                        help="the full-size architecture of --model with random weights (real encoder cost, no download)")
    args = parser.parse_args()

    try:
        if args.full_random:
            from course_utils.models import LoadedModel, build_sam_architecture, get_spec

            spec = get_spec(args.model)
            loaded = LoadedModel(build_sam_architecture(spec.arch).eval(), None, spec, True, torch.device("cpu"))
        else:
            loaded = load_sam(args.model, device="cpu")
    except WeightsUnavailableError as exc:
        print(f"pretrained {args.model} unavailable ({str(exc).splitlines()[0][:80]}...); using a tiny random SAM")
        loaded = load_sam(args.model, tiny=True, device="cpu")
    image = sample_image(args.image)
    print(f"model: {loaded!r}  image: {args.image} {image.shape}  tiny={is_tiny(loaded.tiny)}")

    # -- 1. predict overhead
    session = SamSession(loaded, cache=EmbeddingCache()).set_image(image)
    raw = SamPredictor(loaded.model)
    raw.set_image(image)
    points, labels = np.array([[225.0, 150.0], [60.0, 40.0]]), np.array([1, 0])
    box = np.array([100.0, 50.0, 400.0, 280.0])
    for _ in range(2):  # warm-up
        raw.predict(points, labels, box)
        session.predict(points=points, labels=labels, box=box)
    t_raw, t_ours = [], []
    for _ in range(args.repeats):
        t_raw.append(_timed(lambda: raw.predict(points, labels, box)))
        t_ours.append(_timed(lambda: session.predict(points=points, labels=labels, box=box)))
    raw_med, ours_med = statistics.median(t_raw), statistics.median(t_ours)
    print(f"predict: SamSession / raw SamPredictor = {ours_med / raw_med:.3f}x  (target <= 1.1x; "
          f"medians of {args.repeats} interleaved runs)")

    # -- 2. set_image cache
    with tempfile.TemporaryDirectory() as tmp:
        first_session = SamSession(loaded, cache=EmbeddingCache(max_items=4, disk=tmp))
        first = _timed(lambda: first_session.set_image(image))
        assert first_session.last_cache_hit is None
        again = SamSession(loaded, cache=first_session.cache)  # a re-run cell: new session, same cache
        memory = _timed(lambda: again.set_image(image.copy()))
        assert again.last_cache_hit == "memory"
        disk_session = SamSession(loaded, cache=EmbeddingCache(max_items=4, disk=tmp))  # e.g. after a restart
        disk = _timed(lambda: disk_session.set_image(image.copy()))
        assert disk_session.last_cache_hit == "disk"
    print(f"set_image again, memory cache / first = {memory / first:.4%}  (target < 2 %)")
    print(f"set_image again, disk cache   / first = {disk / first:.4%}")


if __name__ == "__main__":
    main()
