#!/usr/bin/env python3
"""The render farm end to end (test_farm.py LCMFLOW_EXE), loopback only,
every wait bounded: its own redis-server (append-only file on, a password),
three workers and submitters on the tiny fixture model at 64x64.

Checks: a worker started before Redis retries and joins; FARM_JOBS jobs
(default 60: 30 seeds x 2 LoRA strengths) each complete exactly once and
each image equals `lcmflow run`'s; no worker loads the checkpoint twice;
a worker killed (-9) mid-job -> the job is reclaimed and completes; Redis
restarted mid-run -> nothing lost; a poison job and untrusted entries land
in the dead-letter stream with their errors; Ctrl-C leaves cleanly."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "serve"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import fixtures, png_pixels  # noqa: E402
import farm_util  # noqa: E402
from farm_util import free_port, graph  # noqa: E402

EXE = os.path.abspath(sys.argv[1])
FIX = fixtures()
REDIS = farm_util.redis_or_skip()
JOBS = int(os.environ.get("FARM_JOBS", "60"))
PASSWORD = "s3cret-farm"
STREAM = "lcmflow:jobs"
TRIES = 2
RECLAIM_MS = 3000
TMP = __import__("tempfile").mkdtemp(prefix="lcmflow-farm-test-")
T0 = time.time()


def check(name, cond, detail=""):
    farm_util.check(name, cond, detail, T0)


PORT = free_port()
URL = "redis://default:%s@127.0.0.1:%d" % (PASSWORD, PORT)
RDIR = os.path.join(TMP, "redis")
os.makedirs(RDIR)


def start_redis():
    return farm_util.start_redis(REDIS, PORT, RDIR, PASSWORD, os.path.join(TMP, "redis.log"),
                                 ["--appendonly", "yes", "--appendfsync", "always"])


stop_redis = farm_util.stop_redis


ENV = farm_util.lcmflow_env()


class Worker:
    def __init__(self, name):
        self.name = name
        self.log = os.path.join(TMP, name + ".log")
        self.p = subprocess.Popen([EXE, "worker", "--redis", URL, "--name", name, "--models", FIX,
                                   "--reclaim-ms", str(RECLAIM_MS), "--tries", str(TRIES),
                                   "--threads", "1"],
                                  stdout=subprocess.PIPE, stderr=open(self.log, "w"), env=ENV,
                                  text=True)

    def wait_ready(self, timeout=60):
        line = self.p.stdout.readline()  # the worker prints it once connected
        check("worker %s ready" % self.name, "ready" in line, line + self.stderr())

    def stderr(self):
        with open(self.log) as f:
            return f.read()


def submit(args, out=None):
    cmd = [EXE, "submit", "--redis", URL, "--wait", "--timeout", "240"] + args
    if out:
        cmd += ["--out", out]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True)


def job_keys(r):
    keys, cursor = [], b"0"
    while True:
        cursor, batch = r.cmd("SCAN", cursor, "MATCH", STREAM + ":job:*", "COUNT", 1000)
        keys += [k.decode() for k in batch]
        if cursor == b"0":
            return keys


def main():
    gfile = os.path.join(TMP, "farm.yaml")
    with open(gfile, "w") as f:
        f.write(graph())
    # 1. A worker started before Redis waits for it, with backoff.
    w1 = Worker("w1")
    time.sleep(1.0)
    check("a worker started before Redis says it retries", "retrying" in w1.stderr(), w1.stderr())
    rp, r = start_redis()
    w1.wait_ready()
    workers = [w1, Worker("w2"), Worker("w3")]
    for w in workers[1:]:
        w.wait_ready()

    # 2. The batches, a long job (to kill its worker mid-run) and a poison job.
    half = JOBS // 2
    seeds = ",".join(str(s) for s in range(1, half + 1))
    outa, outb = os.path.join(TMP, "outa"), os.path.join(TMP, "outb")
    t_submit = time.time()
    long_job = submit([gfile, "--set", "sample.steps=40", "--set", "sample.seed=999"])
    time.sleep(0.3)
    sa = submit([gfile, "--sweep", "sample.seed=" + seeds], outa)
    sb = submit([gfile, "--set", "lora.strength_model=0.5", "--sweep", "sample.seed=" + seeds], outb)
    poison = submit([gfile, "--set", "ckpt.path=tiny-sd15/missing.safetensors"])
    # Untrusted entries written straight into the stream.
    r.cmd("XADD", STREAM, "*", "job", "../../etc", "request", "{}")
    bad_json = "0123456789abcdef0123456789abcdef"
    r.cmd("HSET", STREAM + ":job:" + bad_json, "state", "queued")
    r.cmd("XADD", STREAM, "*", "job", bad_json, "request", '{"graph": ')
    escape = "fedcba9876543210fedcba9876543210"
    r.cmd("HSET", STREAM + ":job:" + escape, "state", "queued")
    r.cmd("XADD", STREAM, "*", "job", escape, "request",
          json.dumps({"graph": graph(), "set": {"ckpt.path": "/etc/passwd"}}))

    # 3. kill -9 the worker running the long job, in the middle of it.
    victim, long_key, end = None, None, time.time() + 60
    while victim is None and time.time() < end:
        for k in job_keys(r):
            h = r.hgetall(k)
            if h.get("state") == "running" and int(h.get("steps", "0")) == 40 and \
                    int(h.get("step", "0")) >= 2:
                victim = next(w for w in workers if w.name == h["worker"])
                long_key = k
                break
        time.sleep(0.02)
    check("the long job runs", victim is not None)
    t_kill = time.time() * 1000
    victim.p.kill()
    victim.p.wait()
    workers.remove(victim)
    workers.append(Worker("w4"))
    workers[-1].wait_ready()

    # 4. Redis restarted in the middle of the run.
    end = time.time() + 60
    while time.time() < end:
        done = sum(1 for k in job_keys(r) if r.cmd("HGET", k, "state") == b"done")
        if done >= max(1, min(5, JOBS // 4)):
            break
        time.sleep(0.1)
    r.close()
    stop_redis(rp)
    time.sleep(0.5)
    rp, r = start_redis()
    check("Redis restarted mid-run (%d jobs done before)" % done, done < JOBS)

    # 5. Every submitter ends; the batches fully done, the poison failed.
    outs = {}
    for name, p in (("a", sa), ("b", sb), ("long", long_job), ("poison", poison)):
        try:
            stdout, stderr = p.communicate(timeout=max(10, 200 - (time.time() - T0)))
        except subprocess.TimeoutExpired:
            p.kill()
            stdout, stderr = p.communicate()
            raise AssertionError("submit %s did not end: %s %s" % (name, stdout, stderr))
        outs[name] = (p.returncode, stdout.split("\n"), stderr)
    elapsed = time.time() - t_submit
    lines = [l.split() for l in outs["a"][1] + outs["b"][1] if l]
    check("submit --wait ends with status 0 for the batches",
          outs["a"][0] == 0 and outs["b"][0] == 0, outs)
    check("one line per job, all done", len(lines) == 2 * half and
          all(l[1] == "done" and len(l) == 3 for l in lines), lines)
    check("the poison job's submit exits 1 saying failed", outs["poison"][0] == 1 and
          outs["poison"][1][0].split()[1] == "failed" and "missing" in outs["poison"][2], outs["poison"])

    # 6. Job records: exactly one completion each; the killed job reclaimed.
    recs = {k.rsplit(":", 1)[1]: r.hgetall(k) for k in job_keys(r)}
    batch = [recs[l[0]] for l in lines]
    check("every job completed exactly once", all(h["state"] == "done" and
          h["completions"] == "1" for h in batch), [h for h in batch if h.get("completions") != "1"])
    lid = long_key.rsplit(":", 1)[1]
    lh = recs[lid]
    check("the killed worker's job was reclaimed and completed by another",
          lh["state"] == "done" and lh["worker"] != victim.name and int(lh["attempts"]) >= 2, lh)
    print("recovery: the killed worker's job ended %.0f ms after the kill (--reclaim-ms %d)" %
          (int(lh["finished"]) - t_kill, RECLAIM_MS))
    loads = {}
    for h in recs.values():
        if h.get("state") == "done":
            ran = [p["node"] for p in json.loads(h["profile"]) if p["state"] == "ran"]
            loads[h["worker"]] = loads.get(h["worker"], 0) + ("ckpt" in ran)
    check("no worker loaded the checkpoint more than once", all(n <= 1 for n in loads.values()),
          loads)

    # 7. Outputs: content-addressed, with a TTL, equal to `lcmflow run`'s images.
    h = batch[0]
    o = json.loads(h["outputs"])[0]
    data = r.cmd("GET", o["key"])
    import hashlib
    check("outputs are stored under their SHA-256 with a TTL",
          o["key"].endswith(hashlib.sha256(data).hexdigest()) and r.cmd("TTL", o["key"]) > 0, o)
    for strength, out, sweep_lines in (("1.0", outa, outs["a"][1]), ("0.5", outb, outs["b"][1])):
        ref = os.path.join(TMP, "ref" + strength)
        os.makedirs(ref)
        rg = os.path.join(ref, "g.yaml")
        with open(rg, "w") as f:
            f.write(graph(sink=os.path.join(ref, "s{value}.png"))
                    .replace("tiny-sd15/", FIX + "/tiny-sd15/").replace("tokenizer: clip",
                                                                        "tokenizer: " + FIX + "/clip"))
        subprocess.run([EXE, "run", rg, "--quiet", "--threads", "1", "--set", "lora.strength_model=" + strength,
                        "--sweep", "sample.seed=" + seeds], check=True, env=ENV, timeout=300,
                       stdout=subprocess.DEVNULL)
        for l in sweep_lines:
            if not l:
                continue
            jid, _, path = l.split()
            seed = recs[jid]["sweep"].split("=")[1]
            with open(path, "rb") as f:
                got = png_pixels(f.read())
            with open(os.path.join(ref, "s%s.png" % seed), "rb") as f:
                want = png_pixels(f.read())
            if got != want:
                raise AssertionError("job %s (seed %s, strength %s) differs from lcmflow run" %
                                     (jid, seed, strength))
    check("every output equals `lcmflow run` on the same graph (%d images)" % (2 * half), True)

    # 8. The dead-letter stream: the poison job after its tries, the bad entries at once.
    dead = r.cmd("XRANGE", STREAM + ":dead", "-", "+")
    entries = [{e[1][i].decode(): e[1][i + 1].decode() for i in range(0, len(e[1]), 2)} for e in dead]
    pid = outs["poison"][1][0].split()[0]
    pe = [e for e in entries if e.get("job") == pid]
    check("the poison job is dead-lettered after %d tries with its error" % TRIES,
          len(pe) == 1 and pe[0]["attempts"] == str(TRIES) and "missing" in pe[0]["error"], entries)
    check("an entry without a valid job id is dead-lettered, never run",
          any(e.get("error", "").startswith("the entry has no valid job id") for e in entries), entries)
    bj = [e for e in entries if e.get("job") == bad_json]
    check("malformed JSON is dead-lettered at once", len(bj) == 1 and "malformed JSON" in bj[0]["error"]
          and bj[0]["attempts"] == "1", bj)
    ej = [e for e in entries if e.get("job") == escape]
    check("a path outside the roots is refused, naming the param", len(ej) == 1 and
          "ckpt.path" in ej[0]["error"] and "absolute" in ej[0]["error"], ej)
    check("nothing left pending", r.cmd("XPENDING", STREAM, "workers")[0] == 0,
          r.cmd("XPENDING", STREAM, "workers"))

    # 9. lf.submit and lf.wait in Lua: a job with the batch's graph and seed 3
    # ends with the same image as the batch's seed-3 job.
    lua = subprocess.run([EXE, "lua", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   "submit.lua"), URL, gfile, "3"],
                         capture_output=True, text=True, env=ENV, timeout=120)
    fields = lua.stdout.split()
    want = next(json.loads(recs[l[0]]["outputs"])[0]["key"] for l in lines
                if recs[l[0]]["sweep"] == "sample.seed=3" and l[2].startswith(outa))
    check("lf.submit/lf.wait in Lua: the job is done with the batch's image for that seed",
          lua.returncode == 0 and fields[1:4] == ["done", "1", want], (lua.stdout, lua.stderr, want))

    # 10. Ctrl-C twice mid-job: the job is handed back at once, uncounted,
    # and another worker completes it.
    hb = submit([gfile, "--set", "sample.steps=40", "--set", "sample.seed=4242"])
    holder, end = None, time.time() + 60
    while holder is None and time.time() < end:
        for k in job_keys(r):
            h = r.hgetall(k)
            if h.get("state") == "running" and int(h.get("steps", "0")) == 40 and \
                    int(h.get("step", "0")) >= 1:
                holder, hb_key = next(w for w in workers if w.name == h["worker"]), k
                break
        time.sleep(0.02)
    check("the job to hand back runs", holder is not None)
    holder.p.send_signal(signal.SIGINT)
    time.sleep(0.05)
    holder.p.send_signal(signal.SIGINT)
    rc = holder.p.wait(20)
    workers.remove(holder)
    stdout, stderr = hb.communicate(timeout=120)
    h = r.hgetall(hb_key)
    check("a second Ctrl-C hands the job back; another worker completes it, the try uncounted",
          rc == 0 and "handed back" in holder.stderr() and h["state"] == "done" and
          h["worker"] != holder.name and h["attempts"] == "1" and hb.returncode == 0,
          (rc, h, holder.stderr()[-500:], stdout, stderr))

    # 11. Ctrl-C: the workers leave cleanly.
    for w in workers:
        w.p.send_signal(signal.SIGINT)
    for w in workers:
        rc = w.p.wait(20)
        check("worker %s leaves on Ctrl-C with status 0" % w.name, rc == 0 and "leaving" in w.stderr(),
              w.stderr()[-2000:])
    r.close()
    stop_redis(rp)
    print("farm: %d jobs + long + poison in %.1f s with 3 workers" % (2 * half, elapsed))


try:
    main()
except BaseException:
    for name in sorted(os.listdir(TMP)):
        if name.endswith(".log"):
            with open(os.path.join(TMP, name)) as f:
                print("---- %s (last lines)\n%s" % (name, "".join(f.readlines()[-15:])))
    raise
finally:
    shutil.rmtree(TMP, ignore_errors=True)
