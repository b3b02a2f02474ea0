"""Multimodal benchmark: providers, tasks, metrics, runner, cache, cost ledger and reports.

Typical use (see ``labs/lab4_4_benchmark.ipynb`` and ``docs/benchmark.md``)::

    from course_utils.bench import load_mini_vqa, TransformersProvider, run_benchmark, write_report
    result = run_benchmark(load_mini_vqa(), [TransformersProvider("blip_vqa_base")], "bench_runs/demo")
    result.table()                     # list of dicts: model, accuracy, cost_per_1k, p95_latency_s...
    write_report(result, "bench_runs/demo/report")   # HTML + PDF
"""

from .catalog import ModelEntry, load_catalog
from .config import RunConfig
from .cost import PricingTable, estimate_image_tokens
from .estimate import estimate_cost
from .metrics import caption_scores, normalize_vqa_answer, vqa_accuracy
from .providers import (
    AnthropicProvider,
    GeminiProvider,
    GenerationParams,
    OpenAICompatibleProvider,
    OpenAIProvider,
    Provider,
    ProviderError,
    ReplayProvider,
    TransformersProvider,
    make_provider,
    resolve_api_key,
)
from .report import format_table, write_report
from .runner import arun_benchmark, run_benchmark
from .scoring import RunResult, load_run
from .tasks import (
    BenchItem,
    Task,
    load_coco_captions,
    load_mini_captions,
    load_mini_vqa,
    load_task,
    load_vqa_v2,
)

__all__ = [
    "AnthropicProvider", "BenchItem", "GeminiProvider", "GenerationParams", "ModelEntry", "OpenAICompatibleProvider",
    "OpenAIProvider", "PricingTable", "Provider", "ProviderError", "ReplayProvider", "RunConfig", "RunResult", "Task",
    "TransformersProvider", "caption_scores", "estimate_cost", "estimate_image_tokens", "load_coco_captions",
    "load_catalog", "load_mini_captions", "load_mini_vqa", "load_run", "load_task", "load_vqa_v2", "make_provider",
    "normalize_vqa_answer", "resolve_api_key", "run_benchmark", "arun_benchmark", "vqa_accuracy", "format_table",
    "write_report",
]
