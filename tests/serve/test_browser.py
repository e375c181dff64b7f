#!/usr/bin/env python3
"""The live page in a real browser: test_browser.py LCMFLOW_EXE SCREENSHOT.PNG

Headless Chromium (Debian chromium + chromium-driver, python3-selenium for
/usr/bin/python3) loads the page of a server on loopback, picks the tiny
fixture model at 64x64, types a prompt, draws strokes on the canvas, and
checks that a new image arrives.  Then it makes a slow edit (256x256, 8
steps), and as soon as that job's first step is reported on /api/events a
quick second edit: the first must end `cancelled` and the page must show
the second's image.  Keeps a screenshot (SCREENSHOT.png, and a small
JPEG beside it).  Every wait is on an event or a
page state, with generous bounds (a loaded 2-core machine); no sleeps.
Skips (77) without the browser, the driver or the fixtures."""
import base64
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import SKIP, Server, WebSocket, fixtures, tempdir  # noqa: E402

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    print("python3-selenium absent: skipped")
    sys.exit(SKIP)

EXE = os.path.abspath(sys.argv[1])
SHOT = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else os.path.abspath("serve-browser.png")
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
BROWSER = shutil.which("chromium") or "/usr/bin/chromium"
T0 = time.time()
ENDS = ("done", "failed", "cancelled")


def check(name, cond, detail=""):
    if not cond:
        raise AssertionError("%s: %s" % (name, detail))
    print("ok - %s (%.1f s)" % (name, time.time() - T0), flush=True)


def browser(profile):
    o = webdriver.ChromeOptions()
    o.binary_location = BROWSER
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,760", "--user-data-dir=" + profile, "--no-first-run",
              "--disable-background-networking", "--disable-extensions",
              "--disable-renderer-backgrounding", "--disable-background-timer-throttling"):
        o.add_argument(a)
    return webdriver.Chrome(service=Service(DRIVER), options=o)


def stroke(d, board, points):
    a = ActionChains(d)
    a.move_to_element_with_offset(board, *points[0]).click_and_hold()
    for dx, dy in points[1:]:
        a.move_by_offset(dx, dy)
    a.release().perform()


def settings(d, size, steps):
    """Size and steps in one script: one debounced job for both edits."""
    d.execute_script(
        "const s = document.getElementById('size'), n = document.getElementById('steps');"
        "s.value = arguments[0]; n.value = arguments[1];"
        "s.dispatchEvent(new Event('change')); n.dispatchEvent(new Event('input'));",
        str(size), str(steps))


class Events:
    """The server's event stream, as JSON events (preview frames counted)."""

    def __init__(self, port):
        self.ws = WebSocket(port)
        assert self.ws.status == 101, self.ws.status
        self.ws.recv()  # hello
        self.previews = {}
        self.seen = []  # the last events, for a failure's message

    def next(self, pred, timeout):
        end = time.time() + timeout
        while True:
            left = end - time.time()
            if left <= 0:
                raise AssertionError("no such event within %d s; last: %s" % (timeout, self.seen))
            try:
                opcode, data = self.ws.recv(timeout=left)
            except TimeoutError:
                continue
            if opcode == 2:
                job = int.from_bytes(data[4:8], "little")
                self.previews[job] = self.previews.get(job, 0) + 1
            elif opcode == 1:
                e = json.loads(data)
                self.seen = self.seen[-15:] + [e]
                if pred(e):
                    return e


def main():
    if not os.path.exists(DRIVER) or not os.path.exists(BROWSER):
        print("chromium or chromium-driver absent: skipped")
        sys.exit(SKIP)
    fix = fixtures()
    tmp = tempdir()
    os.makedirs(os.path.join(tmp, "out"))
    s = Server(EXE, ["--models", fix, "--output", os.path.join(tmp, "out")])
    d = ev = None
    try:
        ev = Events(s.port)
        d = browser(os.path.join(tmp, "profile"))
        d.set_page_load_timeout(120)
        d.set_script_timeout(60)
        d.get("http://%s/" % s.host)
        wait = WebDriverWait(d, 180, poll_frequency=0.1)
        wait.until(lambda d: d.execute_script(
            "return document.getElementById('model').options.length > 0"))
        Select(d.find_element(By.ID, "model")).select_by_value("tiny-sd15/diffusers")
        settings(d, 64, 2)
        prompt = d.find_element(By.ID, "prompt")
        prompt.clear()
        prompt.send_keys("a red boat on a blue lake")
        board = d.find_element(By.ID, "board")
        stroke(d, board, [(-100, 50), (60, -10), (60, 10), (40, 20)])
        stroke(d, board, [(20, -120), (0, 60), (10, 60)])
        latest = lambda: d.execute_script("return state.latest")  # noqa: E731
        shown = lambda: d.execute_script(  # noqa: E731
            "const i = document.getElementById('final'); return i.style.display === 'block' && "
            "i.complete && i.naturalWidth > 0 && i.src.startsWith('blob:') && "
            "document.getElementById('info').textContent")
        showing = lambda job: (shown() or "").startswith("job %d:" % job)  # noqa: E731
        wait.until(lambda d: latest() > 0 and showing(latest()))
        first_image = latest()
        check("strokes and a prompt bring a new image (job %d)" % first_image, "ran:" in shown())
        job = s.json("GET", "/api/jobs/%d" % first_image)[1]
        check("the page's job used the sketch",
              any(p["node"] == "sketch" and p["state"] == "ran" for p in job["profile"]), job)
        ev.next(lambda e: e["job"] == first_image and e["type"] in ENDS, 60)  # read up to it
        check("the page's job streamed previews", ev.previews.get(first_image, 0) >= 1, ev.previews)

        # A slow edit (256x256, 8 steps; ~1 s a step here), then, once its
        # first step is reported, a quick one: latest wins.  Should the slow
        # job still end before the quick edit reached the server (the event
        # order tells), the pair is tried again.
        for attempt in range(3):
            settings(d, 256, 8)
            # (8 steps at the sketch's denoise 0.7 run 5; the quick edit's, 1)
            e = ev.next(lambda e: e["type"] == "step" and e["steps"] > 2 and
                        e["job"] > first_image, 300)
            slow = e["job"]
            settings(d, 64, 2)
            order = []  # "next" (the quick edit's job queued), then the slow job's end
            while True:
                e = ev.next(lambda e: (e["job"] == slow and e["type"] in ENDS) or
                            (e["job"] > slow and e["type"] == "queued"), 300)
                if e["job"] == slow:
                    order.append(e["type"])
                    break
                if "next" not in order:
                    order.append("next")
            if order[0] == "next":
                break
            print("# the slow job ended before the quick edit arrived (%s): again" % order)
        check("a quick second edit cancels the first (job %d)" % slow,
              order == ["next", "cancelled"], order)
        o = s.json("GET", "/api/jobs/%d" % slow)[1]
        check("the first job's state is cancelled", o["state"] == "cancelled", o)
        wait.until(lambda d: latest() > slow and showing(latest()))
        newest = latest()
        job = s.json("GET", "/api/jobs/%d" % newest)[1]
        check("the page shows the newest job's image (job %d)" % newest,
              job["state"] == "done" and showing(newest), job)
        d.save_screenshot(SHOT)
        check("screenshot kept: " + SHOT, os.path.getsize(SHOT) > 10000)
        # and a small JPEG beside it (the README's docs/serve.jpg is one)
        jpeg = base64.b64decode(d.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "jpeg", "quality": 70})["data"])
        with open(os.path.splitext(SHOT)[0] + ".jpg", "wb") as f:
            f.write(jpeg)
    finally:
        if d:
            d.quit()
        if ev:
            ev.ws.close()
        code, err = s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    check("the server stopped cleanly", code == 0, err[-2000:])


if __name__ == "__main__":
    main()
