#!/usr/bin/env python3
"""Cache affinity (test_farm_affinity.py LCMFLOW_EXE): two workers with
--affinity-ms, worker A warm on the tiny fixture model, worker B warm on a
synthetic tiny checkpoint (B made warm while A is stopped with SIGSTOP, so
the warm-up is deterministic).  Then 8 jobs alternating the two models,
queued at once: each must run on the worker that has its model warm, with
no checkpoint load (without affinity the chance of that is 1 in 256).
Loopback only, its own redis-server, a few seconds."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "serve"))
sys.path.insert(0, HERE)
from serve_util import fixtures, tempdir, tiny_graph  # noqa: E402
import farm_util  # noqa: E402
from farm_util import check  # noqa: E402

EXE = os.path.abspath(sys.argv[1])
FIX = fixtures()
REDIS = farm_util.redis_or_skip()
TMP = tempdir()
ENV = farm_util.lcmflow_env()



def main():
    port = farm_util.free_port()
    url = "redis://127.0.0.1:%d" % port
    rp, r = farm_util.start_redis(REDIS, port, TMP, None, os.path.join(TMP, "redis.log"))
    mdir = os.path.join(TMP, "m")
    os.makedirs(mdir)
    subprocess.run([EXE, "synth-checkpoint", "--preset", "tiny", "--seed", "3", "--out",
                    os.path.join(mdir, "tiny2.safetensors")], check=True, env=ENV,
                   stdout=subprocess.DEVNULL)
    graphs = {}
    for name, ckpt in (("x", "tiny-sd15/model.safetensors, tokenizer: clip"),
                       ("y", "tiny2.safetensors")):
        graphs[name] = os.path.join(TMP, name + ".yaml")
        with open(graphs[name], "w") as f:
            f.write(tiny_graph().replace("tiny-sd15/model.safetensors, tokenizer: clip", ckpt))

    def worker(name):
        p = subprocess.Popen([EXE, "worker", "--redis", url, "--name", name, "--models", mdir,
                              "--models", FIX, "--threads", "1", "--affinity-ms", "10000"],
                             stdout=subprocess.PIPE, stderr=open(os.path.join(TMP, name + ".log"), "w"),
                             env=ENV, text=True)
        check("worker %s ready" % name, "ready" in p.stdout.readline())
        return p

    def submit(which, seed, wait=True):
        p = subprocess.Popen([EXE, "submit", "--redis", url, "--wait", "--timeout", "60",
                              graphs[which], "--set", "sample.seed=%d" % seed], env=ENV,
                             stdout=subprocess.PIPE, text=True)
        return p.communicate(timeout=90)[0].split()[0] if wait else p

    a = worker("A")
    b = None
    try:
        def published(name):
            end = time.time() + 10  # the worker publishes just after the job's record
            while time.time() < end and not r.cmd("HGET", "lcmflow:jobs:worker:" + name, "warm"):
                time.sleep(0.01)

        submit("x", 1)
        published("A")
        a.send_signal(signal.SIGSTOP)  # B alone takes the y job
        # A's last XREADGROUP (BLOCK 500) ends unanswered on the server side;
        # a job queued before that would be delivered to the stopped A.
        time.sleep(0.7)
        b = worker("B")
        submit("y", 2)
        published("B")
        a.send_signal(signal.SIGCONT)
        check("A and B publish their warm models",
              r.cmd("HGET", "lcmflow:jobs:worker:A", "warm") and
              r.cmd("HGET", "lcmflow:jobs:worker:B", "warm") and
              r.cmd("HGET", "lcmflow:jobs:worker:A", "warm") !=
              r.cmd("HGET", "lcmflow:jobs:worker:B", "warm"))
        order = ["x", "y"] * 4
        procs = [(which, submit(which, 10 + k, wait=False)) for k, which in enumerate(order)]
        t0 = time.time()
        ran = []
        for which, p in procs:
            jid = p.communicate(timeout=90)[0].split()[0]
            h = r.hgetall("lcmflow:jobs:job:" + jid)
            loaded = any(q["node"] == "ckpt" and q["state"] == "ran"
                         for q in json.loads(h["profile"]))
            ran.append((which, h["worker"], loaded))
        check("every job ran on the worker with its model warm, without a load (%.1f s)" %
              (time.time() - t0), all(w == {"x": "A", "y": "B"}[m] and not l for m, w, l in ran),
              ran)
    finally:
        for p in (a, b):
            if p:
                p.send_signal(signal.SIGCONT)
                p.terminate()
                p.wait(30)
        r.close()
        farm_util.stop_redis(rp)
    for n in ("A", "B"):
        print(n, open(os.path.join(TMP, n + ".log")).read().strip().splitlines()[-3:])


try:
    main()
finally:
    shutil.rmtree(TMP, ignore_errors=True)
