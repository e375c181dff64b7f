#!/usr/bin/env python3
"""Render-farm benchmark (not a test): farm.py LCMFLOW_EXE [JOBS].

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
import os
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
from serve_util import fixtures  # noqa: E402

EXE = os.path.abspath(sys.argv[1])
JOBS = int(sys.argv[2]) if len(sys.argv) > 2 else 30
FIX = fixtures()
TMP = tempfile.mkdtemp(prefix="lcmflow-farm-bench-")
PORT = free_port()
URL = "redis://127.0.0.1:%d" % PORT
ENV = dict(os.environ, LCMFLOW_PLUGIN_PATH="")


def workers(n, tag):
    ps = []
    for i in range(n):
        p = subprocess.Popen([EXE, "worker", "--redis", URL, "--name", "%s%d" % (tag, i),
                              "--models", FIX, "--threads", "1"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, env=ENV, text=True)
        assert "ready" in p.stdout.readline()
        ps.append(p)
    return ps


def submit(gfile, args):
    t = time.time()
    out = subprocess.run([EXE, "submit", "--redis", URL, "--wait", gfile] + args, env=ENV,
                         capture_output=True, text=True, check=True).stdout
    return time.time() - t, [l.split()[0] for l in out.split("\n") if l]


def main():
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
