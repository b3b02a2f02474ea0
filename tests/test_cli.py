"""course-utils doctor and fetch-weights, run as a user would (a subprocess)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

from course_utils import cli, models


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "course_utils.cli", *args], capture_output=True, text=True,
                          env=full_env, timeout=300)


def test_doctor_reports_machine_and_never_prints_keys(tmp_path):
    secret = "sk-test-" + "q" * 32
    (tmp_path / "url").mkdir()
    (tmp_path / "url" / "weights.pth").write_bytes(b"0" * (2 * 1024 * 1024))
    out = _run("doctor", env={"OPENAI_API_KEY": secret, "ANTHROPIC_API_KEY": "", "COURSE_UTILS_CACHE": str(tmp_path)})
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "OPENAI_API_KEY=set" in text and "ANTHROPIC_API_KEY=not set" in text
    assert secret not in text and "qqqq" not in text
    for word in ["torch", "timm", "segment_anything", "accelerator", "java", "cache", "weights.pth", "2.0 MB"]:
        assert word in text, word


def test_fetch_weights_names_the_choices_and_rejects_unknown():
    out = _run("fetch-weights")
    assert out.returncode == 2 and "sam_vit_b" in out.stdout
    out = _run("fetch-weights", "resnet")
    assert out.returncode == 2 and "Unknown model" in out.stderr


def test_fetch_weights_downloads_into_the_cache(tmp_path, monkeypatch, capsys):
    # In-process so that a test registry entry can point at a local file:// URL.
    payload = b"checkpoint bytes" * 100
    src = tmp_path / "ckpt.pth"
    src.write_bytes(payload)
    models.register_model(models.ModelSpec("test_file", "sam", "url", src.as_uri(), 1, 1, "test",
                                           sha256=hashlib.sha256(payload).hexdigest()))
    monkeypatch.setenv("COURSE_UTILS_CACHE", str(tmp_path / "cache"))
    try:
        assert cli.main(["fetch-weights", "test_file"]) == 0
        assert (tmp_path / "cache" / "url" / "ckpt.pth").read_bytes() == payload
        assert "OK   test_file" in capsys.readouterr().out
        # Offline hub models fail cleanly and the command reports it without a traceback.
        assert cli.main(["fetch-weights", "vit_tiny"]) == 1
        assert "FAIL vit_tiny" in capsys.readouterr().err
    finally:
        models.REGISTRY.pop("test_file")
