"""A real OpenAI-compatible HTTP server on 127.0.0.1 that answers from a script.

Tests and `bench/instructor_throughput.py` start it themselves and drive the agents through
langchain-openai over real HTTP. The script is a function of the request body returning a
`Scripted` answer: text, a status code with headers (429 + Retry-After, 500), a hang past the
client's timeout, a malformed body, a reply cut off at `max_tokens`. Every request is counted.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass
class Scripted:
    content: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    """Sleep before answering (a hang, when longer than the client's timeout)."""
    raw_body: str | None = None
    """Send this instead of a well-formed completion (malformed JSON)."""
    finish_reason: str = "stop"


class OpenAIServer:
    """`with OpenAIServer(script) as server:` … `server.base_url`, `server.calls`."""

    def __init__(self, script: Callable[[dict], Scripted], delay_s: float = 0.0):
        self.script, self.delay_s = script, delay_s
        self.calls: list[dict] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                self._send(200, json.dumps({"object": "list", "data": [{"id": "scripted", "object": "model"}]}))

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with outer._lock:
                    outer.calls.append({**body, "_authorization": self.headers.get("Authorization")})
                answer = outer.script(body)
                time.sleep(outer.delay_s + answer.delay_s)
                if answer.raw_body is not None:
                    return self._send(answer.status, answer.raw_body, answer.headers)
                if answer.status != 200:
                    error = {"error": {"message": f"scripted {answer.status}", "type": "scripted", "code": answer.status}}
                    return self._send(answer.status, json.dumps(error), answer.headers)
                prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
                completion = {
                    "id": f"chatcmpl-{len(outer.calls)}", "object": "chat.completion",
                    "created": int(time.time()), "model": body.get("model", "scripted"),
                    "choices": [{"index": 0, "finish_reason": answer.finish_reason,
                                 "message": {"role": "assistant", "content": answer.content}}],
                    "usage": {"prompt_tokens": prompt_tokens,
                              "completion_tokens": len(answer.content.split()),
                              "total_tokens": prompt_tokens + len(answer.content.split())},
                }
                self._send(200, json.dumps(completion), answer.headers)

            def _send(self, status, text, headers=None):
                data = text.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

            def handle_error(self, request, client_address):  # a client hanging up is routine
                pass

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> "OpenAIServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def last_user_text(body: dict) -> str:
    return str(body["messages"][-1].get("content", ""))
