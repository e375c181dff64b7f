"""Helpers for the `lcmflow serve` tests: start a server on a loopback port,
talk HTTP and WebSocket to it, decode PNGs.  Standard library only."""
import base64
import http.client
import json
import os
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

SKIP = 77


def fixtures():
    d = os.environ.get("LCMFLOW_FIXTURES", "../shared/fixtures")
    if not os.path.exists(os.path.join(d, "tiny-sd15", "model.safetensors")):
        print("fixtures absent (%s): skipped" % d)
        sys.exit(SKIP)
    return os.path.realpath(d)


def tiny_graph(size=64, steps=2, seed=42, text="a cat in a hat", sink="preview"):
    """The tiny fixture model's txt2img graph, paths relative to the fixtures root."""
    g = f"""version: 1
nodes:
  ckpt:   {{ type: CheckpointLoader, params: {{ path: tiny-sd15/model.safetensors, tokenizer: clip }} }}
  pos:    {{ type: TextEncode, inputs: {{ clip: ckpt.clip }}, params: {{ text: "{text}" }} }}
  empty:  {{ type: EmptyLatent, params: {{ width: {size}, height: {size} }} }}
  sample: {{ type: LcmSampler, inputs: {{ model: ckpt.model, positive: pos.conditioning,
                                        latent: empty.latent }},
            params: {{ seed: {seed}, steps: {steps}, cfg: 1.0 }} }}
  decode: {{ type: VaeDecode, inputs: {{ vae: ckpt.vae, latent: sample.latent }} }}
"""
    if sink == "preview":
        g += "  preview: { type: PreviewImage, inputs: { image: decode.image } }\n"
    else:
        g += "  save: { type: SaveImage, inputs: { image: decode.image }, params: { path: %s } }\n" % sink
    return g


def img2img_graph(source, sink="preview"):
    """tiny_graph with the latent encoded from the image at source (an
    upload's "upload:ID" or a path) at denoise 0.5."""
    return (tiny_graph(sink=sink)
            .replace("  empty:  { type: EmptyLatent, params: { width: 64, height: 64 } }",
                     "  img: { type: LoadImage, params: { path: \"%s\" } }\n"
                     "  enc: { type: VaeEncode, inputs: { vae: ckpt.vae, image: img.image } }" % source)
            .replace("latent: empty.latent", "latent: enc.latent")
            .replace("cfg: 1.0", "cfg: 1.0, denoise: 0.5"))


class Server:
    """`lcmflow serve` on 127.0.0.1 and a free port; stop() ends it (SIGTERM)."""

    def __init__(self, exe, args, env=None):
        e = dict(os.environ)
        e.setdefault("LCMFLOW_PLUGIN_PATH", "")
        e.update(env or {})
        self.proc = subprocess.Popen([exe, "serve", "--listen", "127.0.0.1:0"] + args,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, text=True)
        line = self._readline(60)
        if "listening on http://" not in line:
            code, err = self.stop()
            raise RuntimeError("server did not start (%s): %r %s" % (code, line, err))
        url = line.split("listening on ")[1].strip()
        self.port = int(url.split(":")[2].split("/")[0])
        self.host = "127.0.0.1:%d" % self.port

    def _readline(self, timeout):
        end = time.time() + timeout
        while time.time() < end:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if r:
                return self.proc.stdout.readline()
            if self.proc.poll() is not None:
                return ""
        return ""

    def alive(self):
        return self.proc.poll() is None

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode, err

    def request(self, method, path, body=None, headers=None, timeout=60):
        h = {"Host": self.host}
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in h.items():
            c.putheader(k, v)
        if body is not None:
            data = body.encode() if isinstance(body, str) else body
            c.putheader("Content-Length", str(len(data)))
            c.endheaders(data)
        else:
            c.endheaders()
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def json(self, method, path, body=None, headers=None):
        status, data = self.request(method, path, body, headers)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, {"raw": data}

    def submit(self, body):
        status, o = self.json("POST", "/api/jobs", body)
        assert status == 201, (status, o)
        return o["id"]

    def wait(self, job, states=("done", "failed", "cancelled"), timeout=300, cond=None):
        end = time.time() + timeout
        while time.time() < end:
            status, o = self.json("GET", "/api/jobs/%d" % job)
            assert status == 200, (status, o)
            if o["state"] in states and (cond is None or cond(o)):
                return o
            time.sleep(0.02)
        raise AssertionError("job %d: no %s within %ss (last %s)" % (job, states, timeout, o))


class WebSocket:
    """A minimal RFC 6455 client for the tests (text and binary frames in)."""

    def __init__(self, port, path="/api/events", host=None, origin=None):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" %
               (path, host or "127.0.0.1:%d" % port, key))
        if origin:
            req += "Origin: %s\r\n" % origin
        self.s.sendall((req + "\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/") else 0

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def recv(self, timeout=30):
        """(opcode, payload) of the next data frame; pings are answered (the
        server closes a connection that leaves them unanswered)."""
        while True:
            opcode, payload = self._frame(timeout)
            if opcode != 9:
                return opcode, payload
            mask = os.urandom(4)
            self.s.sendall(bytes([0x8A, 0x80 | len(payload)]) + mask +
                           bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _frame(self, timeout):
        self.s.settimeout(timeout)
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x0F, payload

    def close(self):
        try:
            mask = os.urandom(4)
            self.s.sendall(bytes([0x88, 0x80]) + mask)
        except OSError:
            pass
        self.s.close()


def png_pixels(data):
    """(width, height, bytes) of an 8-bit RGB or RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, out, prev = zlib.decompress(idat), w * bpp, bytearray(), bytearray(w * bpp)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line
        prev = line
    return w, h, bytes(out)


def tempdir():
    return tempfile.mkdtemp(prefix="lcmflow-serve-test-")
