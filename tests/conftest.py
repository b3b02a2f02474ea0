"""Shared pytest setup: tiny mode, an empty weight cache per test session, offline hub, markers."""

from __future__ import annotations

import os
import shutil

import pytest

os.environ.setdefault("COURSE_UTILS_TINY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two pytest-xdist workers on two cores: one torch/OpenMP thread each (and in the kernels and
    # subprocesses they start), so the workers do not fight over the cores.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Point the weight cache at an empty temporary directory so tests never see a user's cache."""
    path = tmp_path_factory.mktemp("course_utils_cache")
    old = os.environ.get("COURSE_UTILS_CACHE")
    os.environ["COURSE_UTILS_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("COURSE_UTILS_CACHE", None)
    else:
        os.environ["COURSE_UTILS_CACHE"] = old


def pytest_collection_modifyitems(config, items):
    network = os.environ.get("COURSE_UTILS_NETWORK") == "1"
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    has_chromium = shutil.which("chromium") is not None
    for item in items:
        if "network" in item.keywords and not network:
            item.add_marker(pytest.mark.skip(reason="needs the internet; set COURSE_UTILS_NETWORK=1"))
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))
        if "browser" in item.keywords and not has_chromium:
            if os.environ.get("CI"):
                item.add_marker(pytest.mark.xfail(reason="chromium missing in CI: `make browser-deps` failed",
                                                  strict=True, run=False))
            else:
                item.add_marker(pytest.mark.skip(reason="chromium missing: sudo apt-get install chromium"))
