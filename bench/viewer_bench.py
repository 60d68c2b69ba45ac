#!/usr/bin/env python3
"""Viewer speed in headless Chromium: open a recorded run of N events, then zoom and pan.

    python3 bench/viewer_bench.py                 # 100,000-event recorded run, served by the stub API
    python3 bench/viewer_bench.py --events 20000
    python3 bench/viewer_bench.py --server http://127.0.0.1:PORT --run RUN_ID   # a run on a real server
    python3 bench/viewer_bench.py --bin .build/debug/interleave   # start the real server, record a big
                                                                  # producer-consumer run (~80k events), open it

What it reports (milliseconds, median of --repeat page loads):
  open→all events drawn   from the start of navigation to the first frame that shows every event
  open→first event        first NDJSON batch in hand
  stream done             the event stream closed (all events parsed and modelled)
  full-view frame         one redraw of the whole run, zoomed out (20 redraws, mean / max)
  zoom / pan frames       redraws while wheel-zooming around the cursor and drag-panning (mean / p95 / max)

The stub serves pre-encoded NDJSON from memory, so the figures are the viewer's, not a server's.
This is a benchmark, not a test: it prints figures and never fails on a threshold.
"""
import argparse
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "browser"))

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def driver():
    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")),
                            options=opts)


OPEN_TIMING = """
const t = window.interleave.state.timing;
return t && t.drawn != null ? {firstEvent: t.firstEvent, loaded: t.loaded, drawn: t.drawn,
  rendered: Number(document.body.dataset.eventsRendered)} : null;
"""

FULL_VIEW = """
const tl = window.interleave.timeline;
window.interleave.view.fit();
const times = [];
for (let i = 0; i < 20; i++) {
  const t = performance.now();
  tl.draw();
  tl.ctx.getImageData(0, 0, 1, 1); // make the raster happen inside the measurement
  times.push(performance.now() - t);
}
return times;
"""

# Real input events, one per animation frame: 30 wheel-zoom steps in around the cursor,
# a 40-step drag pan, 30 wheel-zoom steps back out. Collects the timeline's own draw times
# and the frame-to-frame intervals the browser achieved.
INTERACT = """
const done = arguments[arguments.length - 1];
const c = document.getElementById('timeline');
const tl = window.interleave.timeline;
const r = c.getBoundingClientRect();
const x = r.left + r.width * 0.6, y = r.top + 80;
const steps = [];
for (let i = 0; i < 30; i++) steps.push(() => c.dispatchEvent(new WheelEvent('wheel', {deltaY: -120, clientX: x, clientY: y, bubbles: true, cancelable: true})));
steps.push(() => c.dispatchEvent(new MouseEvent('mousedown', {button: 0, clientX: x, clientY: y, bubbles: true})));
for (let i = 1; i <= 40; i++) steps.push(() => window.dispatchEvent(new MouseEvent('mousemove', {clientX: x - i * 12, clientY: y, bubbles: true})));
steps.push(() => window.dispatchEvent(new MouseEvent('mouseup', {clientX: x - 480, clientY: y, bubbles: true})));
for (let i = 0; i < 30; i++) steps.push(() => c.dispatchEvent(new WheelEvent('wheel', {deltaY: 120, clientX: x, clientY: y, bubbles: true, cancelable: true})));
const before = tl.metrics.frames.length;
tl.metrics.frames.length = 0;
const intervals = [];
let last = performance.now();
let k = 0;
function frame(now) {
  intervals.push(now - last); last = now;
  if (k < steps.length) { steps[k++](); requestAnimationFrame(frame); }
  else requestAnimationFrame(() => done({draws: tl.metrics.frames.slice(), intervals: intervals.slice(2)}));
}
requestAnimationFrame(frame);
"""


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--server", help="base URL of a running Interleave server (default: start the stub)")
    ap.add_argument("--run", help="run id on --server to open")
    ap.add_argument("--bin", help="path of the interleave binary: start it and record a big real run")
    args = ap.parse_args()

    proc = None
    if args.bin:
        import json
        import re
        import subprocess
        import urllib.request
        root = os.path.abspath(os.path.join(HERE, ".."))
        proc = subprocess.Popen([args.bin, "serve", "--host", "127.0.0.1", "--port", "0",
                                 "--public-dir", os.path.join(root, "Public"), "--no-store"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        m = re.search(r"(http://[\d.]+:\d+)", proc.stdout.readline())
        args.server = m.group(1)
        body = json.dumps({"experiment": "producer-consumer", "params": {
            "producers": 4, "consumers": 4, "items": 10000, "capacity": 64, "produceMs": 0, "consumeMs": 0}}).encode()
        req = urllib.request.Request(args.server + "/api/runs", data=body, headers={"Content-Type": "application/json"})
        args.run = json.loads(urllib.request.urlopen(req).read())["id"]
        t = time.time()
        while json.loads(urllib.request.urlopen(f"{args.server}/api/runs/{args.run}").read())["status"] in ("queued", "running"):
            if time.time() - t > 300:
                raise SystemExit("the recording run did not finish in 5 minutes")
            time.sleep(0.5)
        print(f"recorded real run {args.run} in {time.time() - t:.1f} s")

    if args.server:
        if not args.run:
            ap.error("--server needs --run")
        base, run_id = args.server.rstrip("/"), args.run
        srv = None
    else:
        import stub_api
        t = time.time()
        run_id = stub_api.record_big(args.events)
        print(f"recorded a synthetic run of {args.events:,} events in {time.time() - t:.1f} s")
        srv = stub_api.make_server(0)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{srv.server_address[1]}"

    d = driver()
    d.set_script_timeout(120)
    opens = []
    try:
        # warm-up: Chromium's own first-start costs (process, network stack, module cache) are
        # not the viewer's; the first timed load below still starts from an empty page.
        d.get(f"{base}/")
        WebDriverWait(d, 60).until(lambda dr: dr.execute_script("return document.body.dataset.catalog != null"))
        for i in range(args.repeat):
            d.get(f"{base}/?run={run_id}")
            timing = WebDriverWait(d, 120, poll_frequency=0.05).until(lambda dr: dr.execute_script(OPEN_TIMING))
            opens.append(timing)
            print(f"  load {i + 1}: first event {timing['firstEvent']:.0f} ms, stream done {timing['loaded']:.0f} ms, "
                  f"all {timing['rendered']:,} events drawn {timing['drawn']:.0f} ms after navigation start")
        full = d.execute_script(FULL_VIEW)
        inter = d.execute_async_script(INTERACT)
    finally:
        d.quit()
        if srv:
            srv.shutdown()
        if proc:
            proc.terminate()
            proc.wait(10)

    drawn = statistics.median(o["drawn"] for o in opens)
    print()
    print(f"run {run_id}: {opens[-1]['rendered']:,} events, headless Chromium, {os.cpu_count()} cores")
    print(f"open→all events drawn   median {drawn:.0f} ms  (first event {statistics.median(o['firstEvent'] for o in opens):.0f} ms, "
          f"stream done {statistics.median(o['loaded'] for o in opens):.0f} ms)")
    print(f"full-view frame         mean {statistics.mean(full):.1f} ms, max {max(full):.1f} ms")
    draws, gaps = inter["draws"], inter["intervals"]
    if draws:
        print(f"zoom / pan draws        {len(draws)} frames: mean {statistics.mean(draws):.1f} ms, "
              f"p95 {pct(draws, 95):.1f} ms, max {max(draws):.1f} ms")
    if gaps:
        print(f"frame interval          mean {statistics.mean(gaps):.1f} ms (≈{1000 / statistics.mean(gaps):.0f} fps), "
              f"p95 {pct(gaps, 95):.1f} ms")
    print(f"verdict: {'under' if drawn < 1000 else 'OVER'} one second to open and draw")


if __name__ == "__main__":
    main()
