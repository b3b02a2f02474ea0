"""`import course_utils` is light: the re-exported names load their module on first use."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import course_utils


def test_import_course_utils_loads_no_torch():
    code = textwrap.dedent("""
        import sys
        import course_utils
        heavy = [m for m in ("torch", "segment_anything", "transformers", "timm", "course_utils.bench",
                             "course_utils.models") if m in sys.modules]
        assert not heavy, heavy
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]


def test_every_exported_name_resolves_to_its_module():
    for name in course_utils.__all__:
        module = importlib.import_module(f"course_utils.{course_utils._EXPORTS[name]}")
        assert getattr(course_utils, name) is getattr(module, name), name
    assert sorted(course_utils.__all__) == sorted(course_utils._EXPORTS)
    assert set(course_utils.__all__) <= set(dir(course_utils))


def test_unknown_name_is_an_attribute_error():
    try:
        course_utils.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("course_utils.no_such_name did not raise")
