#!/usr/bin/env python3
"""`lcmflow serve --redis`: the server as the farm's front end
(test_farm_serve.py LCMFLOW_EXE), loopback only, every wait bounded.

Its own redis-server, one worker and the server on the tiny fixture model
at 64x64.  A job posted to the HTTP API runs on the worker (its record names
it) and its PNG equals `lcmflow run`'s for the same graph; /api/events
relays queued, started, node, one step event per step, done, and the
step previews (the worker's latents through Redis); a second job
in the same session cancels the first while it runs on the worker (state
cancelled, in the farm's record too) and itself completes; a cancel through
POST /api/jobs/ID/cancel ends a queued-on-the-farm job (no worker free) at
once; uploads are refused with a message."""
import json
import glob
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "serve"))
sys.path.insert(0, HERE)
from serve_util import (Server, WebSocket, fixtures, img2img_graph, png_pixels, tempdir,  # noqa: E402
                        tiny_graph)
import farm_util  # noqa: E402
from farm_util import check  # noqa: E402

EXE = os.path.abspath(sys.argv[1])
FIX = fixtures()
REDIS = farm_util.redis_or_skip()
TMP = tempdir()
ENV = farm_util.lcmflow_env()
STREAM = "lcmflow:jobs"
# Long enough that a cancel always finds it running: 50 steps at 64x64 can
# end in under a second on a quiet machine (seen in CI), 256x256 cannot.
LONG = {"graph": tiny_graph(size=256, steps=50), "set": {"sample.seed": 5}}



def farm_record(r, worker_name):
    """The farm job records, newest last (by submitted time)."""
    keys, cursor = [], b"0"
    while True:
        cursor, batch = r.cmd("SCAN", cursor, "MATCH", STREAM + ":job:*", "COUNT", 1000)
        keys += [k.decode() for k in batch]
        if cursor == b"0":
            break
    recs = [r.hgetall(k) for k in keys]
    return sorted(recs, key=lambda h: int(h.get("submitted", "0")))


RUN_PNG = os.path.join(TMP, "run.png")


def run_pixels(graph_text):
    """The pixels `lcmflow run` makes of a graph on the tiny model whose sink
    is RUN_PNG (its model and tokenizer paths made absolute)."""
    graph = os.path.join(TMP, "run.yaml")
    with open(graph, "w") as f:
        f.write(graph_text.replace("tiny-sd15/", FIX + "/tiny-sd15/", 1)
                .replace("tokenizer: clip", "tokenizer: " + FIX + "/clip"))
    subprocess.run([EXE, "run", graph, "--quiet", "--threads", "1"], check=True, env=ENV,
                   timeout=120, stdout=subprocess.DEVNULL)
    with open(RUN_PNG, "rb") as f:
        return png_pixels(f.read())


def main():
    port = farm_util.free_port()
    url = "redis://127.0.0.1:%d" % port
    rp, r = farm_util.start_redis(REDIS, port, TMP, None, os.path.join(TMP, "redis.log"))
    wlog = open(os.path.join(TMP, "worker.log"), "w")
    worker = subprocess.Popen([EXE, "worker", "--redis", url, "--name", "w1", "--models", FIX,
                               "--threads", "1"], stdout=subprocess.PIPE, stderr=wlog, env=ENV,
                              text=True)
    s = None
    try:
        check("the worker is ready", "ready" in worker.stdout.readline())
        s = Server(EXE, ["--models", FIX, "--output", os.path.join(TMP, "out"), "--redis", url],
                   env={"LCMFLOW_REDIS": ""})
        ws = WebSocket(s.port)
        check("GET /api/events upgrades to a WebSocket", ws.status == 101, ws.status)
        ws.recv()  # hello

        # 1. A job through the HTTP API runs on the worker; the PNG equals `lcmflow run`'s.
        job = s.submit({"graph": tiny_graph(steps=3), "session": "a"})
        types, frames = [], []
        while True:
            opcode, data = ws.recv(timeout=120)
            if opcode == 2:
                if int.from_bytes(data[4:8], "little") == job:
                    frames.append((int.from_bytes(data[8:10], "little"),
                                   int.from_bytes(data[12:14], "little"),
                                   int.from_bytes(data[14:16], "little"), len(data)))
                continue
            if opcode != 1:
                continue
            e = json.loads(data)
            if e.get("job") == job:
                types.append(e["type"])
                if e["type"] in ("done", "failed", "cancelled"):
                    break
        o = s.wait(job)
        check("the job is done, with one output", o["state"] == "done" and len(o["outputs"]) == 1, o)
        check("events relayed: queued, started, node, a step per step, done",
              types[0] == "queued" and types[1] == "started" and "node" in types and
              types.count("step") == 3 and types[-1] == "done", types)
        # Each step's latent went through Redis; frames are the latest picture
        # stored, so a fast step may be replaced before the server reads it.
        check("preview frames relayed (%d of 3 steps): 8x8 RGB from the worker's latents, "
              "steps in order" % len(frames),
              1 <= len(frames) <= 3 and all(f[1:] == (8, 8, 16 + 8 * 8 * 3) for f in frames) and
              [f[0] for f in frames] == sorted(f[0] for f in frames), frames)
        recs = farm_record(r, "w1")
        check("it ran on the farm's worker (its record says so)", len(recs) == 1 and
              recs[0]["state"] == "done" and recs[0]["worker"] == "w1", recs)
        check("the profile is the worker's", sorted(p["node"] for p in o["profile"]) ==
              ["ckpt", "decode", "empty", "pos", "preview", "sample"], o["profile"])
        status, png = s.request("GET", o["outputs"][0])
        want = run_pixels(tiny_graph(steps=3, sink=RUN_PNG))
        check("the PNG equals `lcmflow run`'s for the same graph",
              status == 200 and png[:4] == b"\x89PNG" and png_pixels(png) == want)

        # 2. Latest wins: a second job in the session cancels the running first.
        first = s.submit(dict(LONG, session="live"))
        s.wait(first, states=("running",), cond=lambda o: o["progress"]["step"] >= 1, timeout=60)
        t0 = time.time()
        second = s.submit({"graph": tiny_graph(), "set": {"sample.seed": 3}, "session": "live"})
        o1 = s.wait(first, timeout=60)
        dt = time.time() - t0
        check("a second job in the session cancels the first on the worker (%.2f s)" % dt,
              o1["state"] == "cancelled" and o1["progress"]["step"] < 50, o1)
        o2 = s.wait(second, timeout=60)
        check("and the second job completes", o2["state"] == "done", o2)
        recs = farm_record(r, "w1")
        check("the farm's records: the first cancelled, the second done",
              [h["state"] for h in recs[-2:]] == ["cancelled", "done"], recs[-2:])
        check("the worker said it cancelled the job", "cancelled" in open(wlog.name).read())

        # 3. A job queued on the farm (the worker busy) is cancelled at once.
        busy = s.submit(LONG)
        s.wait(busy, states=("running",), timeout=60)
        waiting = s.submit({"graph": tiny_graph(), "set": {"sample.seed": 9}})
        time.sleep(0.3)
        check("a job behind a busy worker stays queued",
              s.json("GET", "/api/jobs/%d" % waiting)[1]["state"] == "queued")
        t0 = time.time()
        s.json("POST", "/api/jobs/%d/cancel" % waiting)
        ow = s.wait(waiting, timeout=10)
        check("cancelling it ends it at once (%.2f s)" % (time.time() - t0),
              ow["state"] == "cancelled", ow)
        s.json("POST", "/api/jobs/%d/cancel" % busy)
        ob = s.wait(busy, timeout=60)
        check("the busy job is cancelled too", ob["state"] == "cancelled", ob)

        # 4. An upload is relayed: a job using it runs on the worker, and its
        # PNG equals `lcmflow run`'s on the same image file.
        sketch_file = os.path.join(FIX, "tiny-sd15", "ref", "pipe_c_sketch.png")
        with open(sketch_file, "rb") as f:
            status, o = s.json("POST", "/api/uploads", f.read(), headers={"Content-Type": "image/png"})
        check("an upload gives an id in farm mode", status == 201, o)
        oi = s.wait(s.submit({"graph": img2img_graph(o["source"])}), timeout=60)
        check("a job on the upload is done on the worker", oi["state"] == "done", oi)
        status, png = s.request("GET", oi["outputs"][0])
        want = run_pixels(img2img_graph(sketch_file, sink=RUN_PNG))
        check("its PNG equals `lcmflow run`'s on the image file",
              status == 200 and png_pixels(png) == want)
        check("the worker removed the job's upload folder",
              not glob.glob("/tmp/lcmflow-worker-*/uploads-*"))
        ws.close()
        code, err = s.stop()
        s = None
        check("the server stops cleanly", code == 0, err)
    finally:
        if s:
            s.stop()
        worker.terminate()
        worker.wait(30)
        r.close()
        farm_util.stop_redis(rp)
        for name in ("worker.log",):
            with open(os.path.join(TMP, name)) as f:
                print("---- %s (last lines)\n%s" % (name, "".join(f.readlines()[-8:])))


try:
    main()
finally:
    shutil.rmtree(TMP, ignore_errors=True)
