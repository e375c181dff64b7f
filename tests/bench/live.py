#!/usr/bin/env python3
"""Edit-to-image latency of `lcmflow serve`, through the API (the issue's
`lcmflow bench live`, as a script).  For each size, step count and decoder it warms the cache
with one job, then times edits as the live page sends them: a seed change,
a prompt change, a LoRA strength change (with --lora) and a sketch stroke
(a new uploaded sketch, img2img at denoise 0.6).  Each figure is the median
of --repeat edits: from the POST to the first preview frame on /api/events
and to the job's end (the final PNG fetched).

  tests/bench/live.py BUILD/lcmflow --models DIR [--models DIR]... --ckpt REL
      [--tokenizer REL] [--lora REL] [--taesd REL] [--sizes 256,512] [--steps 2,4]
      [--repeat 3] [--decoders vae,taesd] [--edits seed,prompt,...]

With --taesd the TAESD rows use that file as the decoder (and its step
previews) and as the sketch's encoder: the tiny autoencoder both ways.

REL paths are relative to --models.  Loopback only; stops by itself."""
import argparse
import json
import os
import statistics
import struct
import sys
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "serve"))
from serve_util import Server, WebSocket, tempdir  # noqa: E402


def png(w, h, seed):
    """An RGB PNG: a light background with a few coloured rectangles (a sketch)."""
    px = bytearray([235] * (w * h * 3))
    r = seed * 7919
    for k in range(4):
        r = (r * 1103515245 + 12345) & 0x7FFFFFFF
        x0, y0 = r % (w // 2), (r >> 8) % (h // 2)
        color = ((r >> 3) & 255, (r >> 11) & 255, (r >> 19) & 255)
        for y in range(y0, min(h, y0 + h // 3)):
            for x in range(x0, min(w, x0 + w // 3)):
                px[(y * w + x) * 3:(y * w + x) * 3 + 3] = bytes(color)
    raw = b"".join(b"\x00" + bytes(px[y * w * 3:(y + 1) * w * 3]) for y in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def graph(a, size, steps, decoder, sketch=None, lora=None):
    n = {"ckpt": {"type": "CheckpointLoader", "params": {"path": a.ckpt}}}
    if a.tokenizer:
        n["ckpt"]["params"]["tokenizer"] = a.tokenizer
    model, clip = "ckpt.model", "ckpt.clip"
    if lora is not None:
        n["lora"] = {"type": "LoraLoader", "inputs": {"model": model, "clip": clip},
                     "params": {"path": a.lora, "strength_model": lora}}
        model, clip = "lora.model", "lora.clip"
    n["pos"] = {"type": "TextEncode", "inputs": {"clip": clip}, "params": {"text": "a lighthouse at dusk"}}
    s = {"type": "LcmSampler", "inputs": {"model": model, "positive": "pos.conditioning"},
         "params": {"seed": 1, "steps": steps, "cfg": 1.0}}
    vae = "ckpt.vae"
    if decoder == "taesd":
        # the tiny autoencoder both ways: it encodes the sketch too
        n["taesd"] = {"type": "TaesdLoader", "params": {"decoder": a.taesd, "encoder": a.taesd}}
        vae = "taesd.vae"
        s["inputs"]["preview_vae"] = vae  # step previews decoded by TAESD too
    if sketch:
        n["img"] = {"type": "LoadImage", "params": {"path": sketch}}
        n["enc"] = {"type": "VaeEncode", "inputs": {"vae": vae, "image": "img.image"}}
        s["inputs"]["latent"] = "enc.latent"
        s["params"]["denoise"] = 0.6
    else:
        n["empty"] = {"type": "EmptyLatent", "params": {"width": size, "height": size}}
        s["inputs"]["latent"] = "empty.latent"
    n["sample"] = s
    n["decode"] = {"type": "VaeDecode", "inputs": {"vae": vae, "latent": "sample.latent"}}
    n["preview"] = {"type": "PreviewImage", "inputs": {"image": "decode.image"}}
    return {"version": 1, "nodes": n}


def timed(s, ws, body, upload=None):
    """(ms to the first preview, ms to the fetched final image) of one edit."""
    t0 = time.perf_counter()
    if upload:
        status, o = s.json("POST", "/api/uploads", upload)
        assert status == 201, o
        body["graph"]["nodes"]["img"]["params"]["path"] = o["source"]
    job = s.submit(body)
    first = None
    while True:
        opcode, data = ws.recv(timeout=600)
        if opcode == 2 and int.from_bytes(data[4:8], "little") == job and first is None:
            first = (time.perf_counter() - t0) * 1e3
        elif opcode == 1:
            e = json.loads(data)
            if e.get("job") == job and e["type"] in ("done", "failed", "cancelled"):
                assert e["type"] == "done", e
                break
    o = s.json("GET", "/api/jobs/%d" % job)[1]
    status, _ = s.request("GET", o["outputs"][0])
    timed.profile = ", ".join("%s %.0f" % (p["node"], p["ms"]) for p in o["profile"]
                              if p["state"] == "ran")
    return first, (time.perf_counter() - t0) * 1e3


def main():
    p = argparse.ArgumentParser()
    p.add_argument("exe")
    p.add_argument("--models", required=True, action="append")
    p.add_argument("--ckpt", required=True)
    p.add_argument("--tokenizer")
    p.add_argument("--lora")
    p.add_argument("--taesd")
    p.add_argument("--sizes", default="256,512")
    p.add_argument("--steps", default="2,4")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--decoders", default="vae,taesd", help="which of vae,taesd (taesd needs --taesd)")
    p.add_argument("--edits", default="seed,prompt,sketch stroke,LoRA strength")
    a = p.parse_args()
    out = tempdir()
    roots = [x for m in a.models for x in ("--models", m)]
    s = Server(os.path.abspath(a.exe), roots + ["--output", out])
    ws = WebSocket(s.port)
    ws.recv()
    print("| size | steps | decoder | edit | first preview ms | final image ms |")
    print("|---|---|---|---|---|---|")
    seq = 100
    try:
        for size in map(int, a.sizes.split(",")):
            for steps in map(int, a.steps.split(",")):
                for decoder in [d for d in a.decoders.split(",") if d == "vae" or a.taesd]:
                    edits = {"seed": lambda i: ({"graph": graph(a, size, steps, decoder),
                                                 "set": {"sample.seed": i}}, None),
                             "prompt": lambda i: ({"graph": graph(a, size, steps, decoder),
                                                   "set": {"pos.text": "a lighthouse, variant %d" % i}}, None),
                             "sketch stroke": lambda i: ({"graph": graph(a, size, steps, decoder, sketch="x")},
                                                         png(size, size, i))}
                    if a.lora:
                        edits["LoRA strength"] = lambda i: ({"graph": graph(a, size, steps, decoder,
                                                                            lora=0.5 + (i % 10) / 20)}, None)
                    for name, make in [(k, v) for k, v in edits.items() if k in a.edits.split(",")]:
                        seq += 1
                        timed(s, ws, *make(seq))  # warm: loads, encodes, compiles
                        runs = []
                        for _ in range(a.repeat):
                            seq += 1
                            runs.append(timed(s, ws, *make(seq)))
                        firsts = [f for f, _ in runs if f is not None]
                        print("| %d | %d | %s | %s | %s | %.0f |" % (
                            size, steps, decoder, name,
                            "%.0f" % statistics.median(firsts) if firsts else "-",
                            statistics.median(t for _, t in runs)), flush=True)
                        print("<!-- last run, ms: %s -->" % timed.profile, flush=True)
    finally:
        ws.close()
        s.stop()


if __name__ == "__main__":
    main()
