"""Benchmark of the DINOv2 feature pipeline, as ratios measured in one run.

1. Batched extraction: ``extract_features`` on preprocessed batches vs the bare
   ``model.forward_features`` loop on the same batches (target: >= 0.9x the bare throughput),
   and, for information, end to end from HWC uint8 photos (preprocessing included).
   The model is the full-size DINOv2 ViT-S/14 (+4 registers) architecture at 224 px with
   random weights (same compute as the pretrained model; nothing is downloaded).
2. Cosine top-10 search of 100 queries in 100k x 384 features (target: < 0.5 s on CPU), with
   the torch backend and, when installed, FAISS.

Usage:
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_dinov2.py [--images 32] [--batch 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import timm
import torch

from course_utils.features import extract_features
from course_utils.images import sample_images
from course_utils.models import _timm_preprocess
from course_utils.retrieval import build_index, faiss_available


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--db", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, cpu")

    # ---------------------------------------------------------------- 1. extraction
    torch.manual_seed(0)
    model = timm.create_model("vit_small_patch14_reg4_dinov2", pretrained=False, img_size=224).eval()
    model._course_utils_name = "dinov2_vits14_reg (random, full size)"
    preprocess = _timm_preprocess(model)
    photos = list(sample_images().values())
    photos = (photos * (args.images // len(photos) + 1))[: args.images]
    x = preprocess.batch(photos)  # (N, 3, 224, 224)

    def bare() -> None:
        with torch.inference_mode():
            for s in range(0, len(x), args.batch):
                model.forward_features(x[s:s + args.batch])

    def ours() -> None:
        extract_features(model, x, batch_size=args.batch, progress=False)

    def ours_from_photos() -> None:
        extract_features(model, photos, batch_size=args.batch, preprocess=preprocess, progress=False)

    bare()  # warm-up
    # Interleave the three measurements so that load from other processes hits them alike.
    runs: dict[str, list[float]] = {"bare": [], "ours": [], "e2e": []}
    for r in range(args.repeats):
        order = [("bare", bare), ("ours", ours), ("e2e", ours_from_photos)]
        for name, fn in order[r % 3:] + order[:r % 3]:
            runs[name].append(best_of(fn, 1))
    t_bare, t_ours, t_e2e = (min(runs[k]) for k in ("bare", "ours", "e2e"))
    print(f"\n[extraction] {args.images} images at 224 px, batch {args.batch}, best of {args.repeats}")
    print(f"  bare forward_features : {t_bare:.2f} s  ({args.images / t_bare:.1f} img/s)")
    print(f"  extract_features      : {t_ours:.2f} s  ({args.images / t_ours:.1f} img/s)")
    print(f"  extract_features from HWC uint8 photos (incl. preprocessing): {t_e2e:.2f} s")
    print(f"  throughput ratio extract_features / bare = {t_bare / t_ours:.3f}  (target >= 0.9)")
    print(f"  throughput ratio end-to-end / bare       = {t_bare / t_e2e:.3f}  (information)")

    # ---------------------------------------------------------------- 2. search
    rng = np.random.default_rng(0)
    db = rng.normal(size=(args.db, args.dim)).astype(np.float32)
    queries = rng.normal(size=(args.queries, args.dim)).astype(np.float32)
    print(f"\n[search] top-10 of {args.queries} queries in {args.db} x {args.dim}, best of {args.repeats}")
    index = build_index(db, backend="torch")
    index.search(queries, 10)
    t_torch = best_of(lambda: index.search(queries, 10), args.repeats)
    print(f"  torch exact : {t_torch:.3f} s  (target < 0.5 s)")
    if faiss_available():
        findex = build_index(db, backend="faiss")
        _, i_f = findex.search(queries, 10)  # also builds the FAISS index
        t_faiss = best_of(lambda: findex.search(queries, 10), args.repeats)
        same = bool(torch.equal(i_f, index.search(queries, 10)[1]))
        print(f"  faiss exact : {t_faiss:.3f} s  (same neighbours as torch: {same}); "
              f"torch/faiss time ratio = {t_torch / t_faiss:.2f}")
    else:
        print("  faiss not installed (pip install faiss-cpu)")


if __name__ == "__main__":
    main()
