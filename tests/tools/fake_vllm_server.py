"""A stand-in for `vllm serve`, for the supervisor's tests: the same command line (`--host`,
`--port`), the endpoints `lai` calls, and one scripted way to fail.

    python fake_vllm_server.py MODE [--model ...] --host 127.0.0.1 --port N

MODE: `ok` (answers `echo <n prompt tokens> via <model>`), `exit` (dies while starting),
`oom` (dies with an out-of-memory error), `port-taken` (cannot bind), `unhealthy` (up, but
`/health` never answers 200), `crash` (dies on the 3rd completion). In every mode it first
starts a grandchild (`sleep`), as vLLM starts its engine, and prints its pid, so a test can
check that the whole process group goes.
"""

import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

mode = sys.argv[1]
port = int(sys.argv[sys.argv.index("--port") + 1])
engine = subprocess.Popen(["sleep", "600"])
print(f"engine pid {engine.pid}", flush=True)
if mode == "exit":
    sys.exit("RuntimeError: Engine core initialization failed. See root cause above.")
if mode == "oom":
    sys.exit("torch.OutOfMemoryError: CPU out of memory. Tried to allocate 2.00 GiB")
if mode == "port-taken":
    sys.exit("OSError: [Errno 98] error while attempting to bind on address: address already in use")
completions = 0
loaded: dict[str, str] = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/health":
            return self._send(503 if mode == "unhealthy" else 200, {})
        self._send(404, {"error": {"message": "not found"}})

    def do_POST(self):
        global completions
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/v1/load_lora_adapter":
            if body["lora_name"] in loaded:
                return self._send(400, {"error": {"message": "already loaded"}})
            loaded[body["lora_name"]] = body["lora_path"]
            return self._send(200, "Success")
        if self.path == "/v1/unload_lora_adapter":
            return self._send(200 if loaded.pop(body["lora_name"], None) else 404, "Success")
        if self.path == "/v1/completions":
            completions += 1
            if mode == "crash" and completions == 3:
                print("RuntimeError: EngineCore encountered an issue.", flush=True)
                os._exit(1)
            if body["model"] != "target" and body["model"] not in loaded:
                return self._send(404, {"error": {"message": f"The model `{body['model']}` does not exist."}})
            text = f" echo {len(body['prompt'])} via {body['model']} "
            return self._send(200, {"choices": [{"text": text, "finish_reason": "stop"}]})
        self._send(404, {"error": {"message": "not found"}})

    def _send(self, status, payload):
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        kind = "text/plain" if isinstance(payload, str) else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    time.sleep(0.5)  # a real engine takes a while; the supervisor must wait for /health
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
