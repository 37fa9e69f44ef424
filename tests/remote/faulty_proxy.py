#!/usr/bin/env python3
"""tests/remote/faulty_proxy.py — a misbehaving front for `bbt serve`, for remote.sh's fault injection.

Usage: faulty_proxy.py UPSTREAM_URL FAULTS PORT_FILE
Forwards every request to UPSTREAM_URL, except that the k-th scoring call (POST /bbt/v1/score or /v1/completions,
counting from 1) gets the fault named in FAULTS ("3=500,4=429,5=slow:3,6=drop,7=half,8=trunc,9=shape,10=nan,11=down"):
500 / 429 with Retry-After: 1 / an answer after N seconds / the connection closed without an answer / closed after the
status line "HTTP/1.1 200 OK" (libcurl reports a 200 with no body) / the JSON cut in half /
one candidate missing / a NaN token / (down) the proxy stops answering for good / (noid) from then on every
/v1/completions answer lacks the label ids (as from a server that ignores logprob_token_ids). Writes its port to
PORT_FILE once listening.

It also counts the scoring calls in flight at once: PORT_FILE.max holds the most seen so far (rewritten as it grows).
"gather=N" in FAULTS holds each forwarded scoring call (for at most a second) until N have been in flight together
once, so that a client that does send its calls together is seen doing so however fast the upstream answers, and one
that does not costs a second and leaves PORT_FILE.max below N.
"""
import http.server
import json
import os
import socketserver
import sys
import threading
import time
import urllib.request

upstream, spec, port_file = sys.argv[1], sys.argv[2], sys.argv[3]
items = dict(item.split("=", 1) for item in spec.split(",") if item)
gather = int(items.pop("gather", "0"))
faults = dict((int(k), v) for k, v in items.items())
state = {"score": 0, "down": False, "noid": False, "inflight": 0, "max": 0}
lock = threading.Condition()


def enter():
    """One more scoring call in flight; the most so far goes to PORT_FILE.max."""
    with lock:
        state["inflight"] += 1
        if state["inflight"] > state["max"]:
            state["max"] = state["inflight"]
            with open(port_file + ".max.tmp", "w") as f:
                f.write(str(state["max"]))
            os.rename(port_file + ".max.tmp", port_file + ".max")
        lock.notify_all()


def leave():
    with lock:
        state["inflight"] -= 1


def wait_gathered():
    with lock:
        lock.wait_for(lambda: state["max"] >= gather, timeout=1.0)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each answer waits for a delayed ACK (40 ms)

    def log_message(self, *args):
        pass

    def forward(self, body):
        req = urllib.request.Request(upstream + self.path, data=body, method=self.command)
        for k in ("Content-Type", "Authorization"):
            if self.headers.get(k):
                req.add_header(k, self.headers[k])
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def answer(self, status, data, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (the slow fault): that is the point

    def handle_any(self):
        scoring = self.path in ("/bbt/v1/score", "/v1/completions")
        if scoring:
            enter()
        try:
            self.handle_one(scoring)
        finally:
            if scoring:
                leave()

    def handle_one(self, scoring):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        fault = None
        with lock:
            if scoring:
                state["score"] += 1
                fault = faults.get(state["score"])
                if fault == "down":
                    state["down"] = True
                if fault == "noid":
                    state["noid"] = True
            down, noid = state["down"], state["noid"] and self.path == "/v1/completions"
        if down:
            self.close_connection = True
            self.connection.close()
            return
        if fault == "drop":
            self.close_connection = True
            self.connection.close()
            return
        if fault == "half":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            self.wfile.flush()
            self.close_connection = True
            self.connection.close()
            return
        if fault == "500":
            return self.answer(500, b'{"error": {"message": "injected failure"}}')
        if fault == "429":
            return self.answer(429, b'{"error": {"message": "slow down"}}', [("Retry-After", "1")])
        if fault and fault.startswith("slow:"):
            time.sleep(float(fault[5:]))
        if scoring and gather:
            wait_gathered()
        status, data = self.forward(body)
        if fault == "trunc":
            data = data[: len(data) // 2]
        elif fault == "shape":
            o = json.loads(data)
            o["scores"] = o["scores"][:-1]
            data = json.dumps(o).encode()
        elif fault == "nan":
            data = data.replace(b"[[[", b"[[[NaN, ", 1)
        if noid and status == 200:
            o = json.loads(data)
            for ch in o["choices"]:
                ch["logprobs"]["top_logprobs"] = [{"token_id:0": -30.0}]
            data = json.dumps(o).encode()
        self.answer(status, data)

    do_GET = do_POST = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
