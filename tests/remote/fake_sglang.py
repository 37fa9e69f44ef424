#!/usr/bin/env python3
"""tests/remote/fake_sglang.py — an SGLang-shaped front for `bbt serve` (Python standard library only).

Usage: fake_sglang.py UPSTREAM_URL PORT_FILE [FAULT]
Answers POST /generate as SGLang does (../shared/reference/service-protocols.md) by handing the sequences to
UPSTREAM_URL's vLLM route (/v1/completions with prompt_embeds, f32 torch.save tensors written here), so that a run
through it must reproduce the local run. It checks the request strictly as SGLang reads it: the batch form
[batch][tokens][hidden], every number of input_embeds written with a '.' or an exponent (SGLang takes a bare integer
for a token id), max_new_tokens 1, temperature 0, return_logprob, token_ids_logprob a list of ids. A request that
breaks a rule gets a 400 naming it. FAULT "old" plays an SGLang that ignores token_ids_logprob
(output_token_ids_logprobs null) but answers top_logprobs_num in output_top_logprobs (with the asked ids among the
most likely tokens, as for a model whose label words are likely); "none" answers no asked id either way. Writes its
port to PORT_FILE once listening.
"""
import base64
import http.server
import io
import json
import os
import re
import socketserver
import struct
import sys
import urllib.request
import zipfile

upstream, port_file = sys.argv[1], sys.argv[2]
fault = sys.argv[3] if len(sys.argv) > 3 else ""
INTEGER = re.compile(rb"[\[,]\s*-?\d+\s*[\],]")


def pickle_int(v):
    if v < 256:
        return b"K" + bytes([v])
    if v < 65536:
        return b"M" + struct.pack("<H", v)
    return b"J" + struct.pack("<i", v)


def pickle_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def torch_save_f32(rows):
    """rows (a list of equal-length lists of floats) as torch.save writes a float32 tensor (no torch needed)."""
    n, h = len(rows), len(rows[0])
    pkl = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((" + pickle_str("storage") + b"ctorch\nFloatStorage\n" +
           pickle_str("0") + pickle_str("cpu") + pickle_int(n * h) + b"tQ" + pickle_int(0) + pickle_int(n) +
           pickle_int(h) + b"\x86" + pickle_int(h) + pickle_int(1) + b"\x86\x89ccollections\nOrderedDict\n)RtR.")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/data/0", struct.pack("<%df" % (n * h), *(v for r in rows for v in r)))
        z.writestr("archive/version", b"3\n")
    return buf.getvalue()


def call(path, body=None):
    req = urllib.request.Request(upstream + path, data=body, method="POST" if body else "GET")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def check(raw):
    """The request as SGLang reads it, or an error message."""
    start = raw.find(b'"input_embeds"')
    end = raw.find(b'"sampling_params"')
    if start < 0 or end < start:
        return None, "input_embeds, then sampling_params, expected"
    m = INTEGER.search(raw, start, end)
    if m:
        return None, "input_embeds holds a number without '.' or exponent: %r" % m.group(0)
    req = json.loads(raw)
    e = req["input_embeds"]
    if not (isinstance(e, list) and e and isinstance(e[0], list) and isinstance(e[0][0], list)
            and all(isinstance(x, float) for s in e for r in s for x in r)):
        return None, "input_embeds must be the batch form [batch][tokens][hidden] of floats"
    sp = req.get("sampling_params", {})
    if sp.get("max_new_tokens") != 1 or sp.get("temperature") != 0.0 or req.get("return_logprob") is not True:
        return None, "max_new_tokens 1, temperature 0.0 and return_logprob expected"
    ids = req.get("token_ids_logprob")
    if not (isinstance(ids, list) and ids and all(isinstance(i, int) for i in ids)):
        return None, "token_ids_logprob must be a list of token ids"
    return req, None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def answer(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/generate":
            return self.answer(404, {"error": {"message": "no route " + self.path}})
        req, why = check(raw)
        if why:
            return self.answer(400, {"error": {"message": why}})
        ids = req["token_ids_logprob"]
        top_n = req.get("top_logprobs_num", 0)
        if not (isinstance(top_n, int) and 0 <= top_n <= 20):
            return self.answer(400, {"error": {"message": "top_logprobs_num must be 0 .. 20"}})
        model = call("/v1/models")["data"][0]["id"]
        out = call("/v1/completions", json.dumps({
            "model": model, "max_tokens": 1, "temperature": 0.0, "logprobs": min(20, len(ids)),
            "logprob_token_ids": ids, "return_tokens_as_token_ids": True,
            "prompt_embeds": [base64.b64encode(torch_save_f32(s)).decode() for s in req["input_embeds"]]}).encode())
        res = [None] * len(req["input_embeds"])
        for ch in out["choices"]:
            top = ch["logprobs"]["top_logprobs"][0]
            triples = [[top["token_id:%d" % i], i, None] for i in ids]
            # the most likely tokens: here the asked ones ("none": a token that was not asked for instead)
            best = sorted(triples, reverse=True)[:top_n] if fault != "none" else [[-0.5, max(ids) + 1, None]] * top_n
            meta = {"prompt_tokens": len(req["input_embeds"][ch["index"]]), "completion_tokens": 1,
                    "output_token_logprobs": [triples[0]],
                    "output_token_ids_logprobs": None if fault in ("old", "none") else [triples]}
            if top_n:
                meta["output_top_logprobs"] = [best]
            res[ch["index"]] = {"text": "", "meta_info": meta}
        self.answer(200, res)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)  # the port appears whole
srv.serve_forever()
