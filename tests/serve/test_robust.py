#!/usr/bin/env python3
"""Robustness run of `lcmflow serve`: test_robust.py LCMFLOW_EXE [COUNT].

A few thousand malformed, oversized, truncated and slow requests on
loopback (bounded in count and in time: it stops by itself after COUNT
requests or 120 s), from 8 threads.  The server must stay up, answer a good
request afterwards, and its memory must stay flat (RSS after the run within
16 MiB of RSS after the warm-up)."""
import os
import random
import shutil
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, fixtures, tempdir, tiny_graph  # noqa: E402

EXE = os.path.abspath(sys.argv[1])
COUNT = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
DEADLINE = time.time() + 120


def raw(port, data, read=True, pause=0.0, timeout=5):
    """Sends bytes (a list of chunks, pausing between them), reads what comes back."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        for chunk in data if isinstance(data, list) else [data]:
            s.sendall(chunk)
            if pause:
                time.sleep(pause)
        out = b""
        if read:
            try:
                s.shutdown(socket.SHUT_WR)
                while len(out) < 1 << 20:
                    got = s.recv(65536)
                    if not got:
                        break
                    out += got
            except OSError:
                pass
        s.close()
        return out
    except OSError:
        return b""


def post(host, path, body, ctype="application/json", extra=""):
    return (("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s"
             "Connection: close\r\n\r\n") % (path, host, ctype, len(body), extra)).encode() + body


def case(i, host):
    """The i-th request: bytes (or chunks) and whether to pause between chunks."""
    r = random.Random(i)
    k = i % 16
    junk = bytes(r.getrandbits(8) for _ in range(r.randint(1, 600)))
    if k == 0:
        return junk, 0
    if k == 1:
        return b"GET /api/nod", 0  # truncated request line
    if k == 2:
        return ("GET /api/nodes HTTP/1.1\r\nHost: %s\r\nX-Big: %s\r\n\r\n" % (host, "a" * 40000)).encode(), 0
    if k == 3:  # a huge body announced, little sent
        return ("POST /api/jobs HTTP/1.1\r\nHost: %s\r\nContent-Length: 99999999\r\n\r\n{" % host).encode(), 0
    if k == 4:
        return post(host, "/api/jobs", junk), 0
    if k == 5:
        return post(host, "/api/jobs", b"[" * 5000 + b"]" * 5000), 0
    if k == 6:
        bodies = [b'{"graph": [1, 2]}', b'{"set": "x"}', b'{"graph": "version: 1\\nnodes: 7"}',
                  b'{"graph": {"version": 1, "nodes": {"a": {"type": 5}}}}', b'{"session": 5}',
                  b'{"graph": "' + b"\\u0000" * 50 + b'"}', b"{\"graph\": \"a: &a [*a]\"}",
                  b'{"graph": {"version": 1, "nodes": {"a": {"type": "EmptyLatent", "params": {"width": []}}}}}']
        return post(host, "/api/jobs", bodies[i // 16 % len(bodies)]), 0
    if k == 7:  # slow: a header in pieces, then gone
        return [b"GET /api/nodes HTTP/1.1\r\n", b"Host: " + host.encode(), b"\r\n"], 0.05
    if k == 8:
        paths = ["/api/jobs/abc", "/api/jobs/1/outputs/99999999999999999999", "/api/jobs/%00",
                 "/" + "x" * 9000, "/api/jobs/1/cancel/../../..", "/api/../../etc/passwd", "/api/jobs/-1"]
        return ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (paths[i // 16 % len(paths)], host)).encode(), 0
    if k == 9:  # a bad WebSocket handshake
        return ("GET /api/events HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Version: 99\r\n\r\n" % host).encode(), 0
    if k == 10:
        return post(host, "/api/uploads", junk, "image/png"), 0
    if k == 11:  # a PNG header with absurd dimensions
        png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (100000).to_bytes(4, "big") * 2 +
               b"\x08\x02\x00\x00\x00" + b"\x00" * 4)
        return post(host, "/api/uploads", png, "image/png"), 0
    if k == 12:  # a YAML alias bomb
        bomb = "a: &a [x, x, x, x, x, x, x, x, x]\\n" + "".join(
            "%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\\n" % ((chr(98 + n), chr(98 + n)) + (chr(97 + n),) * 9)
            for n in range(8))
        return post(host, "/api/jobs", ('{"graph": "%s"}' % bomb).encode()), 0
    if k == 13:
        return post(host, "/api/jobs", b'{"graph": "x"}', extra="Transfer-Encoding: chunked\r\n"), 0
    if k == 14:
        return ("GET /api/nodes HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n").encode(), 0
    return post(host, "/api/jobs/%d/cancel" % r.randint(0, 50), b""), 0


def main():
    fix = fixtures()
    tmp = tempdir()
    out = os.path.join(tmp, "out")
    os.makedirs(out)
    s = Server(EXE, ["--models", fix, "--output", out])
    host = s.host
    done = 0
    try:
        def one(i):
            data, pause = case(i, host)
            raw(s.port, data, pause=pause)

        with ThreadPoolExecutor(8) as pool:
            warm = min(400, COUNT)
            list(pool.map(one, range(warm)))
            rss0 = s.rss_kib()
            done = warm
            while done < COUNT and time.time() < DEADLINE:
                n = min(400, COUNT - done)
                list(pool.map(one, range(done, done + n)))
                done += n
                assert s.alive(), "the server died"
                print("  %d requests, RSS %d KiB" % (done, s.rss_kib()), flush=True)
        rss1 = s.rss_kib()
        print("ok - %d malformed requests, server up; RSS %d -> %d KiB" % (done, rss0, rss1))
        assert s.alive(), "the server died"
        status, _ = s.json("GET", "/api/nodes")
        assert status == 200, status
        job = s.submit({"graph": tiny_graph()})
        o = s.wait(job)
        assert o["state"] == "done", o
        print("ok - a good request and a job afterwards")
        assert rss1 - rss0 < 16 * 1024, "memory grew by %d KiB" % (rss1 - rss0)
        print("ok - memory flat (%+d KiB)" % (rss1 - rss0))
    finally:
        code, err = s.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    assert code == 0, err[-2000:]
    print("ok - clean stop")


if __name__ == "__main__":
    main()
