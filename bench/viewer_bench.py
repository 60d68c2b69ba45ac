#!/usr/bin/env python3
"""Viewer speed in headless Chromium: open a recorded run of N events, then zoom and pan.

    python3 bench/viewer_bench.py                 # 100,000-event recorded run, served by the stub API
    python3 bench/viewer_bench.py --events 20000
    python3 bench/viewer_bench.py --server http://127.0.0.1:PORT --run RUN_ID   # a run on a real server
    python3 bench/viewer_bench.py --bin .build/debug/interleave   # start the real server, record a big
                                                                  # producer-consumer run (~80k events), open it

What it reports (milliseconds, median of --repeat page loads):
  open→all events drawn   from the start of navigation to the first frame that shows every event
                          (the draw of the whole run done, every event in the model); "painted" is
                          the next animation frame, once that frame is on screen
  open→first event        first NDJSON batch in hand
  stream done             the event stream closed (all events parsed and modelled)
  parse / model / draws   where the open went: JSON parsing on the page (a live run), the ingest
                          worker's scan of the bytes (a recorded run: in parallel, off the page's
                          thread), building the model, progress draws
  main-thread CPU         CPU time of the page's main thread during the open (Chrome's ThreadTime):
                          on a busy machine wall time is several times this
  zoom / pan frame CPU    the same zoom and pan scripted a frame at a time, each frame's main-thread
                          CPU time (timeline and overview drawn and rastered): what a frame costs
                          however busy the machine is
  full-view frame         one redraw of the whole run, zoomed out, raster included (20 redraws)
  zoom / pan frames       redraws while wheel-zooming around the cursor and drag-panning, each timed
                          from the start of the draw to its pixels in the canvas (the draw plus a
                          1-pixel read-back, which makes the raster happen): mean / p95 / max

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
// (an older viewer has no painted, parse or model figures: 0)
return t && t.drawn != null && (t.painted != null || !('painted' in t)) ? {firstEvent: t.firstEvent, loaded: t.loaded, drawn: t.drawn,
  painted: t.painted || t.drawn, parseMs: t.parseMs || 0, modelMs: t.modelMs || 0, workerMs: t.workerMs || 0,
  drawsMs: window.interleave.timeline.metrics.totalMs || 0,
  rendered: Number(document.body.dataset.eventsRendered)} : null;
"""

# Time each draw of the main timeline up to its pixels: the draw, then a 1-pixel read-back that
# makes the canvas raster what was drawn (Chromium records canvas commands and rasters later).
TIME_RASTER = """
const tl = window.interleave.timeline;
if (!tl.rasterTimed) {
  const draw = tl.draw.bind(tl);
  tl.rasterTimed = [];
  tl.draw = () => { const t = performance.now(); draw(); tl.ctx.getImageData(0, 0, 1, 1); tl.rasterTimed.push(performance.now() - t); };
}
tl.rasterTimed.length = 0;
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
tl.metrics.frames.length = 0;
tl.rasterTimed.length = 0;
const intervals = [];
let last = performance.now();
let k = 0;
function frame(now) {
  intervals.push(now - last); last = now;
  if (k < steps.length) { steps[k++](); requestAnimationFrame(frame); }
  else requestAnimationFrame(() => done({draws: tl.metrics.frames.slice(), frames: tl.rasterTimed.slice(), intervals: intervals.slice(2)}));
}
requestAnimationFrame(frame);
"""


# The same zoom and pan, one frame per call, each frame's main-thread CPU time measured by Chrome
# (ThreadTime) around it: the cost of a frame whatever else the machine is doing. A frame here is
# what a wheel or drag step causes: the timeline and the overview redrawn, and rastered.
CPU_STEP = """
const done = arguments[arguments.length - 1];
const tl = window.interleave.timeline, v = window.interleave.view, ov = window.interleave.overview;
const x = v.plotWidth * 0.6;
const [kind, amount] = arguments;
v.follow = false;
if (kind === 'zoom') v.zoomAt(x, amount); else if (kind === 'pan') v.panBy(amount);
// the frame draws on the next animation frame, as after a wheel or drag event; then its pixels
requestAnimationFrame(() => requestAnimationFrame(() => {
  tl.ctx.getImageData(0, 0, 1, 1); ov.ctx.getImageData(0, 0, 1, 1);
  done();
}));
"""


def cpu_frames(d):
    """Main-thread CPU ms of each scripted frame, less the cost of an empty call."""
    import math
    steps = ([("zoom", math.exp(120 * 0.0015))] * 30 + [("pan", -12)] * 40 + [("zoom", math.exp(-120 * 0.0015))] * 30)
    d.execute_script("window.interleave.view.fit()")
    d.execute_async_script(CPU_STEP, "none", 0)
    empty = []
    for _ in range(10):
        t = thread_time(d)
        d.execute_async_script(CPU_STEP, "none", 0)
        empty.append(thread_time(d) - t)
    base = statistics.median(empty)
    out = []
    for kind, amount in steps:
        t = thread_time(d)
        d.execute_async_script(CPU_STEP, kind, amount)
        out.append(max(0.0, thread_time(d) - t - base) * 1000)
    return out


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--port", type=int, default=0, help="port of the stub (default: any free one)")
    ap.add_argument("--server", help="base URL of a running Interleave server (default: start the stub)")
    ap.add_argument("--run", help="run id on --server to open")
    ap.add_argument("--bin", help="path of the interleave binary: start it and record a big real run")
    ap.add_argument("--open-only", action="store_true", help="measure opening only (no zoom and pan)")
    ap.add_argument("--screenshot", help="save a PNG of the page with the whole run in view, after the first load")
    ap.add_argument("--public", help="serve the viewer from this directory instead of Public/ (e.g. an older "
                                     "checkout's, to compare two viewers side by side on one machine)")
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
        if args.public:
            stub_api.PUBLIC = os.path.abspath(args.public)
        t = time.time()
        run_id = stub_api.record_big(args.events)
        print(f"recorded a synthetic run of {args.events:,} events in {time.time() - t:.1f} s")
        srv = stub_api.make_server(args.port)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{srv.server_address[1]}"

    d = driver()
    d.set_script_timeout(300)
    opens, fulls, inters = [], [], []
    try:
        # warm-up: Chromium's own first-start costs (process, network stack, module cache) are
        # not the viewer's; the first timed load below still starts from an empty page.
        d.get(f"{base}/")
        WebDriverWait(d, 60).until(lambda dr: dr.execute_script("return document.body.dataset.catalog != null"))
        d.execute_cdp_cmd("Performance.enable", {"timeDomain": "threadTicks"})
        for i in range(args.repeat):
            d.get(f"{base}/?run={run_id}")
            timing = WebDriverWait(d, 300, poll_frequency=0.05).until(lambda dr: dr.execute_script(OPEN_TIMING))
            timing["cpu"] = thread_time(d) * 1000  # the metric starts again with every page
            opens.append(timing)
            print(f"  load {i + 1}: all {timing['rendered']:,} events drawn {timing['drawn']:.0f} ms after navigation start "
                  f"(painted {timing['painted']:.0f}; first event {timing['firstEvent']:.0f}, stream done {timing['loaded']:.0f}; "
                  f"parse {timing['parseMs']:.0f}, worker scan {timing['workerMs']:.0f}, model {timing['modelMs']:.0f}, "
                  f"draws {timing['drawsMs']:.0f}; "
                  f"main-thread CPU {timing['cpu']:.0f})", flush=True)
            if i == 0 and args.screenshot:
                d.save_screenshot(args.screenshot)
            if args.open_only:
                continue
            d.execute_script(TIME_RASTER)
            full = d.execute_script(FULL_VIEW)
            fulls.append(statistics.median(full))
            inter = d.execute_async_script(INTERACT)
            inter["cpu"] = cpu_frames(d)
            inters.append(inter)
            if inter["frames"]:
                print(f"          zoom/pan: {len(inter['frames'])} frames, p95 {pct(inter['frames'], 95):.1f} ms "
                      f"(draw alone p95 {pct(inter['draws'], 95):.1f}); main-thread CPU per frame p95 {pct(inter['cpu'], 95):.1f} ms; "
                      f"full view {fulls[-1]:.1f} ms", flush=True)
    finally:
        d.quit()
        if srv:
            srv.shutdown()
        if proc:
            proc.terminate()
            proc.wait(10)

    med = lambda key: statistics.median(o[key] for o in opens)  # noqa: E731
    print()
    print(f"run {run_id}: {opens[-1]['rendered']:,} events, headless Chromium, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, {len(opens)} loads (medians)")
    print(f"open→all events drawn   median {med('drawn'):.0f} ms  (painted {med('painted'):.0f} ms; first event {med('firstEvent'):.0f} ms, "
          f"stream done {med('loaded'):.0f} ms; runs: {', '.join('%.0f' % o['drawn'] for o in opens)})")
    print(f"where it went           parse {med('parseMs'):.0f} ms, worker scan {med('workerMs'):.0f} ms (off the main thread), "
          f"model {med('modelMs'):.0f} ms, progress and final draws {med('drawsMs'):.0f} ms; "
          f"main-thread CPU {med('cpu'):.0f} ms")
    if fulls:
        print(f"full-view frame         median {statistics.median(fulls):.1f} ms (draw + raster)")
    frames = [f for i in inters for f in i["frames"]]
    draws = [f for i in inters for f in i["draws"]]
    gaps = [f for i in inters for f in i["intervals"]]
    if frames:
        p95s = [pct(i["frames"], 95) for i in inters if i["frames"]]
        print(f"zoom / pan draws        {len(frames)} frames: mean {statistics.mean(frames):.1f} ms, "
              f"p95 {statistics.median(p95s):.1f} ms, max {max(frames):.1f} ms  (draw + raster; p95 per load: "
              f"{', '.join('%.1f' % p for p in p95s)}; the draw alone: p95 {pct(draws, 95):.1f} ms)")
    cpus = [pct(i["cpu"], 95) for i in inters if i.get("cpu")]
    if cpus:
        allc = [f for i in inters for f in i["cpu"]]
        print(f"zoom / pan frame CPU    main-thread CPU per frame (timeline + overview, rastered): mean {statistics.mean(allc):.1f} ms, "
              f"p95 {statistics.median(cpus):.1f} ms, max {max(allc):.1f} ms (p95 per load: {', '.join('%.1f' % p for p in cpus)})")
    if gaps:
        print(f"frame interval          mean {statistics.mean(gaps):.1f} ms (≈{1000 / statistics.mean(gaps):.0f} fps), "
              f"p95 {pct(gaps, 95):.1f} ms")
    print(f"verdict: {'under' if med('drawn') < 2000 else 'OVER'} two seconds to open and draw")


def thread_time(d):
    metrics = d.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
    return next(m["value"] for m in metrics if m["name"] == "ThreadTime")


if __name__ == "__main__":
    main()
