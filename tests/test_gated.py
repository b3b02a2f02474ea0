"""A refused download of a gated repo (SAM 3, DINOv3) raises GatedModelError that names the fix.

The Hub is a loopback HTTP server that answers like huggingface.co does for a gated repo without
access: 401 (no token) or 403 (token without access) with ``X-Error-Code: GatedRepo``, the header
huggingface_hub's ``hf_raise_for_status`` reads (utils/_http.py). The real ``snapshot_download``
runs against it.
"""

from __future__ import annotations

import http.server
import threading

import huggingface_hub.constants as hf_constants
import pytest

from course_utils import models
from course_utils.models import GatedModelError, WeightsUnavailableError, load_dinov3, load_sam3


class _GatedHub(http.server.BaseHTTPRequestHandler):
    status = 401
    gated_header = True
    paths: list[str] = []

    def _answer(self):
        type(self).paths.append(self.path)
        self.send_response(type(self).status)
        if type(self).gated_header:
            self.send_header("X-Error-Code", "GatedRepo")
            self.send_header("X-Error-Message", "Access to model facebook/sam3 is restricted.")
        body = b'{"error": "Access to this model is restricted"}'
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _answer  # noqa: N815 - http.server API

    def log_message(self, *args):
        pass


@pytest.fixture
def gated_hub(tmp_path, monkeypatch):
    _GatedHub.paths = []
    _GatedHub.status, _GatedHub.gated_header = 401, True
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _GatedHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(hf_constants, "ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "no_token"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("COURSE_UTILS_CACHE", str(tmp_path / "cache"))
    yield _GatedHub
    server.shutdown()


def _assert_names_the_fix(message: str, name: str, repo: str) -> None:
    assert f"https://huggingface.co/{repo}" in message  # the page where the licence is accepted
    for fix in ("accept", "HF_TOKEN", "huggingface-cli login", "hf auth login", "Colab", "Secrets",
                f"course-utils fetch-weights {name}", "COURSE_UTILS_TINY=1"):
        assert fix in message, fix


def test_gated_sam3_401_names_licence_page_and_token_setup(gated_hub):
    """No token: 401 + GatedRepo -> GatedModelError with the SAM License page and the three token routes."""
    with pytest.raises(GatedModelError) as info:
        load_sam3("sam3", tiny=False, device="cpu")
    message = str(info.value)
    _assert_names_the_fix(message, "sam3", "facebook/sam3")
    assert "SAM License" in message and "HTTP 401, gated repo" in message and "No Hugging Face token" in message
    assert info.value.__suppress_context__  # no 401 stack trace chained under it
    assert isinstance(info.value, WeightsUnavailableError)  # existing `except WeightsUnavailableError` still works
    assert any("/api/models/facebook/sam3" in p for p in gated_hub.paths)  # the real client asked our hub


def test_gated_dinov3_403_with_a_token_says_access_is_pending(gated_hub, monkeypatch):
    """A token without access: 403 -> the message says a token was found but the account lacks access."""
    gated_hub.status = 403
    monkeypatch.setenv("HF_TOKEN", "hf_" + "x" * 30)
    with pytest.raises(GatedModelError) as info:
        load_dinov3("dinov3_vits16", tiny=False, device="cpu")
    message = str(info.value)
    _assert_names_the_fix(message, "dinov3_vits16", "timm/vit_small_patch16_dinov3.lvd1689m")
    assert "DINOv3 License" in message and "HTTP 403" in message and "A token was found (HF_TOKEN)" in message
    assert "hf_xxx" not in message  # never the token itself


def test_plain_403_without_gated_header_is_still_explained(gated_hub):
    """A 403 without the GatedRepo header (private repo / token scope) gets the same guidance."""
    gated_hub.status, gated_hub.gated_header = 403, False
    with pytest.raises(GatedModelError, match="access refused"):
        models.fetch_weights("sam3")


def test_offline_gated_model_keeps_the_three_fixes(monkeypatch, tmp_path):
    """Offline (HF_HUB_OFFLINE=1) a missing gated model raises the usual error, not a gated one."""
    monkeypatch.setenv("COURSE_UTILS_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError) as info:
        load_sam3(tiny=False, device="cpu")
    assert not isinstance(info.value, GatedModelError) and "fetch-weights sam3" in str(info.value)


def test_fetch_weights_cli_prints_the_whole_fix(gated_hub, capsys):
    """`course-utils fetch-weights sam3` shows every step, not only the first line of the error."""
    from course_utils import cli

    assert cli.main(["fetch-weights", "sam3"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("FAIL sam3")
    _assert_names_the_fix(err, "sam3", "facebook/sam3")
