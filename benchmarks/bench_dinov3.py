"""Benchmark of DINOv3 feature extraction and SAM 3 concept prompts, as ratios measured in one run.

1. Batched extraction: ``extract_features`` on preprocessed batches vs the bare
   ``model.forward_features`` loop on the same batches (target: >= 0.95x the bare throughput).
   The model is the full-size timm DINOv3 ViT-S/16 architecture at 256 px with random weights
   (same compute as the pretrained model; nothing is downloaded).
2. Concept prompt end to end: ``segment_concept(sam3, photo, "cup")`` (validation, the processor's
   resize / tokenisation, the model, the processor's post-processing) vs the bare
   ``Sam3Model(**inputs)`` call on already-prepared inputs (target: <= 1.1x). Tiny Sam3Model by
   default; ``--full-random`` uses transformers' full-size default Sam3Config (840M parameters,
   1008 px: minutes per call on a CPU).

Usage:
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_dinov3.py [--images 32] [--batch 16] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import time

import timm
import torch

from course_utils.concept import concept_inputs, segment_concept
from course_utils.features import extract_features
from course_utils.images import sample_image, sample_images
from course_utils.models import LoadedModel, _timm_preprocess, get_spec, load_sam3


def interleaved(fns: dict[str, object], repeats: int) -> dict[str, float]:
    """Best time of each function, the calls interleaved so that outside load hits them alike."""
    runs: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            fns[name]()  # type: ignore[operator]
            runs[name].append(time.perf_counter() - start)
    return {k: min(v) for k, v in runs.items()}


def bench_extraction(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    model = timm.create_model("vit_small_patch16_dinov3.lvd1689m", pretrained=False).eval()
    model._course_utils_name = "dinov3_vits16 (random, full size)"
    preprocess = _timm_preprocess(model)
    photos = list(sample_images().values())
    photos = (photos * (args.images // len(photos) + 1))[: args.images]
    x = preprocess.batch(photos)  # (N, 3, 256, 256)

    def bare() -> None:
        with torch.inference_mode():
            for s in range(0, len(x), args.batch):
                model.forward_features(x[s:s + args.batch])

    def ours() -> None:
        extract_features(model, x, batch_size=args.batch, progress=False)

    bare()  # warm-up
    t = interleaved({"bare": bare, "ours": ours}, args.repeats)
    print(f"\n[DINOv3 extraction] ViT-S/16 full size, {args.images} images at 256 px, batch {args.batch}, "
          f"best of {args.repeats}")
    print(f"  bare forward_features : {t['bare']:.2f} s  ({args.images / t['bare']:.1f} img/s)")
    print(f"  extract_features      : {t['ours']:.2f} s  ({args.images / t['ours']:.1f} img/s)")
    print(f"  throughput ratio extract_features / bare = {t['bare'] / t['ours']:.3f}  (target >= 0.95)")


def bench_concept(args: argparse.Namespace) -> None:
    if args.full_random:
        import transformers as tf

        from course_utils.tiny.sam3 import tiny_sam3

        torch.manual_seed(0)
        _, processor = tiny_sam3()
        processor = tf.Sam3Processor(image_processor=tf.Sam3ImageProcessor(), tokenizer=processor.tokenizer)
        config = tf.Sam3Config()
        config.text_config.vocab_size = len(processor.tokenizer)
        sam3 = LoadedModel(tf.Sam3Model(config).eval(), None, get_spec("sam3"), True, torch.device("cpu"), processor)
        label = "full-size Sam3Model (random), 1008 px"
    else:
        sam3 = load_sam3(tiny=True, device="cpu")
        label = "tiny Sam3Model, 112 px"
    photo = sample_image("coffee")
    inputs, _, _ = concept_inputs(sam3, photo, "cup")

    def bare() -> None:
        with torch.inference_mode():
            sam3.model(**inputs)

    def ours() -> None:
        segment_concept(sam3, photo, "cup", threshold=0.5)

    bare()  # warm-up
    t = interleaved({"bare": bare, "ours": ours}, args.repeats)
    print(f"\n[SAM 3 concept prompt] {label}, 400x600 photo, best of {args.repeats}")
    print(f"  bare Sam3Model(**inputs)            : {t['bare'] * 1000:.1f} ms")
    print(f"  segment_concept end to end          : {t['ours'] * 1000:.1f} ms")
    print(f"  time ratio end-to-end / bare call   = {t['ours'] / t['bare']:.3f}  (target <= 1.1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--full-random", action="store_true", help="full-size Sam3Model for part 2 (slow)")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, cpu, load average {load:.2f}")
    bench_extraction(args)
    bench_concept(args)


if __name__ == "__main__":
    main()
