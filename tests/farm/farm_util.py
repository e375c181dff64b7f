"""Helpers of the farm test and bench: a minimal Redis client (no Python
package needed) and a redis-server of their own on a loopback port."""
import os
import shutil
import socket
import subprocess
import sys
import time


def redis_or_skip():
    """The redis-server executable; without one the test is skipped (77)."""
    exe = shutil.which("redis-server")
    if not exe:
        print("redis-server absent: skipped")
        sys.exit(77)
    return exe


def lcmflow_env():
    """The environment of the lcmflow processes a test starts: no plugin
    path, and no LCMFLOW_REDIS from the caller's shell."""
    env = dict(os.environ, LCMFLOW_PLUGIN_PATH="")
    env.pop("LCMFLOW_REDIS", None)
    return env


def check(name, cond, detail="", t0=None):
    """Fails the test with name and detail unless cond; else prints ok."""
    if not cond:
        raise AssertionError("%s: %s" % (name, detail))
    print("ok - %s" % name + (" (%.1f s)" % (time.time() - t0) if t0 is not None else ""))


class Redis:
    """A minimal RESP client (the test needs no Python package)."""

    def __init__(self, port, password=None):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.f = self.s.makefile("rb")
        if password:
            self.cmd("AUTH", password)

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self._read()

    def _read(self):
        line = self.f.readline()[:-2]
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)

    def hgetall(self, key):
        r = self.cmd("HGETALL", key)
        return {r[i].decode(): r[i + 1].decode() for i in range(0, len(r), 2)}

    def close(self):
        self.s.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_redis(exe, port, folder, password, log, extra=()):
    """redis-server on 127.0.0.1:port (its files in folder); returns (process, client)."""
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", folder, "--save", "",
            "--daemonize", "no"] + list(extra)
    if password:
        args += ["--requirepass", password]
    p = subprocess.Popen(args, stdout=open(log, "a"), stderr=subprocess.STDOUT)
    end = time.time() + 20
    while time.time() < end:
        try:
            r = Redis(port, password)
            r.cmd("PING")
            return p, r
        except (OSError, RuntimeError):
            time.sleep(0.05)
    p.kill()
    raise RuntimeError("redis-server did not start")


def stop_redis(p):
    p.terminate()  # SIGTERM: Redis flushes its append-only file and exits
    p.wait(20)


def graph(sink="preview"):
    """The tiny fixture model with the LCM LoRA, 64x64, 2 steps; paths relative
    to the fixtures root (a worker's --models)."""
    g = """version: 1
nodes:
  ckpt:   { type: CheckpointLoader, params: { path: tiny-sd15/model.safetensors, tokenizer: clip } }
  lora:   { type: LoraLoader, inputs: { model: ckpt.model, clip: ckpt.clip },
            params: { path: tiny-sd15/lcm_lora.safetensors, strength_model: 1.0, strength_clip: 1.0 } }
  pos:    { type: TextEncode, inputs: { clip: lora.clip }, params: { text: "a cat in a hat" } }
  empty:  { type: EmptyLatent, params: { width: 64, height: 64 } }
  sample: { type: LcmSampler, inputs: { model: lora.model, positive: pos.conditioning,
                                        latent: empty.latent },
            params: { seed: 42, steps: 2, cfg: 1.0 } }
  decode: { type: VaeDecode, inputs: { vae: ckpt.vae, latent: sample.latent } }
"""
    if sink == "preview":
        return g + "  preview: { type: PreviewImage, inputs: { image: decode.image } }\n"
    return g + "  save: { type: SaveImage, inputs: { image: decode.image }, params: { path: \"%s\" } }\n" % sink
