"""Which SAM gives a first mask fastest on this CPU? Ratios measured in one run.

1. Time to first mask (image encoder + one point prompt through ``SamSession``) of SAM ViT-B
   (segment-anything), SAM 2.1 Hiera-T and EdgeTAM (transformers), full-size architectures with random
   weights (speed does not depend on the weights), and each one's speed-up over SAM ViT-B.
   Target (issue 13): the CPU default at least 5x faster than SAM ViT-B.
2. PyTorch CPU options on the fastest candidate, each checked against the fp32 default's mask
   (IoU of the best mask, same random weights): threads 1 vs 2, channels-last, bf16 autocast (only if
   the CPU has bf16 instructions), ``torch.compile`` of the vision encoder.

Usage::

    python benchmarks/bench_sam_cpu.py            # about 3-5 minutes on 2 busy cores
    python benchmarks/bench_sam_cpu.py --no-compile --repeats 1
    python benchmarks/bench_sam_cpu.py --threads 1 --only-candidates   # on a busy shared machine
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from course_utils.images import sample_image
from course_utils.sam_speed import CANDIDATES, build_session, compare, time_to_first_mask
from course_utils.video_metrics import jaccard


def _best(session, image, repeats: int, bf16: bool = False) -> tuple[float, np.ndarray]:
    time_to_first_mask(session, image, bf16=bf16)
    runs = [time_to_first_mask(session, image, bf16=bf16) for _ in range(repeats)]
    return min(t for t, _ in runs), runs[-1][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="coffee")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--only-candidates", action="store_true", help="part 1 only")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    image = sample_image(args.image)
    print(f"load average before: {os.getloadavg()}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, image {image.shape[1]}x{image.shape[0]}")
    print("1. time to first mask, full-size architectures, random weights")
    rows = compare(image, CANDIDATES, full_size=True, repeats=args.repeats)
    for r in rows:
        print(f"   {r['model']:<18} {r['params_m']:7.2f}M params  {r['seconds']:7.2f} s  "
              f"ratio to sam_vit_b {r['ratio_to_first']:.3f}  ({r['speedup']:.1f}x faster)")
    fastest = min(rows[1:], key=lambda r: r["seconds"])["model"]
    print(f"   fastest candidate: {fastest}")
    if args.only_candidates:
        print(f"load average after: {os.getloadavg()}")
        return

    print(f"2. CPU options on {fastest} (ratio to its fp32 default with {torch.get_num_threads()} threads)")
    session = build_session(fastest)
    base_t, base_mask = _best(session, image, args.repeats)
    print(f"   default fp32                 {base_t:7.2f} s  1.000")
    threads = torch.get_num_threads()
    for n in sorted({1, threads}):
        torch.set_num_threads(n)
        t, m = _best(session, image, args.repeats)
        print(f"   threads={n}                    {t:7.2f} s  {t / base_t:.3f}  mask IoU {jaccard(m, base_mask):.4f}")
    torch.set_num_threads(threads)
    cl = build_session(fastest, channels_last=True)
    t, m = _best(cl, image, args.repeats)
    print(f"   channels_last                {t:7.2f} s  {t / base_t:.3f}  mask IoU {jaccard(m, base_mask):.4f}")
    del cl
    if torch.backends.cpu.get_cpu_capability() in ("AVX512", "AMX") or torch.ops.mkldnn._is_mkldnn_bf16_supported():
        t, m = _best(session, image, args.repeats, bf16=True)
        print(f"   bf16 autocast                {t:7.2f} s  {t / base_t:.3f}  mask IoU {jaccard(m, base_mask):.4f}"
              "  (random weights: IoU shows agreement, not quality)")
    else:
        print("   bf16 autocast: skipped, this CPU has no bf16 instructions")
    if not args.no_compile:
        comp = build_session(fastest)
        comp.model.vision_encoder = torch.compile(comp.model.vision_encoder)
        start = time.perf_counter()
        time_to_first_mask(comp, image)
        compile_s = time.perf_counter() - start
        t, m = _best(comp, image, args.repeats)
        print(f"   torch.compile(vision_encoder) {t:7.2f} s  {t / base_t:.3f}  mask IoU {jaccard(m, base_mask):.4f}"
              f"  (first call incl. compiling: {compile_s:.1f} s)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
