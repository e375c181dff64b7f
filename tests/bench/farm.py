#!/usr/bin/env python3
"""Render-farm benchmark (not a test):
    farm.py LCMFLOW_EXE [JOBS]                    the tiny model (below)
    farm.py LCMFLOW_EXE --affinity [JOBS]         cache affinity on a mix of two models
    farm.py LCMFLOW_EXE --sd15 DIR [JOBS]         full-size SD 1.5 at 256x256
(README.md beside this file, "Render farm", says what each measures.)

On the tiny fixture model at 64x64, 2 steps, with the LCM LoRA (the graph
of tests/farm):
- throughput with 1, 2 and 3 workers (--threads 1 each): JOBS seeds
  submitted at once, wall time from submit to the last `done`;
- the farm's per-job overhead: 1 warm worker, jobs submitted one at a time;
  from each job record, (finished - submitted) - run_ms: queueing, JSON and
  graph checks, PNG encode, hashing, storing and acknowledging, everything
  a job costs beyond the executor's run;
- `lcmflow run --sweep` of the same graph (one process, --threads 1), wall
  time per image, for comparison.
Its own redis-server on a free loopback port (no persistence)."""
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "farm"))
sys.path.insert(0, os.path.join(HERE, "..", "serve"))
from farm_util import free_port, graph, start_redis, stop_redis  # noqa: E402
from serve_util import fixtures, tiny_graph  # noqa: E402

EXE = os.path.abspath(sys.argv[1])
MODE = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2].startswith("--") else None
SD15 = sys.argv[3] if MODE == "--sd15" else None
REST = sys.argv[(4 if SD15 else 3) if MODE else 2:]
JOBS = int(REST[0]) if REST else {None: 30, "--affinity": 48, "--sd15": 6}[MODE]
FIX = fixtures()
TMP = tempfile.mkdtemp(prefix="lcmflow-farm-bench-")
PORT = free_port()
URL = "redis://127.0.0.1:%d" % PORT
ENV = dict(os.environ, LCMFLOW_PLUGIN_PATH="")


def workers(n, tag, extra=(), threads=1, models=()):
    ps = []
    for i in range(n):
        args = [EXE, "worker", "--redis", URL, "--name", "%s%d" % (tag, i), "--threads",
                str(threads)]
        for m in list(models) + [FIX]:
            args += ["--models", m]
        p = subprocess.Popen(args + list(extra), stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, env=ENV, text=True)
        assert "ready" in p.stdout.readline()
        ps.append(p)
    return ps


def stop(ps):
    for p in ps:
        p.terminate()
        p.wait(60)


def peak():
    out = subprocess.run([EXE, "bench", "peak"], env=ENV, capture_output=True, text=True).stdout
    print("bench peak: " + " | ".join(l.strip() for l in out.splitlines() if "GFLOP" in l))


def loads(r, ids):
    """Checkpoint loads per worker: jobs whose profile shows `ckpt` ran."""
    per = {}
    for jid in ids:
        h = r.hgetall("lcmflow:jobs:job:" + jid)
        ran = any(p["node"] == "ckpt" and p["state"] == "ran" for p in json.loads(h["profile"]))
        per.setdefault(h["worker"], [0, 0])
        per[h["worker"]][0] += 1
        per[h["worker"]][1] += ran
    return per


def affinity(r):
    """A mix of jobs over two tiny checkpoints (the fixture and a synthetic
    one), 2 and 3 workers (FARM_WORKERS) whose cache holds about one of them
    (FARM_CACHE_MB, default 48), with and without --affinity-ms
    (FARM_AFFINITY_MS, default 2000); checkpoint loads per worker and
    throughput.  Each job is its own `submit --wait` process, all at once."""
    mdir = os.path.join(TMP, "m")
    os.makedirs(mdir)
    subprocess.run([EXE, "synth-checkpoint", "--preset", "tiny", "--seed", "3", "--out",
                    os.path.join(mdir, "tiny2.safetensors")], check=True, env=ENV,
                   stdout=subprocess.DEVNULL)
    graphs = []
    for name, ckpt in (("a", "tiny-sd15/model.safetensors, tokenizer: clip"),
                       ("b", "tiny2.safetensors")):
        g = os.path.join(TMP, name + ".yaml")
        with open(g, "w") as f:
            f.write(tiny_graph().replace("tiny-sd15/model.safetensors, tokenizer: clip", ckpt))
        graphs.append(g)
    order = [i % 2 for i in range(JOBS)]
    random.Random(7).shuffle(order)
    cache = os.environ.get("FARM_CACHE_MB", "48")
    for nw, aff in [(int(n), a) for n in os.environ.get("FARM_WORKERS", "2,3").split(",")
                    for a in ("0", os.environ.get("FARM_AFFINITY_MS", "2000"))]:
        ps = workers(nw, "a%s-" % aff, ["--affinity-ms", aff, "--cache-mb", cache], models=[mdir])
        procs, t = [], time.time()
        for k, which in enumerate(order):
            procs.append(subprocess.Popen([EXE, "submit", "--redis", URL, "--wait", graphs[which],
                                           "--set", "sample.seed=%d" % (k + 1)], env=ENV,
                                          stdout=subprocess.PIPE, text=True))
        ids = [p.communicate()[0].split()[0] for p in procs]
        wall = time.time() - t
        per = loads(r, ids)
        print("affinity-ms %s, %d workers, cache %s MiB, %d jobs (2 checkpoints, shuffled): "
              "%.2f s = %.2f jobs/s; checkpoint loads %d in all; per worker (jobs, loads): %s" %
              (aff, nw, cache, JOBS, wall, JOBS / wall, sum(v[1] for v in per.values()),
               ", ".join("%s %d/%d" % (k, v[0], v[1]) for k, v in sorted(per.items()))))
        stop(ps)


def sd15(r):
    """Full-size SD 1.5 (synthetic weights) at 256x256, 2 steps, LCM-LoRA:
    JOBS seeds at once to 1, 2 and 3 warm workers (threads 2, 1, 1)."""
    g = os.path.join(TMP, "sd15.yaml")
    with open(g, "w") as f:
        f.write(graph().replace("tiny-sd15/model.safetensors", "sd15.safetensors")
                .replace("tiny-sd15/lcm_lora.safetensors", "lcm-lora-r64.safetensors")
                .replace("width: 64, height: 64", "width: 256, height: 256"))
    for n, threads in ((1, 2), (2, 1), (3, 1)):
        ps = workers(n, "s%d-" % n, threads=threads, models=[SD15])
        t = time.time()
        submit(g, ["--sweep", "sample.seed=" + ",".join(str(1000 + i) for i in range(n))])
        warm = time.time() - t
        wall, ids = submit(g, ["--sweep", "sample.seed=" + ",".join(str(s) for s in range(1, JOBS + 1))])
        runs = sorted(float(r.hgetall("lcmflow:jobs:job:" + j)["run_ms"]) for j in ids)
        print("sd15 256x256 2 steps, %d worker%s x %d thread%s: warm-up (load + 1 job each) "
              "%.1f s; %d jobs in %.1f s = %.3f jobs/s (%.2f s per job); run_ms median %.0f" %
              (n, "s" if n > 1 else "", threads, "s" if threads > 1 else "", warm, JOBS, wall,
               JOBS / wall, wall / JOBS, runs[len(runs) // 2]))
        stop(ps)


def submit(gfile, args):
    t = time.time()
    out = subprocess.run([EXE, "submit", "--redis", URL, "--wait", gfile] + args, env=ENV,
                         capture_output=True, text=True, check=True).stdout
    return time.time() - t, [l.split()[0] for l in out.split("\n") if l]


def main():
    if MODE:
        peak()
        rp, r = start_redis(shutil.which("redis-server"), PORT, TMP, None,
                            os.path.join(TMP, "r.log"))
        (affinity if MODE == "--affinity" else sd15)(r)
        stop_redis(rp)
        peak()
        return
    gfile = os.path.join(TMP, "farm.yaml")
    with open(gfile, "w") as f:
        f.write(graph())
    rp, r = start_redis(shutil.which("redis-server"), PORT, TMP, None, os.path.join(TMP, "r.log"))
    seeds = ",".join(str(s) for s in range(1, JOBS + 1))
    for n in (1, 2, 3):
        ps = workers(n, "t%d-" % n)
        submit(gfile, ["--sweep", "sample.seed=" + ",".join(str(1000 + i) for i in range(n))])  # warm
        wall, _ = submit(gfile, ["--sweep", "sample.seed=" + seeds])
        print("throughput, %d worker%s: %d jobs in %.2f s = %.2f jobs/s" %
              (n, "s" if n > 1 else "", JOBS, wall, JOBS / wall))
        for p in ps:
            p.terminate()
            p.wait(30)
    ps = workers(1, "o")
    submit(gfile, ["--set", "sample.seed=1"])  # warm
    over, runs, walls = [], [], []
    for s in range(2, 22):
        wall, ids = submit(gfile, ["--set", "sample.seed=%d" % s])
        h = r.hgetall("lcmflow:jobs:job:" + ids[0])
        runs.append(float(h["run_ms"]))
        over.append(int(h["finished"]) - int(h["submitted"]) - float(h["run_ms"]))
        walls.append(wall * 1e3)
    print("per-job overhead, 1 warm worker, 20 jobs one at a time: median %.1f ms (min %.1f, max "
          "%.1f); executor run median %.1f ms; submit --wait process wall median %.1f ms" %
          (statistics.median(over), min(over), max(over), statistics.median(runs),
           statistics.median(walls)))
    for p in ps:
        p.terminate()
        p.wait(30)
    stop_redis(rp)
    ref = os.path.join(TMP, "ref.yaml")
    with open(ref, "w") as f:
        f.write(graph(sink=os.path.join(TMP, "s{value}.png")).replace("tiny-sd15/", FIX + "/tiny-sd15/")
                .replace("tokenizer: clip", "tokenizer: " + FIX + "/clip"))
    t = time.time()
    subprocess.run([EXE, "run", ref, "--quiet", "--threads", "1", "--sweep", "sample.seed=1"],
                   env=ENV, check=True, stdout=subprocess.DEVNULL)
    one = time.time() - t
    t = time.time()
    subprocess.run([EXE, "run", ref, "--quiet", "--threads", "1", "--sweep", "sample.seed=" + seeds],
                   env=ENV, check=True, stdout=subprocess.DEVNULL)
    many = time.time() - t
    print("lcmflow run --sweep, one process: %d images in %.2f s; per image after the first "
          "(load) %.1f ms" % (JOBS, many, (many - one) / max(1, JOBS - 1) * 1e3))


try:
    main()
finally:
    shutil.rmtree(TMP, ignore_errors=True)
