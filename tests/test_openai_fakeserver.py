"""A scripted OpenAI-compatible server on 127.0.0.1 (ephemeral port) for the openai_api and judge tests.

``FakeChatServer(respond)`` serves ``POST /v1/chat/completions`` (``root`` replaces ``/v1``, e.g. a path that
holds a key); ``respond(body)`` returns a ``Reply``. It
records every request body and header set, the arrival times and the peak number of requests in flight, and
stops when its ``with`` block ends.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Reply:
    status: int = 200
    payload: dict[str, Any] = field(default_factory=dict)
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def chat_reply(text: str | None, prompt_tokens: int = 11, delay_s: float = 0.0) -> Reply:
    return Reply(delay_s=delay_s, payload={
        "id": "cmpl-1", "object": "chat.completion", "model": "served",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1},
    })


def logprob_reply(top: list[tuple[str, float]]) -> Reply:
    reply = chat_reply(top[0][0])
    reply.payload["choices"][0]["logprobs"] = {"content": [{
        "token": top[0][0], "logprob": top[0][1],
        "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in top],
    }]}
    return reply


def prompt_text(body: dict[str, Any]) -> str:
    """The text parts of the last message, joined (what the tests script replies on)."""
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content)


class FakeChatServer:
    def __init__(self, respond: Callable[[dict[str, Any]], Reply], root: str = "/v1"):
        self.respond = respond
        self.root = root
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.times: list[float] = []
        self.inflight = 0
        self.max_inflight = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{self.root}"

    def __enter__(self) -> "FakeChatServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.bodies.append(body)
                    server.headers.append(dict(self.headers))
                    server.times.append(time.monotonic())
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                try:
                    if self.path.split("?")[0] != f"{server.root}/chat/completions":  # a query is the base URL's
                        reply = Reply(404, {"error": {"message": f"no route {self.path}"}})
                    else:
                        reply = server.respond(body)
                    time.sleep(reply.delay_s)
                finally:  # before the reply is sent, so the client's next request cannot overlap the count
                    with server.lock:
                        server.inflight -= 1
                data = json.dumps(reply.payload).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        return Handler


def test_fake_server_round_trip():
    with FakeChatServer(lambda body: chat_reply("pong")) as server:
        request = urllib.request.Request(
            server.url + "/chat/completions", data=b'{"messages": [{"role": "user", "content": "ping"}]}',
            headers={"Content-Type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            payload = json.loads(response.read())
    assert payload["choices"][0]["message"]["content"] == "pong"
    assert [prompt_text(b) for b in server.bodies] == ["ping"]
    assert not server.thread.is_alive()
