"""The bench package's seams: RunConfig, tenacity-driven retries on a virtual clock, prompt formats as data,
and its imports (no cycle, nothing above it)."""

from __future__ import annotations

import asyncio

import pytest
from virtual_clock import VirtualTimeLoop

from course_utils.bench import GenerationParams, Provider, RunConfig, load_mini_vqa, run_benchmark
from course_utils.bench.errors import ProviderError
from course_utils.bench.providers import ProviderRequest, ProviderResponse


class _Flaky(Provider):
    """Fails each item's first ``fails`` calls with a retryable error (with Retry-After if given)."""

    provider, model = "flaky", "m"

    def __init__(self, fails: int, retry_after: float | None = None, kind: str = "server"):
        self.fails, self.retry_after, self.kind = fails, retry_after, kind
        self.starts: dict[str, list[float]] = {}

    async def generate(self, request, params):
        times = self.starts.setdefault(request.item_id, [])
        times.append(asyncio.get_running_loop().time())
        if len(times) <= self.fails:
            raise ProviderError("injected", self.kind, self.kind != "client", self.retry_after)
        return ProviderResponse("yes", 10, 1)


def _run(provider, tmp_path, name, **settings):
    from course_utils.bench.runner import arun_benchmark

    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(arun_benchmark(load_mini_vqa().subset(3), [provider], tmp_path / name,
                                                      progress=False, cache=False, score=False, **settings))
    finally:
        loop.close()


def test_retries_are_counted_per_attempt(tmp_path):
    """2 failures then success per item: 3 calls and 2 retries per item; 5 failures with max_retries=3: 4 calls."""
    ok = _run(_Flaky(2), tmp_path, "ok", max_retries=3, backoff_base=1.0)
    assert ok.stats["calls"] == 9 and ok.stats["retries"] == 6 and ok.stats["errors_server"] == 6
    assert {r["attempts"] for r in ok.item_records()} == {3} and {r["status"] for r in ok.item_records()} == {"ok"}
    bad = _run(_Flaky(5), tmp_path, "bad", max_retries=3)
    assert bad.stats["calls"] == 12 and bad.stats["retries"] == 9
    assert {r["attempts"] for r in bad.item_records()} == {4}
    assert {r["error"] for r in bad.item_records()} == {"server: injected"}
    client = _run(_Flaky(1, kind="client"), tmp_path, "client", max_retries=3)
    assert client.stats["calls"] == 3 and client.stats["retries"] == 0          # client errors: never retried


def test_retry_after_is_honoured_and_pauses_the_provider(tmp_path):
    """With Retry-After 30 s, no retry starts before 30 s after its failure (virtual clock)."""
    provider = _Flaky(1, retry_after=30.0)
    result = _run(provider, tmp_path, "ra", max_retries=2, concurrency=1)
    assert result.stats["calls"] == 6 and result.stats["retries"] == 3
    for first, second in provider.starts.values():
        assert second - first >= 30.0


def test_config_and_keywords_build_the_same_run(tmp_path):
    """config=RunConfig(...) and the same keywords give the same settings; keywords replace config fields."""
    cfg = RunConfig(concurrency=2, max_retries=1, progress=False, cache=False, score=False)
    assert RunConfig.build(cfg, max_retries=3) == RunConfig(concurrency=2, max_retries=3, progress=False,
                                                            cache=False, score=False)
    assert RunConfig(params=None).params == GenerationParams()
    with pytest.raises(TypeError, match="concurency"):
        RunConfig.build(concurency=2)
    with pytest.raises(ValueError, match="concurrency must be >= 1"):
        RunConfig(concurrency=0)
    a = run_benchmark(load_mini_vqa().subset(2), [_Flaky(1)], tmp_path / "a", config=cfg, backoff_base=0.0)
    b = run_benchmark(load_mini_vqa().subset(2), [_Flaky(1)], tmp_path / "b", concurrency=2, max_retries=1,
                      progress=False, cache=False, score=False, backoff_base=0.0)
    assert a.stats["calls"] == b.stats["calls"] == 4
    assert [(r["item_id"], r["output"]) for r in a.item_records()] == [(r["item_id"], r["output"])
                                                                       for r in b.item_records()]


@pytest.mark.parametrize("arch, kind, question, prompt, expected", [
    ("BlipForQuestionAnswering", "vqa", "Is it red?", "Is it red?\nAnswer briefly.", "Is it red?"),
    ("BlipForQuestionAnswering", "caption", None, "A photo of", "A photo of"),
    ("Blip2ForConditionalGeneration", "vqa", "Is it red?", "Is it red?\nAnswer briefly.",
     "Question: Is it red? Answer:"),
    ("Blip2ForConditionalGeneration", "caption", None, "Describe the image.", ""),
    ("LlavaForConditionalGeneration", "vqa", "Is it red?", "Is it red?\nAnswer briefly.",
     "USER: <image>\nIs it red?\nAnswer briefly. ASSISTANT:"),
    ("LlavaForConditionalGeneration", "caption", None, "Describe the image.",
     "USER: <image>\nDescribe the image. ASSISTANT:"),
])
def test_prompt_formats_from_the_table(arch, kind, question, prompt, expected):
    """The table gives, character for character, the prompts the provider built in code before."""
    from course_utils.bench.providers.local import prompt_templates, prompt_text

    req = ProviderRequest("i", kind, prompt, question, b"", "h")
    assert prompt_text(prompt_templates()[arch], req) == expected
    assert prompt_templates()[arch]["decoder_only"] == (arch != "BlipForQuestionAnswering")
    assert "BlipForConditionalGeneration" not in prompt_templates()     # BLIP base captioner: image only


def test_bench_imports_no_cycle_and_nothing_above_it():
    """bench imports only images, models and tiny from the package; no cycle among its modules."""
    import grimp

    g = grimp.build_graph("course_utils")
    mods = {m for m in g.modules if m.startswith("course_utils.bench")}

    def unit(m: str) -> str:   # the providers package counts as one module
        return "course_utils.bench.providers" if m.startswith("course_utils.bench.providers") else m

    outside = {i.split(".")[1] for m in mods for i in g.find_modules_directly_imported_by(m)
               if i.startswith("course_utils.") and not i.startswith("course_utils.bench")}
    assert outside <= {"images", "models", "tiny"}, outside
    edges: dict[str, set[str]] = {}
    for m in mods:
        for i in g.find_modules_directly_imported_by(m):
            if i in mods and unit(i) != unit(m):
                edges.setdefault(unit(m), set()).add(unit(i))
    state: dict[str, int] = {}

    def visit(u: str, path: list[str]) -> None:
        state[u] = 1
        for v in edges.get(u, ()):
            assert state.get(v) != 1, f"import cycle: {' -> '.join(path + [v])}"
            if not state.get(v):
                visit(v, path + [v])
        state[u] = 2

    for m in sorted(edges):
        if not state.get(m):
            visit(m, [m])
