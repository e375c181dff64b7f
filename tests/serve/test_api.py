#!/usr/bin/env python3
"""API tests of `lcmflow serve` on the tiny fixture model (64x64):
test_api.py LCMFLOW_EXE.  Loopback only; every wait is bounded."""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, WebSocket, fixtures, img2img_graph, png_pixels, tempdir, tiny_graph  # noqa: E402

EXE = os.path.abspath(sys.argv[1])
FIX = fixtures()
TMP = tempdir()
OUT = os.path.join(TMP, "out")
# A job long enough to be caught running: 50 steps (the 64x64 pipelines are warm).
LONG = {"graph": tiny_graph(size=64, steps=50), "set": {"sample.seed": 1}}


def check(name, cond, detail=""):
    if not cond:
        raise AssertionError("%s: %s" % (name, detail))
    print("ok -", name)


def ran_nodes(job):
    return sorted(p["node"] for p in job["profile"] if p["state"] == "ran")


def test_nodes(s):
    status, nodes = s.json("GET", "/api/nodes")
    names = [n["name"] for n in nodes]
    check("GET /api/nodes lists the node types", status == 200 and "PreviewImage" in names and
          "LcmSampler" in names, names)
    sampler = next(n for n in nodes if n["name"] == "LcmSampler")
    steps = next(p for p in sampler["params"] if p["name"] == "steps")
    check("node params carry defaults and ranges", steps["default"] == 4 and steps["max"] == 50, steps)


def test_png_equals_run(s):
    job = s.submit({"graph": tiny_graph(), "session": "equal"})
    o = s.wait(job)
    check("a job finishes", o["state"] == "done" and len(o["outputs"]) == 1, o)
    check("every node ran the first time", len(ran_nodes(o)) == 6, o["profile"])
    status, png = s.request("GET", o["outputs"][0])
    check("the output is a PNG", status == 200 and png[:4] == b"\x89PNG")
    check("the PNG embeds the graph", b"lcmflow.graph" in png)
    graph = os.path.join(TMP, "run.yaml")
    with open(graph, "w") as f:
        f.write(tiny_graph(sink="run.png").replace("tiny-sd15/", FIX + "/tiny-sd15/")
                .replace("tokenizer: clip", "tokenizer: " + FIX + "/clip"))
    env = dict(os.environ, LCMFLOW_PLUGIN_PATH="")
    subprocess.run([EXE, "run", graph, "--quiet"], check=True, env=env, timeout=300)
    with open(os.path.join(TMP, "run.png"), "rb") as f:
        want = png_pixels(f.read())
    check("the job's image equals `lcmflow run`'s", png_pixels(png) == want)

    job2 = s.submit({"graph": tiny_graph(), "set": {"sample.seed": 7}, "session": "equal"})
    o2 = s.wait(job2)
    check("a seed change re-runs only sampler, decode, preview",
          ran_nodes(o2) == ["decode", "preview", "sample"], o2["profile"])
    status, png2 = s.request("GET", o2["outputs"][0])
    check("a new seed gives a new image", png_pixels(png2) != want)


def test_json_graph(s):
    nodes = {
        "ckpt": {"type": "CheckpointLoader",
                 "params": {"path": "tiny-sd15/model.safetensors", "tokenizer": "clip"}},
        "pos": {"type": "TextEncode", "inputs": {"clip": "ckpt.clip"}, "params": {"text": "a cat in a hat"}},
        "empty": {"type": "EmptyLatent", "params": {"width": 64, "height": 64}},
        "sample": {"type": "LcmSampler", "inputs": {"model": "ckpt.model", "positive": "pos.conditioning",
                                                    "latent": "empty.latent"},
                   "params": {"seed": 42, "steps": 2, "cfg": 1.0}},
        "decode": {"type": "VaeDecode", "inputs": {"vae": "ckpt.vae", "latent": "sample.latent"}},
        "preview": {"type": "PreviewImage", "inputs": {"image": "decode.image"}},
    }
    o = s.wait(s.submit({"graph": {"version": 1, "nodes": nodes}}))
    check("a JSON graph runs, reusing the YAML graph's cached values",
          o["state"] == "done" and ran_nodes(o) == ["preview"], o)


def test_graph_errors(s):
    bad = "version: 1\nnodes:\n  a: { type: NoSuchNode }\n"
    status, o = s.json("POST", "/api/jobs", {"graph": bad})
    check("a graph error is a 400 with graph:line:col", status == 400 and
          o["error"].startswith("graph:3:") and "NoSuchNode" in o["error"], o)
    status, o = s.json("POST", "/api/jobs", "{\"graph\": ")
    check("malformed JSON is a 400", status == 400 and "malformed JSON" in o["error"], o)
    status, o = s.json("POST", "/api/jobs", {"graph": tiny_graph(), "set": {"sample.seed": "x"}})
    check("a wrongly typed set is a 400", status == 400 and "sample.seed" in o["error"], o)
    status, o = s.json("POST", "/api/jobs", {"graph": 42})
    check("a graph of the wrong type is a 400", status == 400, o)
    status, o = s.json("POST", "/api/jobs", {"graph": tiny_graph(), "session": "../x"})
    check("a bad session id is a 400", status == 400, o)
    status, o = s.json("POST", "/api/jobs", {"graph": tiny_graph(), "set": {"empty.width": 4096}})
    check("a size over the limit is a 400 naming it", status == 400 and "empty.width" in o["error"], o)
    status, o = s.json("POST", "/api/jobs", {"graph": tiny_graph(), "set": {"pos.text": "x" * 5000}})
    check("a prompt over the limit is a 400", status == 400 and "pos.text" in o["error"], o)
    status, o = s.json("POST", "/api/jobs", "{\"graph\": \"" + "x" * (2 << 20) + "\"}")
    check("a body over the limit is a 413", status == 413, o)
    status, o = s.json("GET", "/api/jobs/999999")
    check("an unknown job is a 404", status == 404, o)
    status, o = s.json("DELETE", "/api/jobs")
    check("a wrong method is a 405", status == 405, o)


def test_paths(s):
    cases = [
        ({"ckpt.path": "/etc/passwd"}, "ckpt.path", "absolute"),
        ({"ckpt.path": "../tiny-sd15/model.safetensors"}, "ckpt.path", ".."),
        ({"ckpt.tokenizer": "clip/../../etc"}, "ckpt.tokenizer", ".."),
        ({"ckpt.path": "evil.safetensors"}, "ckpt.path", "outside"),
        ({"ckpt.path": "evildir/hostname"}, "ckpt.path", "outside"),
    ]
    for sets, param, word in cases:
        status, o = s.json("POST", "/api/jobs", {"graph": tiny_graph(), "set": sets})
        check("path %s refused naming %s" % (list(sets.values())[0], param),
              status == 400 and param in o["error"] and word in o["error"], o)
    for path, word in (("/tmp/x.png", "absolute"), ("../x.png", ".."), ("link/x.png", "outside")):
        status, o = s.json("POST", "/api/jobs", {"graph": tiny_graph(sink=path)})
        check("output path %s refused" % path, status == 400 and "save.path" in o["error"] and
              word in o["error"], o)
    status, o = s.json("POST", "/api/jobs", {"graph": tiny_graph(sink="sub/ok.png")})
    o = s.wait(o["id"])
    check("SaveImage writes inside --output", o["state"] == "done" and
          os.path.exists(os.path.join(OUT, "sub", "ok.png")), o)
    status, o = s.json("POST", "/api/jobs", {"graph": "version: 1\nnodes:\n  c: { type: ContactSheet,"
                                             " params: { images: /etc/passwd, path: c.png } }\n"})
    check("ContactSheet (unchecked file list) is refused", status == 400, o)


def test_host_origin(s):
    status, o = s.json("GET", "/api/nodes", headers={"Host": "evil.example:%d" % s.port})
    check("a foreign Host is refused", status == 403 and "Host" in o["error"], o)
    status, o = s.json("GET", "/api/nodes", headers={"Host": "localhost:%d" % s.port})
    check("localhost is this server", status == 200)
    status, o = s.json("POST", "/api/jobs", {"graph": tiny_graph()},
                       headers={"Origin": "http://evil.example"})
    check("a foreign Origin is refused", status == 403 and "Origin" in o["error"], o)
    status, o = s.json("GET", "/api/nodes", headers={"Origin": "http://" + s.host})
    check("the server's own Origin is accepted", status == 200)
    ws = WebSocket(s.port, origin="http://evil.example")
    check("a WebSocket from a foreign Origin is refused", ws.status != 101, ws.status)
    ws.close()


def test_cancel(s):
    job = s.submit(LONG)
    s.wait(job, states=("running",), cond=lambda o: o["progress"]["step"] >= 1, timeout=120)
    t0 = time.time()
    status, o = s.json("POST", "/api/jobs/%d/cancel" % job)
    o = s.wait(job, timeout=60)
    dt = time.time() - t0
    check("a running job is cancelled (%.2f s)" % dt, o["state"] == "cancelled" and
          o["progress"]["step"] < 50, o)


def test_latest_wins(s):
    first = s.submit(dict(LONG, session="live"))
    s.wait(first, states=("running",), cond=lambda o: o["progress"]["step"] >= 1, timeout=120)
    t0 = time.time()
    second = s.submit({"graph": tiny_graph(), "set": {"sample.seed": 3}, "session": "live"})
    o1 = s.wait(first, timeout=60)
    dt = time.time() - t0
    check("a new job in the session cancels the running one (%.2f s)" % dt,
          o1["state"] == "cancelled", o1)
    check("and the new job finishes", s.wait(second)["state"] == "done")


def test_queue(s):
    blocker = s.submit(LONG)
    s.wait(blocker, states=("running",))
    codes = [s.json("POST", "/api/jobs", LONG)[0] for _ in range(5)]
    check("the queue is bounded (429 beyond)", codes.count(201) == 2 and codes.count(429) == 3, codes)
    status, jobs = 0, [blocker]
    for job in range(blocker + 1, blocker + 3):
        s.json("POST", "/api/jobs/%d/cancel" % job)
    s.json("POST", "/api/jobs/%d/cancel" % blocker)
    s.wait(blocker, timeout=60)


def test_upload(s):
    with open(os.path.join(FIX, "tiny-sd15", "ref", "pipe_c_sketch.png"), "rb") as f:
        sketch = f.read()
    status, o = s.json("POST", "/api/uploads", sketch, headers={"Content-Type": "image/png"})
    check("an upload gives an id", status == 201 and o["source"].startswith("upload:"), o)
    graph = img2img_graph(o["source"])
    job = s.wait(s.submit({"graph": graph}))
    check("an upload is LoadImage's source", job["state"] == "done", job)
    status, o = s.json("POST", "/api/uploads", b"not an image")
    check("a non-image upload is a 400", status == 400, o)
    status, o = s.json("POST", "/api/jobs", {"graph": graph.replace(o.get("id", "x"), "x"),
                                             "set": {"img.path": "upload:0123"}})
    check("a malformed upload id is a 400", status == 400 and "img.path" in o["error"], o)


def test_events(s):
    ws = WebSocket(s.port)
    check("GET /api/events upgrades to a WebSocket", ws.status == 101, ws.status)
    opcode, hello = ws.recv()
    job = s.submit({"graph": tiny_graph(steps=3), "set": {"sample.seed": 11}, "session": "ev"})
    types, previews = [], 0
    while True:
        opcode, data = ws.recv(timeout=120)
        if opcode == 2:
            check("a preview frame names its job", data[:4] == b"LFPV" and
                  int.from_bytes(data[4:8], "little") == job)
            w, h = int.from_bytes(data[12:14], "little"), int.from_bytes(data[14:16], "little")
            check("a preview frame holds w*h RGB", (w, h) == (8, 8) and len(data) == 16 + w * h * 3)
            previews += 1
            continue
        e = json.loads(data)
        if e.get("job") != job:
            continue
        types.append(e["type"])
        if e["type"] in ("done", "failed", "cancelled"):
            break
    ws.close()
    check("events: queued, started, node, step, done", types[0] == "queued" and "started" in types
          and "node" in types and types.count("step") == 3 and types[-1] == "done", types)
    check("one preview per step", previews == 3, previews)


def test_token():
    t = Server(EXE, ["--models", FIX, "--output", OUT, "--token", "s3cret-token"])
    try:
        status, o = t.json("GET", "/api/nodes")
        check("with a token, a request without it is a 401", status == 401, o)
        status, o = t.json("GET", "/api/nodes", headers={"Authorization": "Bearer wrong-token"})
        check("a wrong token is a 401", status == 401, o)
        status, o = t.json("GET", "/api/nodes", headers={"Authorization": "Bearer s3cret-token"})
        check("the token opens the API", status == 200)
        status, o = t.json("GET", "/api/nodes?token=s3cret-token")
        check("the token also works as ?token=", status == 200)
    finally:
        t.stop()


def frames_and_image(s, graph, seed):
    """(preview frames [(step, w, h, rgb)], final PNG pixels) of one job."""
    ws = WebSocket(s.port)
    ws.recv()  # hello
    job = s.submit({"graph": graph, "set": {"sample.seed": seed}})
    frames = []
    while True:
        opcode, data = ws.recv(timeout=120)
        if opcode == 2 and int.from_bytes(data[4:8], "little") == job:
            step, w, h = (int.from_bytes(data[k:k + 2], "little") for k in (8, 12, 14))
            frames.append((step, w, h, data[16:]))
        elif opcode == 1:
            e = json.loads(data)
            if e.get("job") == job and e["type"] in ("done", "failed", "cancelled"):
                break
    ws.close()
    o = s.wait(job)
    assert o["state"] == "done", o
    return frames, png_pixels(s.request("GET", o["outputs"][0])[1])


def test_taesd_previews(s):
    """With preview_vae wired to a TaesdLoader, a step's frame is TAESD's
    decode of that step's x0.  LCM's last step returns its x0, and the
    first step of any run starts at t=999 from the same noise, so: frame 1
    of a 2-step job is the final image of the 1-step job with the TAESD
    decoding it, and frame 2 the 2-step job's own final image."""
    taesd = tiny_graph(steps=2).replace(
        "  decode: { type: VaeDecode, inputs: { vae: ckpt.vae,",
        "  taesd: { type: TaesdLoader, params: { decoder: taesd.safetensors } }\n"
        "  decode: { type: VaeDecode, inputs: { vae: taesd.vae,").replace(
        "latent: empty.latent }", "latent: empty.latent, preview_vae: taesd.vae }")
    assert "preview_vae" in taesd and "vae: taesd.vae," in taesd, taesd
    frames, final2 = frames_and_image(s, taesd, 5)
    check("TAESD previews: one full-size frame per step",
          [(f[0], f[1], f[2]) for f in frames] == [(1, 64, 64), (2, 64, 64)],
          [(f[0], f[1], f[2]) for f in frames])
    _, final1 = frames_and_image(s, taesd.replace("steps: 2,", "steps: 1,"), 5)
    check("frame 1 is TAESD's decode of step 1's x0 (the 1-step image)",
          (64, 64, frames[0][3]) == final1)
    check("frame 2 is TAESD's decode of step 2's x0 (the final image)",
          (64, 64, frames[1][3]) == final2)
    check("the two steps' frames differ", frames[0][3] != frames[1][3])
    linear, _ = frames_and_image(s, tiny_graph(steps=2), 5)
    check("without preview_vae: the linear latent map (8x8 frames)",
          [(f[1], f[2]) for f in linear] == [(8, 8), (8, 8)], linear)
    # a TAESD of another latent space (the TAEF2 fixture: 32 channels)
    bad = taesd.replace("decoder: taesd.safetensors", "decoder: taesd/taef2_decoder.safetensors")
    job = s.wait(s.submit({"graph": bad}))
    check("a preview_vae of 32 channels is refused naming the input",
          job["state"] == "failed" and "preview_vae" in job["error"] and "32" in job["error"], job)


def main():
    os.makedirs(OUT)
    models2 = os.path.join(TMP, "models2")
    os.makedirs(models2)
    subprocess.run([EXE, "synth-taesd", "--out", os.path.join(models2, "taesd.safetensors")],
                   check=True, stdout=subprocess.DEVNULL, timeout=60)
    os.symlink("/etc/hostname", os.path.join(models2, "evil.safetensors"))
    os.symlink("/etc", os.path.join(models2, "evildir"))
    os.symlink("/tmp", os.path.join(OUT, "link"))
    s = Server(EXE, ["--models", FIX, "--models", models2, "--output", OUT, "--queue", "2"])
    try:
        status, page = s.request("GET", "/")
        check("GET / serves the page", status == 200 and b"<html" in page.lower())
        test_nodes(s)
        test_png_equals_run(s)
        test_json_graph(s)
        test_graph_errors(s)
        test_paths(s)
        test_host_origin(s)
        test_events(s)
        test_taesd_previews(s)
        test_upload(s)
        test_cancel(s)
        test_latest_wins(s)
        test_queue(s)
        check("the server is still up", s.alive())
    finally:
        code, err = s.stop()
    check("SIGTERM stops the server cleanly", code == 0, err[-2000:])
    test_token()
    check("no files left outside --output", not os.path.exists("/tmp/x.png"))
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
