"""A loopback HTTP server that speaks the OpenAI, Anthropic and Gemini APIs, with injected faults.

Used by the tests, the speed benchmark and the lab to exercise the real SDKs offline: point a
provider's ``base_url`` at :attr:`FakeAPIServer.url` (OpenAI: ``server.openai_url``). The server
binds to 127.0.0.1 on a free port, counts every request it receives per API and per content key
(prompt + image), and can answer with latency, ``429`` + ``Retry-After``, ``500``, a hang longer
than the client timeout, or malformed bodies. It shuts itself down after ``max_lifetime_s``.

It also emulates how today's APIs answer particular models: a retired/unknown model id gets the
provider's 404; a model that rejects ``temperature`` gets a 400 naming it; a thinking model asked
without a short thinking setting spends the whole output budget on thinking and returns no text.
With ``usage="documented"`` the input tokens it reports are the documented image-token rule of the
requested model (and ``detail``) plus about 4 characters per text token.

Example::

    with FakeAPIServer(latency_s=0.2) as server:
        server.faults = fail_first("429", times=1, retry_after=0.5)
        provider = OpenAIProvider("gpt-4o-mini", api_key="sk-test", base_url=server.openai_url)

Why this module is long: it is one server imitating three providers' wire formats and fault modes; the
request counter and the fault schedule are shared by all three, and splitting it per provider would
spread that state over modules that only the tests read together.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeAPIServer", "Fault", "RequestInfo", "fail_first", "fail_items"]


@dataclass(frozen=True)
class Fault:
    """What to do with one request.

    Attributes:
        kind: ``"429"``, ``"500"``, ``"400"``, ``"hang"`` (sleep ``seconds`` before answering),
            ``"malformed_json"`` (200 with a broken body), ``"malformed_schema"`` (200 with valid
            JSON missing the answer) or ``"latency"`` (sleep ``seconds`` then answer normally).
        retry_after: Seconds for the ``Retry-After`` header (429/500), if any.
        seconds: Delay for ``hang`` / ``latency``.
    """

    kind: str
    retry_after: float | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class RequestInfo:
    """What the fault plan sees: API, content key, how many times this key was seen (1-based), global count."""

    api: str
    key: str
    prompt: str
    attempt: int
    n: int


FaultPlan = Callable[[RequestInfo], "Fault | None"]


def fail_first(kind: str, times: int = 1, retry_after: float | None = None, seconds: float = 0.0) -> FaultPlan:
    """A plan that fails the first ``times`` attempts of every content key with ``kind``."""
    def plan(info: RequestInfo) -> Fault | None:
        return Fault(kind, retry_after, seconds) if info.attempt <= times else None
    return plan


def fail_items(rules: dict[str, list[Fault | None]]) -> FaultPlan:
    """Per-prompt scripts: ``{substring of the prompt: [fault for attempt 1, attempt 2, ...]}``."""
    def plan(info: RequestInfo) -> Fault | None:
        for needle, script in rules.items():
            if needle in info.prompt and info.attempt <= len(script):
                return script[info.attempt - 1]
        return None
    return plan


def _content_key(prompt: str, image_b64: str) -> str:
    return hashlib.sha256((prompt + "\x00" + image_b64).encode()).hexdigest()[:16]


class FakeAPIServer:
    """Loopback server for the three chat APIs.

    Args:
        latency_s: Delay before every answer.
        answer: ``prompt -> answer text`` (default ``"yes"``).
        usage: ``(prompt, answer) -> (input_tokens, output_tokens)``; default
            ``(1000 + len(prompt), len(answer.split()) + 1)``.
        max_lifetime_s: The server stops by itself after this many seconds.
        faults: A fault plan (see :func:`fail_first`, :func:`fail_items`), settable later.
    """

    def __init__(self, latency_s: float = 0.0, answer: Callable[[str], str] | None = None,
                 usage: Callable[[str, str], tuple[int, int]] | str | None = None, max_lifetime_s: float = 600.0,
                 faults: FaultPlan | None = None, retired_models: set[str] | None = None,
                 no_temperature_models: set[str] | None = None, thinking_models: set[str] | None = None):
        self.latency_s = latency_s
        self.answer = answer or (lambda prompt: "yes")
        self.documented_usage = usage == "documented"
        self.usage = usage if callable(usage) else (lambda prompt, ans: (1000 + len(prompt), len(ans.split()) + 1))
        #: Model ids answered with the provider's "model not found" 404.
        self.retired_models = set(retired_models or ())
        #: Model ids answered with a 400 naming temperature when the request sets it.
        self.no_temperature_models = set(no_temperature_models or ())
        #: Model ids that think unless asked for minimal thinking (Gemini) or reasoning_effort none (OpenAI).
        self.thinking_models = set(thinking_models or ())
        #: One dict per request: api, model, temperature_sent, thinking, detail.
        self.seen: list[dict[str, Any]] = []
        self.faults = faults
        self.max_lifetime_s = max_lifetime_s
        self.counts: Counter[tuple[str, str]] = Counter()
        self.answered: Counter[tuple[str, str]] = Counter()
        self.statuses: Counter[int] = Counter()
        self.auth_seen: Counter[str] = Counter()
        self.times: dict[tuple[str, str], list[float]] = {}
        self.total = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> FakeAPIServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body are separate writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                server._handle(self)

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default backlog of 5 drops bursts of new connections

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.max_lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeAPIServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL for Anthropic and Gemini clients."""
        assert self._httpd is not None, "call start() first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def openai_url(self) -> str:
        """Base URL for OpenAI clients (with the ``/v1`` prefix)."""
        return self.url + "/v1"

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.answered.clear()
            self.statuses.clear()
            self.auth_seen.clear()
            self.times.clear()
            self.seen.clear()
            self.total = 0

    # ----------------------------------------------------------------- protocol

    @staticmethod
    def _parse(path: str, body: dict[str, Any]) -> tuple[str, str, str, str]:
        """(api, model, prompt, image_b64) from a request body."""
        if path.endswith("/chat/completions"):
            parts = body["messages"][-1]["content"]
            prompt = "".join(p.get("text", "") for p in parts if p.get("type") == "text")
            image = "".join(p["image_url"]["url"] for p in parts if p.get("type") == "image_url")
            return "openai", body.get("model", ""), prompt, image
        if path.endswith("/messages"):
            parts = body["messages"][-1]["content"]
            prompt = "".join(p.get("text", "") for p in parts if p.get("type") == "text")
            image = "".join(p["source"]["data"] for p in parts if p.get("type") == "image")
            return "anthropic", body.get("model", ""), prompt, image
        if ":generateContent" in path:
            parts = body["contents"][-1]["parts"]
            prompt = "".join(p.get("text", "") for p in parts if "text" in p)
            image = "".join(p.get("inlineData", p.get("inline_data", {})).get("data", "") for p in parts)
            model = path.split("/models/")[-1].split(":")[0]
            return "gemini", model, prompt, image
        raise KeyError(path)

    def _body(self, api: str, model: str, text: str, n_in: int, n_out: int) -> dict[str, Any]:
        if api == "openai":
            return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop", "logprobs": None}],
                    "usage": {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}}
        if api == "anthropic":
            return {"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                    "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
                    "usage": {"input_tokens": n_in, "output_tokens": n_out}}
        return {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP",
                                "index": 0}],
                "usageMetadata": {"promptTokenCount": n_in, "candidatesTokenCount": n_out,
                                  "totalTokenCount": n_in + n_out}, "modelVersion": model}

    @staticmethod
    def _settings(api: str, body: dict[str, Any]) -> dict[str, Any]:
        """What the emulation looks at: temperature sent, thinking setting, image detail, max tokens."""
        if api == "gemini":
            gen = body.get("generationConfig") or body.get("generation_config") or {}
            think = gen.get("thinkingConfig") or gen.get("thinking_config") or {}
            level = str(think.get("thinkingLevel", think.get("thinking_level", ""))).lower()
            budget = think.get("thinkingBudget", think.get("thinking_budget"))
            return {"temperature_sent": gen.get("temperature") is not None, "thinking": think or None,
                    "short_thinking": level in ("minimal", "low") or budget == 0,
                    "max_tokens": gen.get("maxOutputTokens", gen.get("max_output_tokens")), "detail": None}
        detail = None
        if api == "openai":
            for part in body["messages"][-1]["content"]:
                if part.get("type") == "image_url":
                    detail = part["image_url"].get("detail")
        effort = body.get("reasoning_effort")
        return {"temperature_sent": "temperature" in body, "thinking": effort, "short_thinking": effort == "none",
                "max_tokens": body.get("max_completion_tokens", body.get("max_tokens")), "detail": detail}

    @staticmethod
    def _documented_input(api: str, model: str, prompt: str, image_b64: str, settings: dict[str, Any]) -> int:
        import io

        from PIL import Image

        from .cost import estimate_image_tokens, estimate_text_tokens

        raw = image_b64.split(",")[-1].replace("-", "+").replace("_", "/")   # google-genai sends base64url
        data = base64.b64decode(raw + "=" * (-len(raw) % 4))
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
        return estimate_image_tokens(api, w, h, detail=settings["detail"] or "auto", model=model) + \
            estimate_text_tokens(prompt)

    @staticmethod
    def _thought_out(api: str, model: str, n_in: int, budget: int) -> dict[str, Any]:
        """A thinking model's answer when the whole output budget went to thinking: no text."""
        if api == "gemini":
            return {"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}],
                    "usageMetadata": {"promptTokenCount": n_in, "thoughtsTokenCount": budget,
                                      "totalTokenCount": n_in + budget}, "modelVersion": model}
        return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": ""},
                             "finish_reason": "length", "logprobs": None}],
                "usage": {"prompt_tokens": n_in, "completion_tokens": budget, "total_tokens": n_in + budget}}

    @staticmethod
    def _not_found(api: str, model: str) -> dict[str, Any]:
        """The 404 each API gives for a model id it does not serve (shut down or unknown)."""
        if api == "anthropic":
            return {"type": "error", "error": {"type": "not_found_error", "message": f"model: {model}"}}
        if api == "gemini":
            return {"error": {"code": 404, "status": "NOT_FOUND",
                              "message": f"models/{model} is not found for API version v1beta, or is not supported "
                                         "for generateContent."}}
        return {"error": {"message": f"The model `{model}` does not exist or you do not have access to it.",
                          "type": "invalid_request_error", "param": None, "code": "model_not_found"}}

    @staticmethod
    def _error_body(api: str, status: int, message: str) -> dict[str, Any]:
        if api == "anthropic":
            kind = {429: "rate_limit_error", 500: "api_error", 400: "invalid_request_error"}.get(status, "api_error")
            return {"type": "error", "error": {"type": kind, "message": message}}
        if api == "gemini":
            return {"error": {"code": status, "message": message,
                              "status": {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}.get(status, "INVALID_ARGUMENT")}}
        return {"error": {"message": message, "type": "fake_error", "code": status}}

    def _send(self, handler: BaseHTTPRequestHandler, status: int, payload: bytes,
              headers: dict[str, str] | None = None) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            for k, v in (headers or {}).items():
                handler.send_header(k, v)
            handler.end_headers()
            handler.wfile.write(payload)
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)
        with self._lock:
            self.statuses[status] += 1

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        try:
            body = json.loads(raw)
            api, model, prompt, image = self._parse(handler.path.split("?")[0], body)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            self._send(handler, 400, json.dumps({"error": {"message": f"bad request: {exc}"}}).encode())
            return
        key = _content_key(prompt, image.split(",")[-1])
        auth = handler.headers.get("Authorization") or handler.headers.get("x-api-key") or \
            handler.headers.get("x-goog-api-key") or ""
        with self._lock:
            self.total += 1
            self.counts[(api, key)] += 1
            attempt = self.counts[(api, key)]
            self.times.setdefault((api, key), []).append(time.monotonic())
            n = self.total
            self.auth_seen[hashlib.sha256(auth.encode()).hexdigest()[:12]] += 1
        settings = self._settings(api, body)
        with self._lock:
            self.seen.append({"api": api, "model": model, **settings})
        fault = self.faults(RequestInfo(api, key, prompt, attempt, n)) if self.faults else None
        delay = self.latency_s + (fault.seconds if fault and fault.kind in ("latency", "hang") else 0.0)
        if delay:
            time.sleep(delay)
        if fault is not None and fault.kind in ("429", "500", "400", "503"):
            status = int(fault.kind)
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            self._send(handler, status, json.dumps(self._error_body(api, status, "injected")).encode(), headers)
            return
        if fault is not None and fault.kind == "malformed_json":
            self._send(handler, 200, b'{"choices": [ {"message": ')
            return
        if fault is not None and fault.kind == "malformed_schema":
            self._send(handler, 200, json.dumps({"unexpected": True}).encode())
            return
        if model in self.retired_models:
            self._send(handler, 404, json.dumps(self._not_found(api, model)).encode())
            return
        if model in self.no_temperature_models and settings["temperature_sent"]:
            self._send(handler, 400, json.dumps(self._error_body(
                api, 400, "`temperature` is deprecated for this model.")).encode())
            return
        text = self.answer(prompt)
        n_in, n_out = self.usage(prompt, text)
        if self.documented_usage:
            n_in = self._documented_input(api, model, prompt, image, settings)
        if model in self.thinking_models and not settings["short_thinking"]:
            budget = int(settings["max_tokens"] or 64)
            self._send(handler, 200, json.dumps(self._thought_out(api, model, n_in, budget)).encode())
            return
        self._send(handler, 200, json.dumps(self._body(api, model, text, n_in, n_out)).encode())
        with self._lock:
            self.answered[(api, key)] += 1


def image_key(prompt: str, image: bytes) -> str:
    """The content key the server uses for a request (for tests)."""
    return _content_key(prompt, base64.b64encode(image).decode())


def _main() -> None:  # pragma: no cover - used by benchmarks/bench_runner.py
    """``python -m course_utils.bench.fakeserver [latency_s] [lifetime_s]``: serve, print the URL, stop later."""
    import sys

    latency = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    lifetime = float(sys.argv[2]) if len(sys.argv) > 2 else 120.0
    server = FakeAPIServer(latency_s=latency, max_lifetime_s=lifetime).start()
    print(server.url, flush=True)
    deadline = time.monotonic() + lifetime
    try:
        while time.monotonic() < deadline and server._httpd is not None:
            line = sys.stdin.readline()
            if not line:  # parent closed stdin: stop
                break
            if line.strip() == "count":
                print(server.total, flush=True)
    finally:
        server.stop()


if __name__ == "__main__":  # pragma: no cover
    _main()
