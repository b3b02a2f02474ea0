"""The runner against a real HTTP server on 127.0.0.1, through the official SDKs.

The oracle is the server itself: it counts every request per content key (prompt + image), and
its answers and token usage are known functions, so costs, retries and cache savings are exact.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from virtual_clock import VirtualTimeLoop as _VirtualTimeLoop

from course_utils.bench import (
    AnthropicProvider,
    GeminiProvider,
    GenerationParams,
    OpenAIProvider,
    PricingTable,
    Provider,
    ReplayProvider,
    estimate_cost,
    load_mini_vqa,
    run_benchmark,
    vqa_accuracy,
)
from course_utils.bench.fakeserver import FakeAPIServer, Fault, fail_first, fail_items
from course_utils.bench.providers import ProviderResponse

SECRET = "sk-test-DO-NOT-LEAK-7f3a9c1e5b"
PRICES = {"input_per_mtok": 1.0, "output_per_mtok": 4.0}


def _answers(task):
    """The server answers every question with its first human answer, except 'What animal' -> 'dog'."""
    table = {it.question: it.references[0] for it in task.items}

    def answer(prompt: str) -> str:
        question = prompt.split("\n")[0]
        return "dog" if question.startswith("What animal") else table.get(question, "yes")
    return answer


def _expected_cost(task, answer, items=None) -> float:
    total = 0.0
    for it in task.items if items is None else items:
        ans = answer(it.question)
        total += (1000 + len(it.prompt)) * 1.0 / 1e6 + (len(ans.split()) + 1) * 4.0 / 1e6
    return total


@pytest.fixture
def task():
    return load_mini_vqa()


@pytest.fixture
def server(task):
    with FakeAPIServer(answer=_answers(task), max_lifetime_s=300) as srv:
        yield srv


def _pricing(*keys: str) -> PricingTable:
    return PricingTable.load(overrides={k: PRICES for k in keys})


def test_openai_run_exact_accuracy_cost_and_single_calls(task, server, tmp_path):
    answer = _answers(task)
    provider = OpenAIProvider("gpt-4o-mini", api_key=SECRET, base_url=server.openai_url, timeout=5)
    result = run_benchmark(task, [provider], tmp_path / "run", concurrency=4, progress=False,
                           pricing=_pricing("openai:gpt-4o-mini"))
    row = result.table()[0]
    assert server.total == len(task) and set(server.counts.values()) == {1}
    expected_acc = sum(vqa_accuracy(answer(it.question), it.references) for it in task.items) / len(task)
    assert row["accuracy"] == pytest.approx(expected_acc, abs=1e-12)
    assert row["total_cost_usd"] == pytest.approx(_expected_cost(task, answer), rel=1e-12)
    assert row["spent_usd"] == pytest.approx(row["total_cost_usd"], rel=1e-12)
    assert row["cost_per_1k"] == pytest.approx(1000 * _expected_cost(task, answer) / len(task), rel=1e-12)
    assert row["n_ok"] == len(task) and row["n_errors"] == 0 and row["price_status"] == "user"
    assert row["p50_latency_s"] <= row["p95_latency_s"]
    assert (tmp_path / "run" / "summary.json").exists()


def test_faults_are_retried_exactly_and_failures_recorded(task, server, tmp_path):
    q = {it.question: it for it in task.items}
    server.faults = fail_items({
        "Is the person smiling?": [Fault("429", retry_after=0.3)],
        "What color is the suit?": [Fault("500"), Fault("500")],
        "What drink is in the cup?": [Fault("hang", seconds=3.0)],
        "Is there a spoon?": [Fault("malformed_json")],
        "What color is the saucer?": [Fault("malformed_schema")] * 10,
        "Is it daytime?": [Fault("400")],
    })
    provider = OpenAIProvider("gpt-4o-mini", api_key=SECRET, base_url=server.openai_url, timeout=2.0)
    result = run_benchmark(task, [provider], tmp_path / "run", concurrency=8, max_retries=3, backoff_base=0.05,
                           progress=False, pricing=_pricing("openai:gpt-4o-mini"))
    records = {r["item_id"]: r for r in result.item_records()}

    def count(question):
        from course_utils.bench.fakeserver import image_key
        it = q[question]
        return server.counts[("openai", image_key(it.prompt, it.encoded()[0]))]

    assert count("Is the person smiling?") == 2
    assert count("What color is the suit?") == 3
    assert count("What drink is in the cup?") == 2
    assert count("Is there a spoon?") == 2
    assert count("What color is the saucer?") == 4          # 1 + max_retries, then recorded as an error
    assert count("Is it daytime?") == 1                      # 400: not retried
    assert server.total == len(task) - 6 + 2 + 3 + 2 + 2 + 4 + 1
    # Retry-After honoured: the second attempt came at least 0.3 s after the first.
    from course_utils.bench.fakeserver import image_key
    it = q["Is the person smiling?"]
    t0, t1 = server.times[("openai", image_key(it.prompt, it.encoded()[0]))]
    assert t1 - t0 >= 0.3
    assert records[q["What color is the saucer?"].item_id]["status"] == "error"
    assert "malformed" in records[q["What color is the saucer?"].item_id]["error"]
    assert records[q["Is it daytime?"].item_id]["error"].startswith("client")
    row = result.table()[0]
    assert row["n_errors"] == 2 and row["n_ok"] == len(task) - 2
    ok_items = [it for it in task.items if records[it.item_id]["status"] == "ok"]
    assert row["spent_usd"] == pytest.approx(_expected_cost(task, _answers(task), ok_items), rel=1e-12)
    assert result.stats["retries"] == 1 + 2 + 1 + 1 + 3


def test_anthropic_and_gemini_through_their_sdks(task, server, tmp_path):
    small = task.subset(6)
    server.faults = fail_first("429", times=1, retry_after=0.1)
    providers = [AnthropicProvider("claude-haiku-4-5", api_key=SECRET, base_url=server.url, timeout=5),
                 GeminiProvider("gemini-2.5-flash", api_key=SECRET, base_url=server.url, timeout=5)]
    result = run_benchmark(small, providers, tmp_path / "run", concurrency=4, progress=False,
                           pricing=_pricing("anthropic:claude-haiku-4-5", "gemini:gemini-2.5-flash"))
    assert server.total == 2 * 2 * len(small)            # every key: one 429, one success, per API
    assert set(server.counts.values()) == {2}
    expected = _expected_cost(small, _answers(task))
    for row in result.table():
        assert row["n_ok"] == len(small)
        assert row["total_cost_usd"] == pytest.approx(expected, rel=1e-12), row["provider"]


def test_cached_rerun_makes_no_request_and_dry_run_knows(task, server, tmp_path):
    provider = OpenAIProvider("gpt-4o-mini", api_key=SECRET, base_url=server.openai_url, timeout=5)
    pricing = _pricing("openai:gpt-4o-mini")
    before = estimate_cost(task, [provider], run_dir=tmp_path / "a", pricing=pricing)[0]
    assert before["n_to_call"] == len(task) and before["est_cost_usd"] > 0 and server.total == 0
    first = run_benchmark(task, [provider], tmp_path / "a", progress=False, pricing=pricing)
    calls = server.total
    again = OpenAIProvider("gpt-4o-mini", api_key=SECRET, base_url=server.openai_url, timeout=5)
    second = run_benchmark(task, [again], tmp_path / "b", progress=False, pricing=pricing)
    assert server.total == calls == len(task)
    assert second.stats["calls"] == 0 and second.stats["cache_hits"] == len(task)
    r1, r2 = first.table()[0], second.table()[0]
    assert r2["spent_usd"] == 0.0 and r2["n_cached"] == len(task)
    assert r2["cost_per_1k"] == pytest.approx(r1["cost_per_1k"]) and r2["accuracy"] == r1["accuracy"]
    after = estimate_cost(task, [again], run_dir=tmp_path / "c", pricing=pricing)[0]
    assert after["n_cached"] == len(task) and after["est_cost_usd"] == 0.0
    # Sampling (temperature > 0) is never served from the cache.
    hot = OpenAIProvider("gpt-4o-mini", api_key=SECRET, base_url=server.openai_url, timeout=5)
    run_benchmark(task.subset(3), [hot], tmp_path / "d", progress=False, pricing=pricing,
                  params=GenerationParams(temperature=0.7))
    assert server.total == len(task) + 3


def test_replay_rescores_offline(task, server, tmp_path):
    provider = OpenAIProvider("gpt-4o-mini", api_key=SECRET, base_url=server.openai_url, timeout=5)
    first = run_benchmark(task, [provider], tmp_path / "live", progress=False, pricing=_pricing("openai:gpt-4o-mini"))
    server.stop()
    replay = ReplayProvider.from_run(tmp_path / "live")
    again = run_benchmark(task, [replay], tmp_path / "replayed", progress=False, cache=False,
                          pricing=_pricing("openai:gpt-4o-mini"))
    live, rep = first.table()[0], again.table()[0]
    assert rep["accuracy"] == live["accuracy"] and rep["total_cost_usd"] == pytest.approx(live["total_cost_usd"])
    outputs = {r["item_id"]: r["output"] for r in first.item_records()}
    assert {r["item_id"]: r["output"] for r in again.item_records()} == outputs


def test_rate_limit_spaces_requests(task, server, tmp_path):
    import asyncio

    from course_utils.bench.runner import RateLimiter

    provider = OpenAIProvider("gpt-4o-mini", api_key=SECRET, base_url=server.openai_url, timeout=5)
    result = run_benchmark(task.subset(6), [provider], tmp_path / "run", concurrency=6,
                           rate_limits={"openai": 600}, progress=False, score=False)
    assert server.total == 6 and len(result.item_records()) == 6  # every request went out once, under the limit

    async def starts() -> list[float]:
        loop = asyncio.get_running_loop()
        limiter = RateLimiter(600)
        t0 = loop.time()

        async def one() -> float:
            await limiter.acquire()
            return loop.time() - t0
        return sorted(await asyncio.gather(*[one() for _ in range(6)]))

    loop = _VirtualTimeLoop()  # a virtual clock: the spacing is checked exactly, whatever the machine's load
    try:
        times = loop.run_until_complete(starts())
    finally:
        loop.close()
    assert times == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5], abs=1e-9)  # 600/min: one start every 0.1 s


def test_existing_run_needs_same_settings(task, server, tmp_path):
    provider = OpenAIProvider("gpt-4o-mini", api_key=SECRET, base_url=server.openai_url, timeout=5)
    run_benchmark(task.subset(2), [provider], tmp_path / "run", progress=False, score=False)
    with pytest.raises(ValueError, match="different params"):
        run_benchmark(task.subset(2), [provider], tmp_path / "run", progress=False,
                      params=GenerationParams(max_tokens=5))
    with pytest.raises(FileExistsError, match="resume=True"):
        run_benchmark(task.subset(2), [provider], tmp_path / "run", progress=False, resume=False)


_CHILD = textwrap.dedent("""
    import sys
    from course_utils.bench import OpenAIProvider, load_mini_vqa, run_benchmark
    from course_utils.bench.cost import PricingTable
    url, run_dir = sys.argv[1], sys.argv[2]
    provider = OpenAIProvider("gpt-4o-mini", base_url=url, timeout=10)   # key from OPENAI_API_KEY
    pricing = PricingTable.load(overrides={"openai:gpt-4o-mini": {"input_per_mtok": 1.0, "output_per_mtok": 4.0}})
    run_benchmark(load_mini_vqa(), [provider], run_dir, concurrency=2, progress=False, pricing=pricing)
    print("child finished")
""")


@pytest.mark.slow
def test_resume_after_kill_repeats_no_finished_call_and_leaks_no_key(task, server, tmp_path):
    server.latency_s = 0.25
    run_dir = tmp_path / "runs" / "killed"
    env = {**os.environ, "OPENAI_API_KEY": SECRET, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, server.openai_url, str(run_dir)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = run_dir / "run.sqlite"
    deadline = time.monotonic() + 90
    done_at_kill: set[str] = set()
    try:
        while time.monotonic() < deadline and child.poll() is None:
            if db.exists():
                try:
                    with sqlite3.connect(db, timeout=1) as conn:
                        n = conn.execute("SELECT COUNT(*) FROM results WHERE status='ok'").fetchone()[0]
                except sqlite3.OperationalError:
                    n = 0
                if n >= 6:
                    break
            time.sleep(0.05)
        assert child.poll() is None, "the child finished before it could be killed"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    with sqlite3.connect(db) as conn:
        done_at_kill = {r[0] for r in conn.execute("SELECT item_id FROM results WHERE status='ok'")}
    assert 6 <= len(done_at_kill) < len(task)
    calls_at_kill = server.total
    server.latency_s = 0.0
    provider = OpenAIProvider("gpt-4o-mini", api_key=SECRET, base_url=server.openai_url, timeout=10)
    result = run_benchmark(task, [provider], run_dir, progress=False, pricing=_pricing("openai:gpt-4o-mini"))
    from course_utils.bench.fakeserver import image_key
    for it in task.items:
        n = server.counts[("openai", image_key(it.prompt, it.encoded()[0]))]
        if it.item_id in done_at_kill:
            assert n == 1, f"{it.item_id} finished before the kill but was called {n} times"
        else:
            assert n in (1, 2)    # 2 only if it was in flight when the process died
    in_flight = calls_at_kill - len(done_at_kill)
    assert 0 <= in_flight <= 2                                       # concurrency=2
    assert server.total == len(task) + sum(n - 1 for n in server.counts.values()) <= len(task) + in_flight
    row = result.table()[0]
    assert row["n_ok"] == len(task) and row["n_errors"] == 0
    assert row["total_cost_usd"] == pytest.approx(_expected_cost(task, _answers(task)), rel=1e-12)
    # The key reached the server, but no file the runs wrote contains it (sqlite, WAL, JSON, cache).
    assert server.auth_seen and SECRET not in repr(provider)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "cache.sqlite" for p in files) and any(p.name == "summary.json" for p in files)
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), f"API key found in {path}"


def test_key_not_in_report_or_repr(task, server, tmp_path):
    from course_utils.bench.report import write_report

    provider = OpenAIProvider("gpt-4o-mini", api_key=SECRET, base_url=server.openai_url, timeout=5)
    assert SECRET not in repr(provider) and SECRET not in str(provider.describe())
    result = run_benchmark(task.subset(4), [provider], tmp_path / "run", progress=False)
    paths = write_report(result, tmp_path / "run" / "report", pdf=True)
    for path in [*paths.values(), *(tmp_path / "run").rglob("*")]:
        if Path(path).is_file():
            assert SECRET.encode() not in Path(path).read_bytes()


def test_missing_key_message_names_the_fix(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(RuntimeError, match="OPENAI_API_KEY.*Colab"):
        OpenAIProvider("gpt-4o-mini")


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
def test_every_sdk_classifies_every_fault(api, task, server):
    """Each official SDK, pointed at the loopback server, maps each injected fault to the right kind."""
    import asyncio

    from course_utils.bench import ProviderError
    from course_utils.bench.runner import _request

    make = {"openai": lambda: OpenAIProvider("gpt-4o-mini", api_key=SECRET, base_url=server.openai_url, timeout=1.5),
            "anthropic": lambda: AnthropicProvider("claude-haiku-4-5", api_key=SECRET, base_url=server.url,
                                                   timeout=1.5),
            "gemini": lambda: GeminiProvider("gemini-2.5-flash", api_key=SECRET, base_url=server.url, timeout=1.5)}
    expected = {"429": ("rate_limit", True, 0.7), "500": ("server", True, None), "400": ("client", False, None),
                "hang": ("timeout", True, None), "malformed_json": ("malformed", True, None),
                "malformed_schema": ("malformed", True, None)}
    req = _request(task.items[0], "vqa", 768)

    async def go():
        provider = make[api]()
        try:
            ok = await provider.generate(req, GenerationParams())
            kinds = {}
            for fault in expected:
                server.faults = lambda info, f=fault: Fault(f, retry_after=0.7 if f == "429" else None, seconds=3.0)
                with pytest.raises(ProviderError) as err:
                    await provider.generate(req, GenerationParams())
                kinds[fault] = (err.value.kind, err.value.retryable, err.value.retry_after)
            return ok, kinds
        finally:
            await provider.aclose()

    ok, kinds = asyncio.run(go())
    assert ok.text == "dog" and ok.input_tokens == 1000 + len(req.prompt)   # "What animal" -> "dog"
    assert kinds == expected
    assert server.total == 1 + len(expected)


def test_a_provider_serves_several_runs(task, server, tmp_path):
    """Providers keep no event-loop-bound state between runs (each run_benchmark has its own loop)."""
    provider = OpenAIProvider("gpt-4o-mini", api_key=SECRET, base_url=server.openai_url, timeout=5)
    for name in ("a", "b"):
        run_benchmark(task.subset(3), [provider], tmp_path / name, progress=False, cache=False, score=False)
    assert server.total == 6


@pytest.mark.network
@pytest.mark.parametrize("kind, env", [("openai:gpt-4o-mini", "OPENAI_API_KEY"),
                                       ("anthropic:claude-haiku-4-5", "ANTHROPIC_API_KEY"),
                                       ("gemini:gemini-2.5-flash", "GEMINI_API_KEY")])
def test_real_api_two_items(kind, env, task, tmp_path):
    """With COURSE_UTILS_NETWORK=1 and a key: two real calls, usage reported, key in no written file."""
    from course_utils.bench import make_provider, resolve_api_key

    key = resolve_api_key([env])
    if key is None:
        pytest.skip(f"{env} not set")
    result = run_benchmark(task.subset(2), [make_provider(kind)], tmp_path / "run", progress=False)
    row = result.table()[0]
    assert row["n_ok"] == 2 and all(r["input_tokens"] > 0 for r in result.item_records())
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert key.reveal().encode() not in path.read_bytes()


def test_resume_with_a_subset_keeps_the_runs_items(task, server, tmp_path):
    """A resumed run covers the union of its items: n_items, n_ok, score, cost and latency agree."""
    import json

    from course_utils.bench import Task, load_run

    pricing = _pricing("openai:gpt-4o-mini")
    answer = _answers(task)

    def provider():
        return OpenAIProvider("gpt-4o-mini", api_key=SECRET, base_url=server.openai_url, timeout=5)

    def check(row, items):
        expected_acc = sum(vqa_accuracy(answer(it.question), it.references) for it in items) / len(items)
        assert row["n_items"] == row["n_ok"] == len(items) and row["n_errors"] == 0
        assert row["accuracy"] == pytest.approx(expected_acc, abs=1e-12)
        assert row["total_cost_usd"] == pytest.approx(_expected_cost(task, answer, items), rel=1e-12)

    run_dir = tmp_path / "run"
    six = task.subset(6)
    check(run_benchmark(six, [provider()], run_dir, progress=False, pricing=pricing).table()[0], six.items)
    resumed = run_benchmark(task.subset(3), [provider()], run_dir, progress=False, pricing=pricing)
    assert server.total == 6 and resumed.stats["calls"] == 0
    check(resumed.table()[0], six.items)
    assert [it.item_id for it in resumed.task.items] == [it.item_id for it in six.items]
    check(load_run(run_dir).table()[0], six.items)
    assert json.loads((run_dir / "summary.json").read_text())[0]["n_items"] == 6
    lat = sorted(r["latency_s"] for r in load_run(run_dir).item_records())
    assert len(lat) == 6 and resumed.table()[0]["p95_latency_s"] == pytest.approx(float(np.percentile(lat, 95)))
    # A subset plus one new item: only the new item is called, and the run grows to seven.
    grown = run_benchmark(task.subset(ids=[task.items[0].item_id, task.items[6].item_id]), [provider()], run_dir,
                          progress=False, pricing=pricing, score=False)
    assert server.total == 7 and len(grown.task) == 7
    check(load_run(run_dir).table()[0], task.items[:7])
    # The same for a task that is not built in (its items are stored inline in the run).
    inline = Task("my_vqa", "vqa", list(task.items[:4]))
    run_benchmark(inline, [provider()], tmp_path / "inline", progress=False, pricing=pricing)
    again = run_benchmark(Task("my_vqa", "vqa", list(task.items[1:3])), [provider()], tmp_path / "inline",
                          progress=False, pricing=pricing)
    check(again.table()[0], inline.items)
    check(load_run(tmp_path / "inline").table()[0], inline.items)


class _StampProvider(Provider):
    """Records the (virtual) time at which each request reaches it; the first one stalls."""

    provider, model = "stamp", "clock"

    def __init__(self, stall_s: float):
        self.stall_s = stall_s
        self.starts: list[float] = []

    async def generate(self, request, params):
        self.starts.append(asyncio.get_running_loop().time())
        if len(self.starts) == 1:
            await asyncio.sleep(self.stall_s)
        return ProviderResponse("yes", 10, 1)


def test_rate_limit_holds_after_a_stall(task, tmp_path):
    """6 requests/min, one slot: a 100 s stall must not release the queue back to back (virtual clock)."""
    from course_utils.bench.runner import arun_benchmark

    provider = _StampProvider(stall_s=100.0)
    loop = _VirtualTimeLoop()
    try:
        result = loop.run_until_complete(arun_benchmark(
            task.subset(12), [provider], tmp_path / "run", concurrency=1, rate_limits={"stamp": 6},
            progress=False, cache=False, score=False))
    finally:
        loop.close()
    starts = provider.starts
    assert len(starts) == 12 and result.stats["calls"] == 12
    assert starts[0] == 0.0 and starts[1] >= 100.0            # the stall really held the only slot
    for t in starts:                                          # every 60 s window [t, t + 60) holds <= 6 starts
        assert sum(t <= u < t + 60.0 - 1e-9 for u in starts) <= 6, (t, starts)
    assert loop.now < 300.0                                   # and the limiter did not over-throttle either


def test_encode_image_sees_a_file_rewritten_at_the_same_path(tmp_path):
    """The memo follows the file's content, even with the same size and modification time."""
    from PIL import Image

    from course_utils.bench.tasks import encode_image

    path = tmp_path / "photo.bmp"                     # BMP: same dimensions -> same file size
    first = np.zeros((20, 30, 3), np.uint8)
    second = np.full((20, 30, 3), 200, np.uint8)
    Image.fromarray(first).save(path)
    stamp = path.stat()
    data1, hash1 = encode_image(str(path))
    assert encode_image(str(path)) == (data1, hash1) and encode_image(first) == (data1, hash1)
    Image.fromarray(second).save(path)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert path.stat().st_size == stamp.st_size and path.stat().st_mtime_ns == stamp.st_mtime_ns
    data2, hash2 = encode_image(str(path))
    assert (data2, hash2) == encode_image(second)     # the array path is never memoised: the oracle
    assert hash2 != hash1
    path.unlink()
    with pytest.raises(FileNotFoundError):
        encode_image(str(path))
