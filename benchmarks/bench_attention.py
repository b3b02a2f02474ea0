"""Cost of capturing attention and of attention rollout, measured in one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_attention.py [--repeats 7] [--model vit_base_patch16_224]

Prints (1) capture_attention time / plain forward time for ViT-B/16 on one 224x224 image
(target: at most 1.3x), alternating the two so that machine load hits both alike (ratios of
medians and of minima; the minima are the least disturbed by other processes), and
(2) the time of a 12-layer rollout at N=197 (target: under 5 ms on CPU). Weights are random
(timm architecture only): speed does not depend on them and nothing is downloaded.
"""

from __future__ import annotations

import argparse
import statistics
import time

import timm
import torch

from course_utils.attention import capture_attention
from course_utils.rollout import attention_rollout


def _time(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--model", default="vit_base_patch16_224")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = timm.create_model(args.model, pretrained=False).eval()
    x = torch.randn(1, 3, 224, 224)

    def plain() -> None:
        with torch.no_grad():
            model(x)

    def capture() -> None:
        capture_attention(model, x)

    plain(), capture()  # warm-up
    t_plain, t_capture = [], []
    for _ in range(args.repeats):  # interleave so that load spikes hit both
        t_plain += _time(plain, 1)
        t_capture += _time(capture, 1)
    p, c = statistics.median(t_plain), statistics.median(t_capture)
    print(f"threads={torch.get_num_threads()} model={args.model} repeats={args.repeats}")
    print(f"plain forward      : {p * 1e3:8.1f} ms (median)")
    print(f"capture_attention  : {c * 1e3:8.1f} ms (median)")
    print(f"capture / forward  : {c / p:8.2f}x   (target <= 1.3x; ratio of medians)")
    print(f"capture / forward  : {min(t_capture) / min(t_plain):8.2f}x   (ratio of minima, least disturbed by load)")

    maps = capture_attention(model, x)
    attn = maps.attn  # (1, 12, 12, 197, 197)
    attention_rollout(attn)
    t_roll = _time(lambda: attention_rollout(attn), max(args.repeats, 20))
    t_disc = _time(lambda: attention_rollout(attn, head_fusion="max", discard_ratio=0.9), max(args.repeats, 20))
    fused = attn.mean(dim=2)

    def bare_chain() -> None:  # the irreducible part: L-1 (N x N) matrix products
        result = fused[:, 0]
        for layer in range(1, fused.shape[1]):
            result = fused[:, layer] @ result

    t_chain = _time(bare_chain, max(args.repeats, 20))
    r, d, m = statistics.median(t_roll), statistics.median(t_disc), statistics.median(t_chain)
    print(f"rollout, L={attn.shape[1]} H={attn.shape[2]} N={attn.shape[-1]}           : {r * 1e3:6.2f} ms "
          f"(median; target < 5 ms)")
    print(f"rollout with max fusion, discard 0.9 : {d * 1e3:6.2f} ms (median)")
    print(f"bare chain of {attn.shape[1] - 1} NxN matmuls         : {m * 1e3:6.2f} ms (median)")
    print(f"rollout / bare matmul chain          : {r / m:6.2f}x")
    print(f"rollout / plain forward              : {r / p:6.3f}x")


if __name__ == "__main__":
    main()
