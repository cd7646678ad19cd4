"""A scripted OpenAI-compatible chat server for tests: ``POST /v1/chat/completions`` on 127.0.0.1.

It answers from a script instead of a model: normal answers (with or without usage), tool
calls, answers cut short (``finish_reason: "length"``), slow answers, HTTP errors (429 with
``Retry-After``, 500, 401, 404), malformed bodies; and, as server-wide behaviours, a 500 for
any request carrying a JSON-schema ``response_format`` (as llama.cpp's Python server does), a
404 for models it does not know, and a 401 for a wrong key. Every request it receives is
recorded (path, headers, JSON body).

In-process (tests)::

    with ScriptedLLMServer([answer("hello"), error(429, headers={"Retry-After": "3"})]) as server:
        ...  # server.base_url is http://127.0.0.1:PORT/v1; server.requests lists what came in

As a process (a CLI run in a subprocess)::

    python tests/llm_server.py --script script.json --port-file port.txt [--log requests.jsonl]

The script file is JSON: ``{"responses": [...], "default": {...}, "reject_json_schema": false,
"models": ["m"], "api_key": "k"}``. Each response is an object with the keys of
:class:`Response` (``content``, ``tool_call`` ``{"name", "arguments"}``, ``finish_reason``,
``usage`` — an object, ``null`` for none, or absent for a count made up from the lengths —,
``status``, ``error``, ``headers``, ``raw``, ``delay_s``, ``match``, ``repeat``). Responses are
served in order; one with ``match`` only answers a request whose messages contain that text;
one with ``repeat`` stays in the queue; ``default`` answers when nothing in the queue fits
(without it such a request gets a 500 saying the script ran out). The port is written to the
port file once the server listens; it stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["Response", "ScriptedLLMServer", "answer", "error", "malformed", "tool_answer"]


@dataclass
class Response:
    """One scripted reply.

    ``status`` 200 gives a chat completion with ``content`` (and a tool call when
    ``tool_call`` is set: ``{"name": ..., "arguments": {...} or "raw text"}``), ``finish_reason``
    and ``usage`` (``"auto"``: made up from the lengths; ``None``: no usage field; or the
    usage object itself). Another status gives an OpenAI-style error body with ``error``.
    ``raw`` replaces the whole body with these bytes (a malformed answer). ``delay_s`` waits
    before answering (a slow server). ``match`` restricts the reply to requests whose messages
    contain that text; ``repeat`` keeps it in the queue after use.
    """

    content: str = ""
    tool_call: dict[str, Any] | None = None
    finish_reason: str = "stop"
    usage: dict[str, int] | str | None = "auto"
    status: int = 200
    error: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = None
    delay_s: float = 0.0
    match: str | None = None
    repeat: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Response:
        """A response from the script file's object (unknown keys are an error naming them)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in scripted response; valid: {sorted(known)}")
        return cls(**data)


def answer(content: str, **kwargs: Any) -> Response:
    """A normal answer holding ``content`` (keyword arguments as :class:`Response`)."""
    return Response(content=content, **kwargs)


def tool_answer(name: str, arguments: dict[str, Any] | str, **kwargs: Any) -> Response:
    """An answer calling tool ``name`` with ``arguments`` (a dict, or raw text for broken JSON)."""
    kwargs.setdefault("finish_reason", "tool_calls")
    return Response(tool_call={"name": name, "arguments": arguments}, **kwargs)


def error(status: int, message: str = "", **kwargs: Any) -> Response:
    """An HTTP error ``status`` with an OpenAI-style body holding ``message``."""
    return Response(status=status, error=message or f"scripted HTTP {status}", **kwargs)


def malformed(text: str = "this is not JSON {", **kwargs: Any) -> Response:
    """A 200 whose body is not a chat completion."""
    return Response(raw=text, **kwargs)


Script = list[Response] | Callable[[dict[str, Any]], Response]


class ScriptedLLMServer:
    """The server; a context manager that starts it on 127.0.0.1 (a free port) and stops it.

    ``script`` is a list of :class:`Response` (a queue, see the module docstring) or a
    function from the request body to a :class:`Response`. ``reject_json_schema`` answers
    any request with ``response_format.type == "json_schema"`` with HTTP 500; ``models``,
    when given, answers other model names with 404; ``api_key``, when given, answers a
    request without ``Authorization: Bearer <api_key>`` with 401. ``requests`` lists every
    request received: ``{"path", "headers", "body"}`` (headers with lowercase names).
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        default: Response | None = None,
        reject_json_schema: bool = False,
        models: list[str] | None = None,
        api_key: str | None = None,
        log: Path | None = None,
        port: int = 0,
    ) -> None:
        self.script: Script = script if script is not None else []
        self.default = default
        self.reject_json_schema = reject_json_schema
        self.models = models
        self.api_key = api_key
        self.log = log
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._counter = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, the base URL a client is given."""
        return f"http://127.0.0.1:{self.port}/v1"

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat requests received, in order."""
        return [r["body"] for r in self.requests if isinstance(r["body"], dict)]

    def start(self) -> ScriptedLLMServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="scripted-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; slow answers in progress end at once."""
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ScriptedLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering ------------------------------------------------------------------------
    def _next(self, body: dict[str, Any]) -> Response:
        if callable(self.script):
            return self.script(body)
        text = json.dumps(body.get("messages", []), ensure_ascii=False)
        with self._lock:
            for index, response in enumerate(self.script):
                if response.match is None or response.match in text:
                    if not response.repeat:
                        del self.script[index]
                    return response
        if self.default is not None:
            return self.default
        return error(500, "scripted server: the script has no response left for this request")

    def _reply(self, headers: dict[str, str], body: Any) -> tuple[int, dict[str, str], bytes]:
        if not isinstance(body, dict):
            return _error_reply(400, "the request body is not a JSON object")
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return _error_reply(401, "Incorrect API key provided.", code="invalid_api_key")
        model = str(body.get("model", ""))
        if self.models is not None and model not in self.models:
            return _error_reply(404, f"The model `{model}` does not exist.", code="model_not_found")
        response_format = body.get("response_format")
        if (
            self.reject_json_schema
            and isinstance(response_format, dict)
            and response_format.get("type") == "json_schema"
        ):
            return _error_reply(500, "'json_schema' is not a supported response_format type", code=None)
        response = self._next(body)
        if response.delay_s:
            self._stopping.wait(response.delay_s)
        extra = dict(response.headers)
        if response.raw is not None:
            return response.status, {"Content-Type": "application/json", **extra}, response.raw.encode()
        if response.status != 200:
            status, base, data = _error_reply(response.status, response.error)
            return status, {**base, **extra}, data
        with self._lock:
            self._counter += 1
            number = self._counter
        return 200, {"Content-Type": "application/json", **extra}, _completion(number, model, body, response)


def _error_reply(status: int, message: str, code: str | None = None) -> tuple[int, dict[str, str], bytes]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    payload = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def _completion(number: int, model: str, body: dict[str, Any], response: Response) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": response.content}
    if response.tool_call is not None:
        arguments = response.tool_call.get("arguments", {})
        message["tool_calls"] = [
            {
                "id": f"call_{number}",
                "type": "function",
                "function": {
                    "name": response.tool_call["name"],
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
        ]
        if not response.content:
            message["content"] = None
    payload: dict[str, Any] = {
        "id": f"chatcmpl-scripted-{number}",
        "object": "chat.completion",
        "created": 1_700_000_000 + number,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": response.finish_reason}],
    }
    if response.usage == "auto":
        prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages", []))
        answer_text = (response.content or "") + json.dumps(response.tool_call or "")
        tokens_in, tokens_out = prompt // 4 + 1, len(answer_text) // 4 + 1
        payload["usage"] = {
            "prompt_tokens": tokens_in,
            "completion_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        }
    elif isinstance(response.usage, dict):
        payload["usage"] = response.usage
    return json.dumps(payload).encode()


def _handler(server: ScriptedLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
            headers = {name.lower(): value for name, value in self.headers.items()}
            record = {"path": self.path, "headers": headers, "body": body}
            with server._lock:
                server.requests.append(record)
                if server.log is not None:
                    with open(server.log, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(record) + "\n")
            if self.path.rstrip("/") != "/v1/chat/completions":
                status, extra, data = _error_reply(404, f"no route {self.path}; this server answers chat completions")
            else:
                status, extra, data = server._reply(headers, body)
            self._send(status, extra, data)

        def do_GET(self) -> None:  # noqa: N802
            status, extra, data = _error_reply(404, f"no route {self.path}; this server answers chat completions")
            self._send(status, extra, data)

        def _send(self, status: int, extra: dict[str, str], data: bytes) -> None:
            try:
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout); nothing to answer

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
            return  # quiet: requests are recorded in server.requests

    return Handler


def server_from_script(data: dict[str, Any], *, log: Path | None = None, port: int = 0) -> ScriptedLLMServer:
    """A server for a script file's content (see the module docstring)."""
    known = {"responses", "default", "reject_json_schema", "models", "api_key"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in the script; valid: {sorted(known)}")
    default = data.get("default")
    return ScriptedLLMServer(
        [Response.from_json(item) for item in data.get("responses", [])],
        default=Response.from_json(default) if default is not None else None,
        reject_json_schema=bool(data.get("reject_json_schema", False)),
        models=data.get("models"),
        api_key=data.get("api_key"),
        log=log,
        port=port,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM or SIGINT; write its port to ``--port-file`` once listening."""
    parser = argparse.ArgumentParser(description="scripted OpenAI-compatible chat server on 127.0.0.1")
    parser.add_argument("--script", type=Path, required=True, help="JSON script (see the module docstring)")
    parser.add_argument("--port-file", type=Path, required=True, help="file to write the port to")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: a free one)")
    parser.add_argument("--log", type=Path, default=None, help="append every request as a JSON line")
    args = parser.parse_args(argv)
    server = server_from_script(json.loads(args.script.read_text(encoding="utf-8")), log=args.log, port=args.port)
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    server.start()
    partial = args.port_file.with_name(args.port_file.name + ".part")
    partial.write_text(str(server.port), encoding="utf-8")
    partial.replace(args.port_file)  # atomic: a reader never sees an empty file
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
