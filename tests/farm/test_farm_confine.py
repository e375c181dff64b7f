#!/usr/bin/env python3
"""`lcmflow submit --out` treats job records as untrusted (test_farm_confine.py
LCMFLOW_EXE): no worker runs; the test plays a hostile one, writing each
job's record itself (state done, forged outputs) and waking the submitter.

Refused, naming the job and the path or key: a path outside --shared, a
path inside it that is a symlink out, a path with no --shared given, a key
that is not STREAM:out:<SHA-256>, a well-formed key whose bytes do not hash
to it.  Accepted: a genuine key and a genuine shared file, written under DIR
as plain names (ID_N.png) even when the record's name says '../../'.
Nothing is written outside DIR."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import farm_util  # noqa: E402
from farm_util import check  # noqa: E402
from farm_util import free_port  # noqa: E402

EXE = os.path.abspath(sys.argv[1])
REDIS = farm_util.redis_or_skip()
STREAM = "lcmflow:jobs"
TMP = tempfile.mkdtemp(prefix="lcmflow-farm-confine-")
ENV = farm_util.lcmflow_env()



def main():
    port = free_port()
    url = "redis://127.0.0.1:%d" % port
    rp, r = farm_util.start_redis(REDIS, port, TMP, None, os.path.join(TMP, "redis.log"))
    shared, out, secret = (os.path.join(TMP, d) for d in ("shared", "out", "secret"))
    for d in (shared, out, secret):
        os.makedirs(d)
    with open(os.path.join(secret, "key.pem"), "wb") as f:
        f.write(b"PRIVATE")
    os.symlink(os.path.join(secret, "key.pem"), os.path.join(shared, "link.png"))
    good = b"\x89PNG genuine bytes"
    good_sha = hashlib.sha256(good).hexdigest()
    with open(os.path.join(shared, "ok.png"), "wb") as f:
        f.write(good)
    r.cmd("SET", "%s:out:%s" % (STREAM, good_sha), good)
    forged_sha = hashlib.sha256(b"something else").hexdigest()
    r.cmd("SET", "%s:out:%s" % (STREAM, forged_sha), b"not what the hash says")
    r.cmd("SET", "secret-key", b"PRIVATE")

    gfile = os.path.join(TMP, "g.yaml")
    with open(gfile, "w") as f:
        f.write("version: 1\nnodes: {}\n")  # never run: no worker
    # label -> (outputs the hostile worker records, refused?, what the error names)
    cases = {
        "abs": ([{"name": "x.png", "path": os.path.join(secret, "key.pem")}], True,
                os.path.join(secret, "key.pem")),
        "dotdot": ([{"name": "x.png", "path": shared + "/../secret/key.pem"}], True,
                   shared + "/../secret/key.pem"),
        "symlink": ([{"name": "x.png", "path": os.path.join(shared, "link.png")}], True,
                    os.path.join(shared, "link.png")),
        "badkey": ([{"name": "x.png", "key": "secret-key"}], True, "secret-key"),
        "jobkey": ([{"name": "x.png", "key": STREAM + ":job:" + "0" * 32}], True, STREAM + ":job:"),
        "badhash": ([{"name": "x.png", "key": "%s:out:%s" % (STREAM, forged_sha)}], True,
                    forged_sha),
        "goodkey": ([{"name": "../../../evil.png", "key": "%s:out:%s" % (STREAM, good_sha)}],
                    False, None),
        "goodpath": ([{"name": "a/../../b.sh/x.png", "sha256": good_sha,
                       "path": os.path.join(shared, "ok.png")}], False, None),
    }

    def run(labels, with_shared):
        args = [EXE, "submit", "--redis", url, "--wait", "--timeout", "30", "--out", out,
                "--sweep", "x.label=" + ",".join(labels), gfile]
        if with_shared:
            args[2:2] = ["--shared", shared]
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
                             text=True)
        # The hostile worker: each job of the stream gets a forged record.
        seen, end = {}, time.time() + 20
        while len(seen) < len(labels) and time.time() < end:
            for e in r.cmd("XRANGE", STREAM, "-", "+") or []:
                f = {e[1][i].decode(): e[1][i + 1].decode() for i in range(0, len(e[1]), 2)}
                if f["job"] in seen:
                    continue
                label = json.loads(f["request"])["set"]["x.label"]
                seen[f["job"]] = label
                key = STREAM + ":job:" + f["job"]
                notify = r.cmd("HGET", key, "notify").decode()
                r.cmd("HSET", key, "state", "done", "outputs", json.dumps(cases[label][0]))
                r.cmd("RPUSH", notify, f["job"])
                r.cmd("XDEL", STREAM, e[0])
            time.sleep(0.02)
        stdout, stderr = p.communicate(timeout=30)
        return p.returncode, stdout, stderr, seen

    # With --shared: every case.
    rc, stdout, stderr, seen = run(list(cases), True)
    check("submit exits 1 when an output is refused", rc == 1, (rc, stdout, stderr))
    lines = {l.split()[0]: l.split() for l in stdout.splitlines() if l}
    for jid, label in seen.items():
        _, refused, names = cases[label]
        if refused:
            err = [l for l in stderr.splitlines() if jid in l]
            check("%s: refused, naming the job and the path or key" % label,
                  lines[jid][2] == "(missing)" and err and names in err[0] and "refused" in err[0],
                  (lines[jid], stderr))
        else:
            want = os.path.join(out, jid + "_0.png")
            check("%s: fetched as the plain name ID_0.png" % label,
                  lines[jid][2] == want and open(want, "rb").read() == good, (lines[jid], stderr))
    check("nothing but ID_N.png files in --out, nothing outside it",
          sorted(os.listdir(out)) == sorted(j + "_0.png" for j, l in seen.items()
                                            if not cases[l][1]) and
          set(os.listdir(TMP)) <= {"appendonlydir", "g.yaml", "out", "redis.log", "secret",
                                   "shared"} and os.listdir(secret) == ["key.pem"],
          (os.listdir(out), os.listdir(TMP)))
    # Without --shared a path output is refused, saying what to give.
    rc, stdout, stderr, seen = run(["goodpath"], False)
    check("a path output without --shared is refused, saying to give --shared",
          rc == 1 and "--shared" in stderr and list(seen)[0] in stderr, (rc, stdout, stderr))
    r.close()
    farm_util.stop_redis(rp)


try:
    main()
finally:
    shutil.rmtree(TMP, ignore_errors=True)
