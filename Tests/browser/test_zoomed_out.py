"""The zoomed-out drawing paths of a big run (Public/js/model/spans.js, timeline/layers.js), in a
real browser: the indexes they read agree with a plain scan of the model, and a run drawn at every
zoom from the whole run down to a few events shows the same kinds of things in each lane.

The trace is generated (trace_gen.big, fixed seed), so the checks are deterministic."""
from selenium.webdriver.support.ui import WebDriverWait

import trace_gen
from test_viewer import body
from viewer_support import console_errors

CHECK = """
const done = arguments[arguments.length - 1];
(async () => {
  await import('/js/ext/index.js');
  const { RunModel } = await import('/js/model.js');
  const { Timeline, TimeView } = await import('/js/timeline.js');
  const { PointIndex } = await import('/js/model/spans.js');
  const { BinRaster } = await import('/js/timeline/layers.js');
  const m = new RunModel({ id: 'zoomed-out' });
  const events = arguments[0];
  for (let k = 0; k < events.length; k += 997) m.addBatch(events.slice(k, k + 997));
  const problems = [];
  const E = m.maxTs;
  // 1. overlapping(): exactly the closed spans that overlap a window, in start order
  let windows = 0;
  for (const lane of m.lanes.values()) for (let t = 0; t < 3; t++) {
    const index = lane.spanIndex[t];
    if (!index) continue;
    const spans = lane.tracks[t];
    for (let w = 0; w < 12; w++) {
      const t0 = (E * w) / 12; const t1 = t0 + E / (5 + w * 40);
      const got = index.overlapping(t0, t1);
      const want = [];
      spans.forEach((s, i) => { if (s.end != null && s.start <= t1 && s.end >= t0) want.push(i); });
      if (got.join() !== want.join()) problems.push(`overlapping ${lane.name}/${t} [${t0}, ${t1}]: ${got.length} vs ${want.length}`);
      windows++;
    }
    // 2. coverage bins: every span narrower than 4 bins sets its style's bit in each bin it touches
    for (const scale of [1e-4, 1e-3, 1e-2]) {
      const level = index.level(scale, E);
      if (!level) continue;
      for (const s of spans) {
        if (s.end == null || s.end - s.start >= 4 * level.w) continue;
        const bit = 1 << index.slots.get(s.kind === 'lock-hold' && s.contended ? 'lock-hold-contended' : s.kind);
        for (let b = Math.floor(s.start / level.w); b <= Math.floor(s.end / level.w); b++) {
          if (!(level.bins[b] & bit)) { problems.push(`bin ${b} of ${lane.name}/${t} misses a ${s.kind}`); break; }
        }
      }
    }
  }
  // 3. instants: every instant's bin is set, at every level
  for (const lane of m.lanes.values()) for (const [type, list] of lane.instantsByType) {
    const index = new PointIndex(list);
    for (const scale of [1e-4, 1e-3, 1e-2]) {
      const level = index.level(m.tsCol, scale, E);
      if (!level) continue;
      for (const i of list) if (!level.bins[Math.floor(m.tsCol[i] / level.w)]) { problems.push(`instant ${i} (${type}) not binned`); break; }
    }
  }
  // 4. drawn at every zoom from the whole run to a few events: nothing throws, and the frame
  //    draws spans and instants in each lane (counted by spying on the painters)
  const canvas = document.createElement('canvas');
  const wrap = document.createElement('div');
  wrap.style.width = '1200px';
  wrap.appendChild(canvas);
  document.body.appendChild(wrap);
  const tl = new Timeline(canvas, new TimeView());
  tl.setModel(m);
  tl.view.fit();
  tl.view.follow = false; // else every draw fits the whole run again
  const counts = [];
  for (let z = 0; z < 12; z++) {
    let spans = 0; let bins = 0; let instants = 0;
    const ps = tl.paintSpan; const pb = tl.paintBins; const pr = tl.paintSliverRun; const rp = BinRaster.prototype.paint;
    tl.paintSpan = function (...a) { spans++; return ps.apply(this, a); };
    tl.paintSliverRun = function (...a) { spans++; return pr.apply(this, a); };
    tl.paintBins = function (...a) { bins++; return pb.apply(this, a); };
    // the bins as pixels (timeline/layers.js BinRaster): counted, and they must reach the pixels
    BinRaster.prototype.paint = function (...a) { bins++; return rp.apply(this, a); };
    tl.draw();
    tl.paintSpan = ps; tl.paintBins = pb; tl.paintSliverRun = pr; BinRaster.prototype.paint = rp;
    const raster = tl.binRaster;
    if (bins && !(raster.y1 > raster.y0)) problems.push(`zoom ${z}: bins painted, but no pixels`);
    counts.push({ spans, bins, scale: tl.view.scale });
    tl.view.zoomAt(tl.view.plotWidth * 0.5, 2);
  }
  wrap.remove();
  done({ problems: problems.slice(0, 10), windows, counts, spans: [...m.lanes.values()].reduce((n, l) => n + l.tracks.flat().length, 0) });
})().catch((e) => done({ problems: [String(e && e.stack || e)] }));
"""


def test_zoomed_out_indexes_agree_with_the_model_and_every_zoom_draws(server, driver):
    driver.get(server.url("/"))
    WebDriverWait(driver, 20).until(lambda d: body(d, "catalog") is not None)
    driver.set_script_timeout(120)
    events = trace_gen.big(40_000)
    result = driver.execute_async_script(CHECK, events)
    assert not result["problems"], result["problems"]
    assert result["windows"] > 100 and result["spans"] > 10_000
    counts = result["counts"]
    # zoomed out, the many-span path paints bins; zoomed in, every frame still paints spans
    assert counts[0]["bins"] > 0, counts
    assert all(c["spans"] + c["bins"] > 0 for c in counts), counts
    assert counts[-1]["bins"] == 0 and counts[-1]["spans"] > 0, counts
    assert not console_errors(driver)


RASTER = """
const done = arguments[arguments.length - 1];
(async () => {
  const { BinRaster } = await import('/js/timeline/layers.js');
  const r = new BinRaster();
  r.begin(0, 6, 12, 1, 0, 1); // a plot 6 px wide from x = 0, 12 px tall, 1 px per µs from t = 0
  const styles = { 'lock-wait': { solid: '#ff0000' }, 'lock-hold-contended': { solid: '#00ff00' }, generic: { fill: '#000000' } };
  // bit 0: contended hold, bit 1: wait; bins of 1 µs: hold, both, wait, nothing, hold, nothing
  const index = { slotKeys: ['lock-hold-contended', 'lock-wait'] };
  r.paint(index, { w: 1, bins: Uint8Array.from([1, 3, 2, 0, 1, 0]) }, 2, 8, 0, 5, styles);
  const hex = (v) => (v >>> 0).toString(16).padStart(8, '0');
  const cols = [];
  for (let x = 0; x < 6; x++) { const col = []; for (let y = 0; y < 12; y++) col.push(hex(r.px[y * 6 + x])); cols.push(col); }
  done({ cols, y0: r.y0, y1: r.y1 });
})().catch((e) => done({ error: String(e && e.stack || e) }));
"""


def test_the_bin_raster_paints_each_style_and_stripes_columns_with_several(server, driver):
    driver.get(server.url("/"))
    WebDriverWait(driver, 20).until(lambda d: body(d, "catalog") is not None)
    result = driver.execute_async_script(RASTER)
    assert "error" not in result, result.get("error")
    red, green, empty = "ff0000ff", "ff00ff00", "00000000"  # 0xAABBGGRR
    cols = result["cols"]
    assert (result["y0"], result["y1"]) == (2, 10)
    for col in cols:  # only the track's rows [2, 10) are painted
        assert col[:2] == [empty, empty] and col[10:] == [empty, empty], col
    assert cols[0][2:10] == [green] * 8
    # both styles: a stripe each, in the order styles.js lists them (the wait first), none lost
    assert cols[1][2:10] == [red] * 4 + [green] * 4
    assert cols[2][2:10] == [red] * 8
    assert cols[3][2:10] == [empty] * 8
    assert cols[4][2:10] == [green] * 8
    assert cols[5][2:10] == [empty] * 8
