#!/usr/bin/env python3
"""The live page in a real browser: test_browser.py LCMFLOW_EXE SCREENSHOT.PNG

Headless Chromium (Debian chromium + chromium-driver, python3-selenium)
loads the page of a server on loopback, picks the tiny fixture model, types
a prompt, draws strokes on the canvas, and checks that a new image arrives;
then makes a slow edit and a quick second one and checks that the second
cancels the first and that the page shows the second's image.  Keeps a
screenshot.  Skips (77) without the browser, the driver or the fixtures."""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import SKIP, Server, fixtures, tempdir  # noqa: E402

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


def check(name, cond, detail=""):
    if not cond:
        raise AssertionError("%s: %s" % (name, detail))
    print("ok -", name)


def browser(profile):
    o = webdriver.ChromeOptions()
    o.binary_location = BROWSER
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1500,1000", "--user-data-dir=" + profile, "--no-first-run",
              "--disable-background-networking", "--disable-extensions"):
        o.add_argument(a)
    return webdriver.Chrome(service=Service(DRIVER), options=o)


def stroke(d, board, points):
    a = ActionChains(d)
    a.move_to_element_with_offset(board, *points[0]).click_and_hold()
    for dx, dy in points[1:]:
        a.move_by_offset(dx, dy)
    a.release().perform()


def main():
    if not os.path.exists(DRIVER) or not os.path.exists(BROWSER):
        print("chromium or chromium-driver absent: skipped")
        sys.exit(SKIP)
    fix = fixtures()
    tmp = tempdir()
    os.makedirs(os.path.join(tmp, "out"))
    s = Server(EXE, ["--models", fix, "--output", os.path.join(tmp, "out")])
    d = None
    try:
        d = browser(os.path.join(tmp, "profile"))
        d.set_page_load_timeout(60)
        d.get("http://%s/" % s.host)
        wait = WebDriverWait(d, 120, poll_frequency=0.1)
        wait.until(lambda d: d.execute_script("return document.getElementById('model').options.length > 0"))
        Select(d.find_element(By.ID, "model")).select_by_value("tiny-sd15/diffusers")
        Select(d.find_element(By.ID, "size")).select_by_value("64")
        d.execute_script("document.getElementById('steps').value = 2;"
                         "document.getElementById('steps').dispatchEvent(new Event('input'));")
        prompt = d.find_element(By.ID, "prompt")
        prompt.clear()
        prompt.send_keys("a red boat on a blue lake")
        board = d.find_element(By.ID, "board")
        stroke(d, board, [(-100, 50), (60, -10), (60, 10), (40, 20)])
        stroke(d, board, [(20, -120), (0, 60), (10, 60)])
        latest = lambda: d.execute_script("return state.latest")  # noqa: E731
        shown = lambda: d.execute_script(  # noqa: E731
            "const i = document.getElementById('final'); return i.style.display === 'block' && "
            "i.src.startsWith('blob:') && document.getElementById('info').textContent")
        wait.until(lambda d: latest() > 0 and shown() and ("job %d:" % latest()) in shown())
        first_image = latest()
        check("strokes and a prompt bring a new image (job %d)" % first_image, "ran:" in shown())
        job = s.json("GET", "/api/jobs/%d" % first_image)[1]
        check("the page's job used the sketch", any(p["node"] == "sketch" for p in job["profile"]), job)

        # A slow edit (512x512, 8 steps), then a quick second edit: latest wins.
        Select(d.find_element(By.ID, "size")).select_by_value("512")
        d.execute_script("document.getElementById('steps').value = 8;"
                         "document.getElementById('steps').dispatchEvent(new Event('input'));")
        def running_slow():
            job = latest()
            o = s.json("GET", "/api/jobs/%d" % job)[1] if job > first_image else {}
            return job if (o.get("state") == "running" and o["progress"]["steps"] == 8 and
                           o["progress"]["step"] >= 1) else False
        slow = WebDriverWait(d, 300, poll_frequency=0.1).until(lambda d: running_slow())
        Select(d.find_element(By.ID, "size")).select_by_value("64")
        d.execute_script("document.getElementById('steps').value = 2;"
                         "document.getElementById('steps').dispatchEvent(new Event('input'));")
        wait.until(lambda d: latest() > slow)
        o = s.wait(slow, timeout=60)
        check("a quick second edit cancels the first", o["state"] == "cancelled", o)
        wait.until(lambda d: shown() and ("job %d:" % latest()) in shown())
        check("the page shows the newest job's image", ("job %d:" % latest()) in shown())
        d.save_screenshot(SHOT)
        check("screenshot kept: " + SHOT, os.path.getsize(SHOT) > 10000)
    finally:
        if d:
            d.quit()
        code, err = s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    check("the server stopped cleanly", code == 0, err[-2000:])


if __name__ == "__main__":
    main()
