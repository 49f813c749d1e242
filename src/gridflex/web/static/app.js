// gridflex dashboard: gate clock, live order book (server-sent events), charts (uPlot). No build step.
"use strict";

const fmt = (x, d = 1) =>
  x === null || x === undefined || !isFinite(x)
    ? "—"
    : x.toLocaleString("en-GB", { minimumFractionDigits: d, maximumFractionDigits: d });
const utcDate = (s) => uPlot.tzDate(new Date(s * 1e3), "Etc/UTC");
// time ticks in UTC, 24 h: hours within two days, dates beyond
const utcTicks = (u, splits) => {
  const span = u.scales.x.max - u.scales.x.min;
  return splits.map((s) => {
    const iso = new Date(s * 1e3).toISOString();
    return span > 2 * 86400 ? iso.slice(0, 10) : span > 86400 ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(11, 16);
  });
};
const COLOURS = ["#0b5cad", "#d1495b", "#00798c", "#edae49", "#66a182", "#8d5a97", "#2e4057",
  "#f26419", "#86bbd8", "#33658a"];

function browserZone() {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "unknown";
  document.querySelectorAll("[data-browser-tz]").forEach((el) => (el.textContent = tz));
}

function gateClock() {
  const el = document.querySelector("[data-gate]");
  if (!el) return;
  const gate = new Date(el.dataset.gate);
  el.querySelector("[data-gate-local]").textContent = gate.toLocaleString();
  const left = el.querySelector("[data-gate-left]");
  const tick = () => {
    let s = Math.round((gate - Date.now()) / 1000);
    if (s <= 0) { left.textContent = "closed"; return; }
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    s %= 60;
    left.textContent = `${h} h ${String(m).padStart(2, "0")} min ${String(s).padStart(2, "0")} s left`;
  };
  tick();
  // announce once a minute to screen readers, tick the text every second
  setInterval(tick, 1000);
}

function liveBook() {
  const box = document.querySelector("[data-book-stream]");
  if (!box) return;
  const status = document.querySelector("[data-live-status]");
  const source = new EventSource(box.dataset.bookStream);
  let pending = null;
  const changed = () => {
    // orders arrive in bursts: refresh the fragment and the charts at most every 300 ms
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      document.body.dispatchEvent(new Event("book-changed"));
      drawMarketCharts();
    }, 300);
  };
  source.onopen = () => (status.textContent = "live");
  source.onerror = () => (status.textContent = "reconnecting…");
  source.addEventListener("order", (e) => {
    const o = JSON.parse(e.data);
    status.textContent = `live: order ${o.id} (${o.side} ${fmt(o.quantity_mw, 3)} MW, ISP ${o.isp})`;
    changed();
  });
  source.addEventListener("clearing", changed);
  window.addEventListener("pagehide", () => source.close());
}

const charts = new Map();
window.gridflexCharts = charts;  // for tests and the benchmark: each chart element → its uPlot

function plot(el, opts, data) {
  const old = charts.get(el);
  if (old) old.destroy();
  el.textContent = "";
  const width = Math.max(320, el.clientWidth || 800);
  const chart = new uPlot({ width, height: 320, ...opts }, data, el);
  charts.set(el, chart);
  return chart;
}

async function getJSON(url) {
  const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

function meritData(levels) {
  // step curve: at cumulative quantity q the price of the order that ends at q
  const xs = [0], ys = [levels.length ? levels[0].price_eur_per_mwh : null];
  for (const l of levels) { xs.push(l.cumulative_mw); ys.push(l.price_eur_per_mwh); }
  return [xs, ys];
}

async function drawMarketCharts() {
  const merit = document.querySelector("[data-merit]");
  const prices = document.querySelector("[data-prices]");
  if (!merit && !prices) return;
  const book = await getJSON((merit || prices).dataset.merit || prices.dataset.prices);
  if (merit) {
    const isp = book.isps[Number(merit.dataset.isp)] || book.isps[0];
    const data = uPlot.join([meritData(isp.offers), meritData(isp.bids)]);
    plot(merit, {
      scales: { x: { time: false } },
      axes: [{ label: "cumulative quantity (MW)" }, { label: "price (EUR/MWh)", size: 70 }],
      series: [
        { label: "MW", value: (u, v) => fmt(v, 3) },
        { label: "offers (sell)", stroke: COLOURS[1], paths: uPlot.paths.stepped({ align: -1 }), spanGaps: true,
          value: (u, v) => fmt(v, 2) },
        { label: "bids (buy)", stroke: COLOURS[0], paths: uPlot.paths.stepped({ align: -1 }), spanGaps: true,
          value: (u, v) => fmt(v, 2) },
      ],
    }, data);
  }
  if (prices) {
    const t = book.isps.map((i) => Date.parse(i.start) / 1000);
    const p = book.isps.map((i) => i.cleared_price_eur_per_mwh);
    plot(prices, {
      tzDate: utcDate,
      axes: [{ label: "ISP start (UTC)", values: utcTicks }, { label: "price (EUR/MWh)", size: 70 }],
      series: [{ label: "time (UTC)" }, { label: "clearing price", stroke: COLOURS[0],
        paths: uPlot.paths.stepped({ align: 1 }), value: (u, v) => fmt(v, 2) }],
    }, [t, p]);
  }
}

function seriesChart() {
  const el = document.querySelector("[data-series]");
  if (!el) return;
  const status = document.querySelector("[data-series-status]");
  const base = `/v1/series/grids/${encodeURIComponent(el.dataset.series)}/values`;
  let chart = null, busy = 0;
  const load = async (lo, hi) => {
    const width = Math.max(320, el.clientWidth || 1000);
    const q = new URLSearchParams({ points: String(2 * width) });
    if (lo !== undefined) {
      q.set("start", new Date(lo * 1e3).toISOString());
      q.set("end", new Date(hi * 1e3).toISOString());
    }
    const t0 = performance.now();
    const token = ++busy;
    const d = await getJSON(`${base}?${q}`);
    if (token !== busy) return;  // a newer zoom is under way
    const t1 = performance.now();
    const data = [d.t_s, ...d.values_kw];
    if (!chart) {
      chart = plot(el, {
        tzDate: utcDate,
        cursor: { drag: { x: true, y: false } },
        axes: [{ label: "time (UTC)", values: utcTicks }, { label: "power (kW, + consumption)", size: 80 }],
        series: [{ label: "time (UTC)" }, ...d.names.map((n, i) => ({
          label: n, stroke: COLOURS[i % COLOURS.length], width: 1, value: (u, v) => fmt(v, 1) }))],
        hooks: {
          setSelect: [(u) => {
            if (u.select.width < 2) return;
            const a = u.posToVal(u.select.left, "x"), b = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ width: 0, height: 0 }, false);
            load(a, b);
          }],
        },
      }, data);
      el.addEventListener("dblclick", () => load());
    } else {
      chart.setData(data);
    }
    await new Promise(requestAnimationFrame);  // drawn and on screen, not only queued
    const t2 = performance.now();
    // at_ms: since navigation start (performance.now()'s origin), what the benchmark reports
    const timing = { fetch_ms: t1 - t0, draw_ms: t2 - t1, at_ms: t2, points: d.t_s.length, samples: d.n_samples };
    window.gridflexSeriesTimings = [...(window.gridflexSeriesTimings || []), timing];
    status.textContent = `${fmt(d.n_samples, 0)} samples × ${d.names.length} series shown as ` +
      `${fmt(d.t_s.length, 0)} points (${d.method}) in ${fmt(t2 - t0, 0)} ms`;
    el.dataset.ready = String(window.gridflexSeriesTimings.length);
  };
  document.querySelector("[data-series-reset]").addEventListener("click", () => load());
  load().catch((e) => (status.textContent = `could not load the series: ${e.message}`));
}

document.addEventListener("DOMContentLoaded", () => {
  browserZone();
  gateClock();
  liveBook();
  drawMarketCharts().catch((e) => console.warn(e.message));
  seriesChart();
});

// A time chart whose data sits in the element as JSON: {t: [unix s], ylabel, series: [{label, values}]}.
function dataCharts() {
  for (const [el, chart] of charts) if (!el.isConnected) { chart.destroy(); charts.delete(el); }
  document.querySelectorAll("[data-chart]").forEach((el) => {
    const data = el.querySelector("script[type='application/json']");
    if (!data) return;  // drawn already (the chart replaced its data)
    const spec = JSON.parse(data.textContent);
    plot(el, {
      tzDate: utcDate,
      axes: [{ label: "ISP start (UTC)", values: utcTicks }, { label: spec.ylabel, size: 70 }],
      series: [{ label: "time (UTC)" }, ...spec.series.map((s, i) => ({
        label: s.label, stroke: COLOURS[i % COLOURS.length], paths: uPlot.paths.stepped({ align: 1 }),
        value: (u, v) => fmt(v, 1) }))],
    }, [spec.t, ...spec.series.map((s) => s.values)]);
  });
}
document.addEventListener("DOMContentLoaded", dataCharts);
document.addEventListener("htmx:afterSettle", dataCharts);  // a refreshed section brings its chart's data anew
