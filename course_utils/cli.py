"""``course-utils`` command line: doctor, fetch-weights and the subcommands other modules add.

Modules listed in ``SUBCOMMAND_MODULES`` expose ``register(subparsers)``; each adds its own
subcommand (for example ``bench``) with ``set_defaults(func=...)``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence

SUBCOMMAND_MODULES: list[str] = ["course_utils.space", "course_utils.zoo", "course_utils.bench.cli",
                                 "course_utils.grading.cli"]

API_KEY_VARS = ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "HF_TOKEN"]


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _version(module: str) -> str:
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - doctor reports every failure
        return f"MISSING ({exc.__class__.__name__})"
    return str(getattr(mod, "__version__", "installed"))


def doctor(args: argparse.Namespace) -> int:
    """Print what this machine can do for the week's labs; never prints secret values."""
    from . import models, tiny

    ok = True
    print(f"Python        {platform.python_version()} ({sys.executable})")
    for mod in ["torch", "torchvision", "timm", "transformers", "segment_anything", "sklearn", "skimage",
                "plotly", "ipywidgets", "anywidget", "pycocoevalcap"]:
        version = _version(mod)
        ok &= not version.startswith("MISSING")
        print(f"{mod:<14}{version}")
    import torch

    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    gpu = f"CUDA ({torch.cuda.get_device_name(0)})" if cuda else ("MPS" if mps else "none (CPU only)")
    print(f"accelerator   {gpu}; models will run on {models.get_device()}")
    try:
        import torchvision.ops

        boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 10, 10]])
        torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
        print("torchvision   ops OK (nms runs: SAM automatic masks will work)")
    except Exception as exc:  # noqa: BLE001
        ok = False
        print(f"torchvision   ops BROKEN ({exc}); reinstall torch and torchvision together")
    java = shutil.which("java")
    if java:
        out = subprocess.run([java, "-version"], capture_output=True, text=True)
        first = (out.stderr or out.stdout).splitlines()[0] if (out.stderr or out.stdout) else "?"
        print(f"java          {first} (METEOR and the PTB tokenizer will run)")
    else:
        print("java          not found: METEOR and PTB tokenisation are skipped (install a JRE, e.g. "
              "apt-get install default-jre)")
    fronts = []
    for mod in ["jupyterlab", "notebook", "voila", "nbgrader"]:
        fronts.append(f"{mod} {_version(mod)}")
    print("frontends     " + ", ".join(fronts))
    try:
        import jupyterlab_widgets  # noqa: F401

        print("widgets       jupyterlab_widgets installed (ipywidgets render in JupyterLab 4)")
    except ImportError:
        print("widgets       jupyterlab_widgets missing: pip install 'course_utils[lab]'")
    print(f"tiny mode     {'ON' if tiny.enabled() else 'off'} ({tiny.TINY_ENV})")
    cache = models.describe_cache()
    print(f"cache         {cache['path']} ({_fmt_bytes(cache['total_bytes'])} in {len(cache['files'])} files)")
    for rel, size in cache["files"]:
        if not rel.endswith((".verified", ".lock")) and size > 1024 * 1024:
            print(f"                {rel} {_fmt_bytes(size)}")
    keys = [f"{k}={'set' if os.environ.get(k) else 'not set'}" for k in API_KEY_VARS]
    print("API keys      " + ", ".join(keys))
    from .colab import colab_secret_status

    secrets = colab_secret_status(API_KEY_VARS)
    if secrets is not None:  # Colab: keys in the Secrets panel count too (names only, never values)
        print("Colab secrets " + ", ".join(f"{k}={v}" for k, v in secrets.items()))
    return 0 if ok else 1


def fetch_weights(args: argparse.Namespace) -> int:
    """Download pretrained weights into the cache (run this where there is internet)."""
    from . import models

    names = list(models.REGISTRY) if args.all else args.names
    if not names:
        print("Name at least one model or pass --all. Models:\n  " + "\n  ".join(
            f"{s.name:<20} {s.download_mb:>7.0f} MB  {s.note}" for s in models.REGISTRY.values()))
        return 2
    unknown = [n for n in names if n not in models.REGISTRY]
    if unknown:
        print(f"Unknown model(s): {', '.join(unknown)}. Known: {', '.join(models.REGISTRY)}", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        try:
            path = models.fetch_weights(name, progress=not args.no_progress)
            weights = models.weight_files_in(path) if path.is_dir() else [path]
            print(f"OK   {name:<20} {path} ({', '.join(w.name for w in weights)})")
        except Exception as exc:  # noqa: BLE001 - report and continue with the next model
            failed += 1
            # A gated repo needs its whole message (licence page, token setup); other errors need one line.
            text = str(exc) if isinstance(exc, models.GatedModelError) else str(exc).splitlines()[0]
            print(f"FAIL {name:<20} {text}", file=sys.stderr)
    print(f"cache: {models.cache_dir()}")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course-utils", description="Week 4 course kit tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("doctor", help="check Python, torch, GPU, Java, widgets, cache and API keys")
    p.set_defaults(func=doctor)
    p = sub.add_parser("fetch-weights", help="download pretrained weights into the cache")
    p.add_argument("names", nargs="*", help="registry names (see `course-utils fetch-weights`)")
    p.add_argument("--all", action="store_true", help="every model of the week (about 40 GB)")
    p.add_argument("--no-progress", action="store_true", help="no download progress bars (logs, CI)")
    p.set_defaults(func=fetch_weights)
    for module in SUBCOMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
