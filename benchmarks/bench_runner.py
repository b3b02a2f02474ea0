"""Speed of the benchmark runner, measured in one run and printed as ratios.

1. 200 requests at concurrency 16 against the loopback OpenAI-compatible server with 200 ms latency,
   through the official ``openai`` SDK: wall time / ideal (200 / 16 x 0.2 s = 2.5 s). Target <= 1.25.
2. The same run again with the response cache: requests made (target 0) and wall time (target < 1 s).
3. Local tiny BLIP VQA on the mini set: batch_size=8 vs batch_size=1 wall time (offline, CPU).

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_runner.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("COURSE_UTILS_TINY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    from course_utils.bench import OpenAIProvider, TransformersProvider, load_mini_vqa, run_benchmark
    from course_utils.bench.tasks import BenchItem, Task

    base = load_mini_vqa()
    items = [BenchItem(f"{it.item_id}_v{k}", it.image, f"{it.prompt} (variant {k})", it.references, it.question,
                       it.answer_type) for k in range(8) for it in base.items][:200]
    task = Task("speed_200", "vqa", items)
    n, concurrency, latency = len(task), 16, 0.2
    ideal = n / concurrency * latency
    ok = True
    # The server runs in its own process so that it does not compete with the runner for the GIL.
    server = _ServerProcess(latency)
    with tempfile.TemporaryDirectory() as tmp:
        for it in task.items:  # encode images once, outside the timed part
            it.encoded(384)
        warm = OpenAIProvider("gpt-4o-mini", api_key="sk-bench", base_url=server.openai_url, timeout=30)
        warm_task = Task("warm_up", "vqa", [BenchItem("warm", base.items[0].image, "warm-up", ("yes",) * 10)])
        run_benchmark(warm_task, [warm], Path(tmp) / "warm", progress=False, score=False, cache=False)
        server.reset()  # the SDK's first call builds its models (about 2 s): not part of the measurement
        provider = OpenAIProvider("gpt-4o-mini", api_key="sk-bench", base_url=server.openai_url, timeout=30)
        start, cpu = time.perf_counter(), time.process_time()
        first = run_benchmark(task, [provider], Path(tmp) / "a", concurrency=concurrency, progress=False,
                              score=False, max_side=384)
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
        ratio = wall / ideal
        lat = sorted(r["latency_s"] for r in first.records)
        ok &= ratio <= 1.25 and server.total == n
        print(f"1. {n} requests, concurrency {concurrency}, {latency * 1000:.0f} ms latency: {wall:.2f} s, "
              f"ideal {ideal:.2f} s, ratio {ratio:.3f} (target <= 1.25); server saw {server.total} requests, "
              f"{first.stats['retries']} retries {({k: v for k, v in first.stats.items() if k.startswith('errors')})}")
        print(f"   runner CPU {cpu:.2f} s ({1000 * cpu / n:.1f} ms per request); per-call latency p50 "
              f"{lat[len(lat) // 2]:.3f} s (server sleeps {latency:.3f} s); load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        calls = server.total
        again = OpenAIProvider("gpt-4o-mini", api_key="sk-bench", base_url=server.openai_url, timeout=30)
        start = time.perf_counter()
        second = run_benchmark(task, [again], Path(tmp) / "b", concurrency=concurrency, progress=False,
                               score=False, max_side=384)
        cached_wall = time.perf_counter() - start
        new_calls = server.total - calls
        ok &= new_calls == 0 and cached_wall < 1.0
        print(f"2. fully cached rerun: {new_calls} requests, {cached_wall:.3f} s (target 0 and < 1 s); "
              f"cache hits {second.stats['cache_hits']}; speed-up x{wall / cached_wall:.0f}")
        mini = load_mini_vqa()
        times = {}
        for bs in (1, 8):
            local = TransformersProvider("blip_vqa_base", tiny=True, batch_size=bs, device="cpu")
            local.load()
            start = time.perf_counter()
            run_benchmark(mini, [local], Path(tmp) / f"local{bs}", cache=False, progress=False, score=False)
            times[bs] = time.perf_counter() - start
        print(f"3. tiny BLIP VQA on {len(mini)} questions (CPU): batch 1 {times[1]:.2f} s, batch 8 {times[8]:.2f} s, "
              f"ratio batch8/batch1 {times[8] / times[1]:.2f} (equal-length questions only are batched)")
    server.close()
    print("OK" if ok else "TARGET MISSED")
    return 0 if ok else 1


class _ServerProcess:
    """``python -m course_utils.bench.fakeserver`` in a child process, asked for its request count."""

    def __init__(self, latency: float):
        import subprocess

        self.proc = subprocess.Popen([sys.executable, "-m", "course_utils.bench.fakeserver", str(latency), "300"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        self.offset = 0

    @property
    def openai_url(self) -> str:
        return self.url + "/v1"

    @property
    def total(self) -> int:
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline()) - self.offset

    def reset(self) -> None:
        self.offset += self.total

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
