"""``course-utils bench``: run, estimate, report, list runs, show prices.

Examples::

    course-utils bench run --task mini_vqa --provider local:blip_vqa_base --run-dir bench_runs/blip
    course-utils bench run --task mini_vqa --provider openai:gpt-6-luna --dry-run
    course-utils bench run --task mini_captions --provider gemini:gemini-3.5-flash-lite --rpm gemini=10 --report
    course-utils bench report bench_runs/blip
    course-utils bench models      # which hosted models take images today, status, where it was read
    course-utils bench prices
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _rate_limits(values: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for value in values:
        name, _, rpm = value.partition("=")
        try:
            out[name] = float(rpm)
        except ValueError:
            raise SystemExit(f"--rpm expects NAME=REQUESTS_PER_MINUTE (e.g. openai=500), got {value!r}") from None
    return out


def _providers(args: argparse.Namespace) -> list[Any]:
    from .providers import make_provider

    providers = []
    for spec in args.provider:
        kwargs: dict[str, Any] = {}
        if spec.startswith("local:"):
            kwargs = {"batch_size": args.batch_size, "tiny": True if args.tiny else None}
        elif args.timeout and spec.split(":", 1)[0] in ("openai", "anthropic", "gemini", "compat"):
            kwargs = {"timeout": args.timeout}
        try:
            providers.append(make_provider(spec, **kwargs))
        except (RuntimeError, ValueError, KeyError, FileNotFoundError) as exc:
            raise SystemExit(f"{spec}: {exc}") from None
    return providers


def cmd_run(args: argparse.Namespace) -> int:
    from .config import DEFAULT_RUNS_DIR
    from .cost import PricingTable
    from .estimate import estimate_cost
    from .providers import GenerationParams
    from .report import format_table, write_report
    from .runner import run_benchmark
    from .tasks import load_task

    if not args.provider:
        print("Name at least one --provider, e.g. local:blip_vqa_base, openai:gpt-6-luna, "
              "anthropic:claude-haiku-4-5, gemini:gemini-3.5-flash-lite, compat:MODEL@http://127.0.0.1:8000/v1 "
              "(current models: course-utils bench models)", file=sys.stderr)
        return 2
    task = load_task(args.task)
    if args.limit:
        task = task.subset(args.limit)
    params = GenerationParams(max_tokens=args.max_tokens,
                              temperature=None if args.temperature < 0 else args.temperature)
    pricing = PricingTable.load(args.pricing_file) if args.pricing_file else PricingTable.load()
    providers = _providers(args)
    cache: Any = False if args.no_cache else (args.cache or True)
    run_dir = Path(args.run_dir) if args.run_dir else None
    if args.dry_run:
        rows = estimate_cost(task, providers, params=params, cache=cache,
                             run_dir=run_dir or DEFAULT_RUNS_DIR / "dry-run", pricing=pricing)
        _warn_catalog(providers)
        for r in rows:
            est = "unknown price" if r["est_cost_usd"] is None else \
                f"~${r['est_cost_usd']:.4f} (at most ${r['max_cost_usd']:.4f})"
            print(f"{r['label']:<45} {r['n_to_call']:>4} calls, {r['n_cached']:>4} cached  {est}  "
                  f"[price {r['price_status']}; image tokens {r['image_rule']}]")
        return 0
    _warn_catalog(providers)
    result = run_benchmark(task, providers, run_dir, params=params, concurrency=args.concurrency,
                           rate_limits=_rate_limits(args.rpm), max_retries=args.max_retries, cache=cache,
                           pricing=pricing, progress=not args.no_progress, meteor=not args.no_meteor)
    print(format_table(result))
    for identity, message in result.stats.get("fatal", {}).items():
        print(f"ERROR {identity}: {message}", file=sys.stderr)
    print(f"run: {result.run_dir}  (calls {result.stats['calls']}, cache hits {result.stats['cache_hits']}, "
          f"retries {result.stats['retries']}, spent ${result.stats['spent_usd']:.4f})")
    if args.report:
        for kind, path in write_report(result).items():
            print(f"{kind}: {path}")
    return 0


def _warn_catalog(providers: list[Any]) -> None:
    from .catalog import load_catalog

    catalog = load_catalog()
    for p in providers:
        if p.provider in ("openai", "anthropic", "gemini"):
            entry = catalog.find(p.provider, p.model)
            if entry is None or entry.status != "active":
                print(f"note: {catalog.describe(p.provider, p.model)}", file=sys.stderr)


def cmd_report(args: argparse.Namespace) -> int:
    from .report import format_table, write_report
    from .scoring import load_run

    try:
        result = load_run(args.run, meteor=not args.no_meteor)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(format_table(result))
    for kind, path in write_report(result, args.out, pdf=not args.no_pdf).items():
        print(f"{kind}: {path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    root = Path(args.root)
    runs = sorted(p.parent for p in root.glob("*/run.sqlite"))
    if not runs:
        print(f"No runs under {root}.")
        return 0
    for run in runs:
        summary = run / "summary.json"
        rows = json.loads(summary.read_text("utf-8")) if summary.exists() else []
        models = ", ".join(f"{r['label']} {r['metric']}={r['score'] if r['score'] is None else round(r['score'], 3)}"
                           for r in rows) or "(unfinished or not scored: run `bench report`)"
        print(f"{run}: {models}")
    return 0


def cmd_prices(args: argparse.Namespace) -> int:
    from .cost import PricingTable

    table = PricingTable.load(args.pricing_file) if args.pricing_file else PricingTable.load()
    print(f"{table.meta.get('unit', '')}; table written {table.meta.get('table_written_on')}")
    print(table.meta.get("status_note", ""))
    print(f"{'provider':<10} {'model':<24} {'in $':>7} {'out $':>7}  {'price':<10} {'model is':<10} "
          f"{'read':<10} source")
    for p in sorted(table.prices, key=lambda p: (p.provider, p.lifecycle != "active", p.model)):
        print(f"{p.provider:<10} {p.model:<24} {p.input_per_mtok:>7g} {p.output_per_mtok:>7g}  {p.status:<10} "
              f"{p.lifecycle:<10} {p.read_on or '-':<10} {p.source}")
        if p.note and args.verbose:
            print(f"{'':<12}{p.note}")
    print("(--verbose shows each row's note: which copy of the page it was read from)")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .catalog import load_catalog

    catalog = load_catalog()
    print(f"Hosted models for image input, read {catalog.meta.get('read_on')} "
          "(status: active / deprecated until shutdown / retired / unknown).")
    print(catalog.meta.get("description", ""))
    for provider in ("openai", "anthropic", "gemini"):
        if args.provider and provider != args.provider:
            continue
        print(f"\n{provider} (kit default: {catalog.default(provider)})")
        order = {"active": 0, "deprecated": 1, "unknown": 2, "retired": 3}
        for e in sorted(catalog.of(provider), key=lambda e: (order.get(e.status, 9), e.model)):
            when = f" shutdown {e.shutdown_date}" if e.shutdown_date else ""
            repl = f" -> {e.replacement}" if e.replacement else ""
            rule = dict(e.image_tokens or {})
            rule_txt = (f"{rule.get('rule')}{'' if rule.get('verified') else ' (unverified)'}") if rule else "-"
            temp = {True: "", False: "  no temperature", None: ""}[e.temperature]
            print(f"  {e.model:<24} {e.status:<10}{when}{repl}")
            print(f"  {'':<24} image tokens: {rule_txt}{temp}; {'verified' if e.verified else 'UNVERIFIED'}: "
                  f"{e.source} ({e.source_note}; read {e.read_on})")
    return 0


def register(subparsers: Any) -> None:
    """Add ``bench`` with ``run``, ``report``, ``list``, ``models`` and ``prices`` to the course-utils parser."""
    bench = subparsers.add_parser("bench", help="multimodal benchmark: run, report, list, models, prices")
    sub = bench.add_subparsers(dest="bench_command", required=True)
    p = sub.add_parser("run", help="run a task on one or more providers (resumable, cached)")
    p.add_argument("--task", default="mini_vqa", help="mini_vqa or mini_captions")
    p.add_argument("--provider", action="append", default=[],
                   help="openai:MODEL (e.g. openai:gpt-6-luna), anthropic:MODEL (anthropic:claude-haiku-4-5), "
                        "gemini:MODEL (gemini:gemini-3.5-flash-lite), local:REGISTRY_NAME, compat:MODEL@URL, "
                        "replay:RUN_DIR (repeat for several; current hosted models: course-utils bench models)")
    p.add_argument("--run-dir", help="run folder (default bench_runs/<task>-<time>); an existing run resumes")
    p.add_argument("--limit", type=int, help="only the first N items")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--rpm", action="append", default=[], help="rate limit NAME=REQUESTS_PER_MINUTE")
    p.add_argument("--max-retries", type=int, default=4)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = deterministic and cached; -1 = default")
    p.add_argument("--timeout", type=float, help="seconds per API request")
    p.add_argument("--batch-size", type=int, default=8, help="images per forward pass for local models")
    p.add_argument("--tiny", action="store_true", help="tiny random local models (offline tests)")
    p.add_argument("--cache", help="response cache file (default: cache.sqlite next to the run folder)")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--pricing-file", help="JSON pricing table to use instead of the shipped one")
    p.add_argument("--dry-run", action="store_true", help="estimate the cost; make no request")
    p.add_argument("--report", action="store_true", help="also write report.html and report.pdf")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-meteor", action="store_true", help="skip METEOR (saves ~15 s of Java start-up)")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("report", help="table + HTML/PDF report of a run")
    p.add_argument("run", help="run folder")
    p.add_argument("--out", help="output folder (default RUN/report)")
    p.add_argument("--no-pdf", action="store_true")
    p.add_argument("--no-meteor", action="store_true")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("list", help="list runs and their scores")
    p.add_argument("root", nargs="?", default="bench_runs")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("prices", help="show the pricing table: every row's source, date, status and lifecycle")
    p.add_argument("--pricing-file")
    p.add_argument("--verbose", action="store_true", help="also print each row's note")
    p.set_defaults(func=cmd_prices)
    p = sub.add_parser("models", help="the model catalogue: hosted models for image input, status, sources")
    p.add_argument("--provider", choices=["openai", "anthropic", "gemini"])
    p.set_defaults(func=cmd_models)
