r"""The page: HTML, its style and its script, served from these strings.

Kept in a Python module rather than package data files so that an installed bo-nas
carries them without a manifest. The script asks ``/api/campaigns`` for every store's
summary every ``refresh`` seconds and updates the page in place (``Plotly.react``, which
keeps the user's zoom). It writes every piece of text from a store through
``textContent`` and builds elements with ``createElement``, never ``innerHTML``, so a
failure message holding markup is shown as text; the page's Content-Security-Policy
(`CONTENT_SECURITY_POLICY`) refuses inline scripts besides.

Elements that tests and users may read carry ``data-testid`` attributes; a number's
exact value is in its ``data-value`` (the text is rounded for reading). ``<body>`` gets
``data-ready="true"`` once the first answer is drawn, and ``data-renders`` counts the
answers drawn.
"""

from __future__ import annotations

#: Only this origin's scripts, styles (plotly.js sets inline styles), images and requests.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

_HTML = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bo-nas dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="__CSS__">
<!-- The page's script runs first, so that its request for the stores' data travels
     while plotly.js is still being compiled. -->
<script src="__JS__" defer></script>
<script src="__PLOTLY__" defer></script>
</head>
<body data-refresh="__REFRESH__" data-ready="false" data-renders="0">
<header class="top">
  <div class="brand"><span class="logo">bo-nas</span>
    <span class="sub">campaign dashboard</span></div>
  <div class="status"><span class="dot" id="status-dot"></span>
    <span id="status" data-testid="status">connecting&hellip;</span></div>
</header>
<main>
  <section id="campaigns" class="cards" data-testid="campaigns"></section>
  <section class="grid">
    <div class="panel">
      <div class="panel-head"><h2>Search curve</h2>
        <span class="hint" id="curve-hint">test error of the best-validation architecture</span>
      </div>
      <div id="curve-plot" class="plot" data-testid="curve-plot"></div>
    </div>
    <div class="panel">
      <div class="panel-head"><h2>Accuracy vs cost</h2>
        <label class="hint">cost
          <select id="cost-select" data-testid="cost-select"></select></label></div>
      <div id="scatter-plot" class="plot" data-testid="scatter-plot"></div>
    </div>
  </section>
  <section class="panel" id="front-panel" hidden>
    <div class="panel-head"><h2>Pareto front</h2>
      <span class="hint" id="front-hint"></span></div>
    <div id="front-plot" class="plot" data-testid="front-plot"></div>
  </section>
  <section class="panel">
    <div class="panel-head"><h2>Best cells</h2>
      <span class="hint">best validation accuracy of each campaign</span></div>
    <div id="cells" class="cells" data-testid="cells"></div>
  </section>
  <section class="grid">
    <div class="panel">
      <div class="panel-head"><h2>Failures</h2><span class="hint" id="failures-hint"></span></div>
      <div class="table-wrap"><table data-testid="failures-table">
        <thead><tr><th>campaign</th><th>trial</th><th>attempts</th><th>message</th></tr></thead>
        <tbody id="failures-body"></tbody></table></div>
    </div>
    <div class="panel">
      <div class="panel-head"><h2>Pending trials</h2>
        <span class="hint" id="pending-hint"></span></div>
      <div class="table-wrap"><table data-testid="pending-table">
        <thead><tr><th>campaign</th><th>trial</th><th>state</th><th>epochs</th>
          <th>architecture</th></tr></thead>
        <tbody id="pending-body"></tbody></table></div>
    </div>
  </section>
</main>
<footer>A read-only view: the dashboard never writes a store.
  Refreshes every __REFRESH__ s.</footer>
</body>
</html>
"""

CSS = """\
:root {
  --bg: #f4f5f7; --panel: #ffffff; --line: #e2e5e9; --text: #1f2430; --muted: #667085;
  --ok: #1a7f5a; --bad: #c23b22; --wait: #b7791f; --pause: #5b6b86;
  --font: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.45 var(--font); }
.top { display: flex; justify-content: space-between; align-items: center;
  padding: 12px 24px; background: #1d2433; color: #f3f4f6; }
.brand { display: flex; align-items: baseline; gap: 10px; }
.logo { font-weight: 700; font-size: 18px; letter-spacing: 0.3px; }
.sub { color: #aeb6c4; font-size: 14px; }
.status { display: flex; align-items: center; gap: 8px; font-size: 13px; color: #cfd5df; }
.dot { width: 9px; height: 9px; border-radius: 50%; background: #8a94a6; }
.dot.live { background: #34c38f; box-shadow: 0 0 0 3px rgba(52, 195, 143, 0.25); }
.dot.down { background: #f06548; box-shadow: 0 0 0 3px rgba(240, 101, 72, 0.25); }
main { padding: 18px 24px 8px; display: flex; flex-direction: column; gap: 16px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 16px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 16px; }
.panel, .card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
  box-shadow: 0 1px 2px rgba(16, 24, 40, 0.04); }
.panel { padding: 14px 16px; min-width: 0; }
.panel-head { display: flex; justify-content: space-between; align-items: baseline; gap: 12px;
  margin-bottom: 6px; }
h2 { font-size: 15px; margin: 0; font-weight: 600; }
.hint { color: var(--muted); font-size: 12.5px; }
select { font: inherit; font-size: 12.5px; padding: 2px 4px; border: 1px solid var(--line);
  border-radius: 6px; background: #fff; }
.plot { height: 340px; }
#front-plot { height: 300px; }
.card { padding: 14px 16px 12px; border-top: 4px solid var(--swatch, #999); }
.card-head { display: flex; justify-content: space-between; align-items: center; gap: 8px; }
.card-name { font-weight: 600; font-size: 15px; overflow-wrap: anywhere; }
.badge { font-size: 11.5px; padding: 1px 8px; border-radius: 999px; background: #eef0f3;
  color: var(--muted); white-space: nowrap; }
.badge.running { background: #e3f6ee; color: var(--ok); }
.badge.finished { background: #e8eefb; color: #2f56a6; }
.badge.error { background: #fdecea; color: var(--bad); }
.meta { color: var(--muted); font-size: 12.5px; margin: 2px 0 10px; }
.bar { display: flex; height: 8px; border-radius: 4px; overflow: hidden; background: #eef0f3; }
.bar span { display: block; height: 100%; }
.seg-complete { background: var(--ok); } .seg-failed { background: var(--bad); }
.seg-pending { background: var(--wait); } .seg-paused { background: var(--pause); }
.counts { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 8px 0 4px; font-size: 12.5px;
  color: var(--muted); }
.counts b { color: var(--text); font-weight: 600; }
.key { display: inline-block; width: 8px; height: 8px; border-radius: 2px; margin-right: 4px; }
.best { display: grid; grid-template-columns: 1.15fr 1fr 0.7fr; gap: 10px; margin-top: 10px; }
.figure { font-size: 24px; font-weight: 650; line-height: 1.1; }
.figure small { font-size: 13px; font-weight: 500; color: var(--muted); }
.label { font-size: 11px; color: var(--muted); text-transform: uppercase; letter-spacing: 0.4px;
  white-space: nowrap; }
.arch { font-family: var(--mono); font-size: 11.5px; color: #3d4452; margin-top: 8px;
  overflow-wrap: anywhere; }
.store-error { margin-top: 10px; padding: 8px 10px; border-radius: 6px; background: #fdecea;
  color: #8a2414; font-size: 12.5px; overflow-wrap: anywhere; white-space: pre-wrap; }
.cells { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 12px; }
.cell { margin: 0; padding: 8px; border: 1px solid var(--line); border-radius: 8px;
  border-left: 4px solid var(--swatch, #999); }
.cell img { width: 100%; height: 200px; object-fit: contain; display: block; }
.cell figcaption { font-size: 12.5px; color: var(--muted); }
.cell figcaption b { color: var(--text); }
.empty { color: var(--muted); font-size: 13px; padding: 8px 0; }
.table-wrap { max-height: 320px; overflow: auto; }
table { width: 100%; border-collapse: collapse; font-size: 12.5px; }
th { text-align: left; font-weight: 600; color: var(--muted); position: sticky; top: 0;
  background: var(--panel); border-bottom: 1px solid var(--line); padding: 5px 8px; }
td { border-bottom: 1px solid #f0f1f3; padding: 5px 8px; vertical-align: top; }
td.msg, td.mono { font-family: var(--mono); font-size: 11.5px; overflow-wrap: anywhere;
  white-space: pre-wrap; }
td.num { font-variant-numeric: tabular-nums; }
td.name { white-space: nowrap; }
footer { color: var(--muted); font-size: 12px; padding: 4px 24px 18px; }
"""

JS = r"""
"use strict";
(function () {
  const body = document.body;
  const REFRESH_MS = Math.max(200, Number(body.dataset.refresh || "5") * 1000);
  const FONT = getComputedStyle(body).fontFamily;
  const PLOT_CONFIG = { displaylogo: false, responsive: true,
    modeBarButtonsToRemove: ["lasso2d", "select2d", "autoScale2d"] };
  let cost = null;
  let timer = null;
  let busy = false;
  let renders = 0;

  function $(id) { return document.getElementById(id); }

  // Every element built here gets its text through textContent: markup in a store's
  // strings (a failure message, an architecture) is shown, never interpreted.
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) node.setAttribute(k, String(v));
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // Plotly reads a few tags and entities in names, titles and hover text: store strings
  // (a file name, a cost named by a user's evaluator) go in with theirs escaped.
  function plain(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/%\{/g, "%\u200b{");
  }

  function fmt(v, digits) {
    return (v === null || v === undefined) ? "\u2013" : Number(v).toFixed(digits);
  }

  function setNumber(node, value, digits) {
    node.textContent = fmt(value, digits);
    node.dataset.value = (value === null || value === undefined) ? "" : String(value);
  }

  function setStatus(ok, text) {
    $("status").textContent = text;
    $("status-dot").className = "dot " + (ok ? "live" : "down");
  }

  function axis(title) {
    return { title: { text: title, standoff: 8 }, gridcolor: "#eceef1", zeroline: false,
      linecolor: "#d0d5dc", ticks: "outside", tickcolor: "#d0d5dc", automargin: true };
  }

  // Margins that already hold what the axes' automargin and the legend row above the
  // plot push them to for the usual labels: a margin pushed wider makes plotly.js draw
  // the whole plot a second time (alone, a 1,000-point scatter then took 0.2 s rather
  // than 0.12 s). Wider labels still push them.
  // plotly.js shows the legend when a plot has two traces or more, whether or not they
  // are listed in it.
  function margin(traces) {
    return { l: 58, r: 24, t: traces.length > 1 ? 46 : 10, b: 54 };
  }

  function layout(xTitle, yTitle, traces, extra) {
    return Object.assign({
      margin: margin(traces), paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "#ffffff", font: { family: FONT, size: 12, color: "#2b303b" },
      xaxis: axis(xTitle), yaxis: axis(yTitle), hovermode: "closest",
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: { size: 11.5 } },
      // Keep the user's zoom and hidden traces from one refresh to the next.
      uirevision: "dashboard",
    }, extra || {});
  }

  function emptyLayout(xTitle, yTitle, message) {
    return layout(xTitle, yTitle, [], { annotations: [{ text: message, showarrow: false,
      xref: "paper", yref: "paper", x: 0.5, y: 0.5, font: { size: 13, color: "#8a93a3" } }],
      xaxis: Object.assign(axis(xTitle), { visible: false }),
      yaxis: Object.assign(axis(yTitle), { visible: false }) });
  }

  // --- campaign cards -------------------------------------------------------------------

  function field(card, name, tag, attrs) {
    const node = el(tag || "span", Object.assign({ "data-testid": name + "-" + card.index },
      attrs || {}));
    card.fields[name] = node;
    return node;
  }

  function makeCard(c) {
    const root = el("article", { class: "card", "data-testid": "campaign-" + c.index });
    const card = { root: root, index: c.index, fields: {} };
    root.style.setProperty("--swatch", c.colour);
    const head = el("div", { class: "card-head" });
    head.append(field(card, "name", "div", { class: "card-name" }),
      field(card, "state", "span", { class: "badge" }));
    const meta = field(card, "meta", "div", { class: "meta" });
    const bar = el("div", { class: "bar", "data-testid": "progress-" + c.index });
    card.segments = {};
    for (const k of ["complete", "failed", "pending", "paused"]) {
      card.segments[k] = el("span", { class: "seg-" + k });
      bar.append(card.segments[k]);
    }
    const counts = el("div", { class: "counts" });
    for (const k of ["complete", "failed", "pending", "paused"]) {
      const item = el("span", { "data-count": k });
      item.append(el("span", { class: "key seg-" + k }), field(card, k, "b"),
        document.createTextNode(" " + k));
      counts.append(item);
      card.fields[k + "-item"] = item;
    }
    const progress = el("div", { class: "hint" });
    progress.append(field(card, "proposed", "b"), document.createTextNode(" proposed \u00b7 "),
      field(card, "progress-text", "span"));
    const best = el("div", { class: "best" });
    for (const [name, label, unit] of [["best-val", "best validation", " %"],
                                       ["best-test-error", "its test error", " %"],
                                       ["best-trial", "trial", ""]]) {
      const box = el("div");
      const figure = el("div", { class: "figure" });
      figure.append(field(card, name, "span"));
      if (unit) figure.append(el("small", {}, unit));
      box.append(el("div", { class: "label" }, label), figure);
      best.append(box);
    }
    const arch = field(card, "best-arch", "div", { class: "arch" });
    const goals = field(card, "goals", "div", { class: "hint" });
    const error = field(card, "error", "div", { class: "store-error" });
    card.body = el("div");
    card.body.append(bar, counts, progress, best, arch, goals);
    root.append(head, meta, card.body, error);
    return card;
  }

  const cards = new Map();

  // Whether a campaign that no process holds has spent the budget `bo-nas run` recorded
  // (with fidelities the budget counts architectures); else it stopped before the end,
  // or was run from Python, which records no budget.
  function done(s) {
    if (!s.budget || s.counts.pending > 0) return false;
    return (s.fidelity ? s.counts.proposed : s.finished) >= s.budget;
  }

  function renderCard(c) {
    let card = cards.get(c.index);
    if (!card) {
      card = makeCard(c);
      cards.set(c.index, card);
      $("campaigns").append(card.root);
    }
    const f = card.fields;
    f.name.textContent = c.name;
    f.name.title = c.path;
    const state = !c.ok ? "error" : c.running ? "running" : done(c.summary) ? "finished"
      : "stopped";
    f.state.textContent = !c.ok ? c.error.kind : state;
    f.state.className = "badge " + state;
    f.error.hidden = c.ok;
    card.body.hidden = !c.ok;
    if (!c.ok) {
      f.error.textContent = c.error.message;
      f.meta.textContent = "cannot be read";
      return;
    }
    const s = c.summary;
    const evaluator = s.dataset ? s.evaluator + " (" + s.dataset + ")" : s.evaluator;
    f.meta.textContent = [s.strategy, evaluator, "space " + s.space, "seed " + s.seed]
      .join(" \u00b7 ");
    const n = s.counts;
    for (const k of ["complete", "failed", "pending", "paused", "proposed"]) {
      f[k].textContent = String(n[k]);
      f[k].dataset.value = String(n[k]);
    }
    f["paused-item"].hidden = !s.fidelity && n.paused === 0;
    const total = Math.max(s.budget || 0, n.proposed, 1);
    for (const k of ["complete", "failed", "pending", "paused"]) {
      card.segments[k].style.width = (100 * n[k] / total) + "%";
    }
    // A stale summary: the store has changed and is being read again.
    f["progress-text"].textContent = s.finished + " finished" +
      (s.budget ? " of a budget of " + s.budget : "") +
      (c.stale ? " \u00b7 updating" : "");
    f["progress-text"].dataset.value = String(s.finished);
    const b = s.best;
    setNumber(f["best-val"], b ? b.val_accuracy : null, 2);
    setNumber(f["best-test-error"], b ? b.test_error : null, 2);
    f["best-trial"].textContent = b ? "#" + b.trial : "\u2013";
    f["best-trial"].dataset.value = b ? String(b.trial) : "";
    f["best-arch"].textContent = b ? b.architecture : "no complete trial yet";
    const goals = [];
    if (s.fidelity) {
      const rungs = Object.entries(s.fidelity.results_by_epochs)
        .map(([epochs, n]) => n + " at " + epochs).join(", ");
      goals.push(s.fidelity.name + " (eta " + s.fidelity.eta + "): results by epochs " +
        (rungs || "none"));
    }
    if (s.objectives.length > 1) goals.push("objectives: " + s.objectives.join(", "));
    if (s.constraints.length) goals.push("constraints: " + s.constraints.join(", "));
    f.goals.textContent = goals.join(" \u00b7 ");
    f.goals.hidden = goals.length === 0;
  }

  // --- plots ----------------------------------------------------------------------------

  function curvePlot(campaigns) {
    const traces = [];
    let metric = "test error";
    for (const c of campaigns) {
      if (!c.ok || !c.summary.curve.x.length) continue;
      const curve = c.summary.curve;
      metric = curve.metric;
      traces.push({ type: "scatter", mode: "lines", name: plain(c.name), x: curve.x,
        y: curve.y, line: { shape: "hv", color: c.colour, width: 2 },
        hovertemplate: "%{y:.2f} % after %{x} evaluations<extra>" + plain(c.name) +
          "</extra>" });
    }
    $("curve-hint").textContent = metric + " of the best-validation architecture";
    const x = "evaluations", y = metric + " (%)";
    if (!traces.length) return Plotly.react("curve-plot", [], emptyLayout(x, y, "no results yet"),
      PLOT_CONFIG);
    return Plotly.react("curve-plot", traces, layout(x, y, traces), PLOT_CONFIG);
  }

  function scatterPlot(data) {
    const traces = [];
    for (const c of data.campaigns) {
      const s = c.ok ? c.scatter : null;
      if (!s || !s.x.length) continue;
      const byTrial = new Map(s.trial.map((t, i) => [t, i]));
      const front = s.front.map((t) => byTrial.get(t)).filter((i) => i !== undefined);
      const best = c.summary.best ? byTrial.get(c.summary.best.trial) : undefined;
      const label = plain(c.name), cost = plain(s.cost);
      const name = s.total > s.x.length ? label + " (" + s.x.length + " of " + s.total + ")"
        : label;
      traces.push({ type: "scatter", mode: "markers", name: name, legendgroup: c.name,
        x: s.x, y: s.y, customdata: s.trial,
        marker: { color: c.colour, size: 6, opacity: 0.7, line: { width: 0 } },
        hovertemplate: "trial %{customdata}<br>%{y:.2f} %<br>" + cost +
          " %{x:.4g}<extra>" + label + "</extra>" });
      traces.push({ type: "scatter", mode: "lines", legendgroup: c.name, showlegend: false,
        x: front.map((i) => s.x[i]), y: front.map((i) => s.y[i]), hoverinfo: "skip",
        line: { shape: "hv", color: c.colour, width: 1.5, dash: "dot" } });
      if (best !== undefined) {
        traces.push({ type: "scatter", mode: "markers", legendgroup: c.name, showlegend: false,
          x: [s.x[best]], y: [s.y[best]], customdata: [s.trial[best]],
          marker: { symbol: "star", size: 15, color: c.colour, line: { width: 1, color: "#222" } },
          hovertemplate: "best: trial %{customdata}<br>%{y:.2f} %<extra>" + label +
            "</extra>" });
      }
    }
    const x = data.cost ? plain(data.cost) : "cost", y = "validation accuracy (%)";
    const message = data.cost ? "no results yet" : "the results carry no costs";
    if (!traces.length) return Plotly.react("scatter-plot", [], emptyLayout(x, y, message),
      PLOT_CONFIG);
    return Plotly.react("scatter-plot", traces, layout(x, y, traces), PLOT_CONFIG);
  }

  function frontPlot(campaigns) {
    const multi = campaigns.filter((c) => c.ok && c.summary.front);
    $("front-panel").hidden = multi.length === 0;
    if (!multi.length) return Promise.resolve();
    const traces = [];
    let objs = null;
    for (const c of multi) {
      const fr = c.summary.front;
      const label = plain(c.name);
      objs = objs || fr.objectives;
      const sym = (ok) => ok.map((f) => (f ? "circle" : "circle-open"));
      traces.push({ type: "scatter", mode: "markers", legendgroup: c.name, showlegend: false,
        x: fr.others.x, y: fr.others.y, customdata: fr.others.trial,
        marker: { color: c.colour, size: 5, opacity: 0.3, symbol: sym(fr.others.feasible) },
        hovertemplate: "trial %{customdata}<extra>" + label + "</extra>" });
      traces.push({ type: "scatter", mode: "lines+markers", name: label + " (" + fr.size +
        " on the front)", legendgroup: c.name, x: fr.front.x, y: fr.front.y,
        customdata: fr.front.trial, line: { color: c.colour, width: 1.5, dash: "dot" },
        marker: { color: c.colour, size: 9, line: { width: 1, color: "#222" } },
        hovertemplate: "trial %{customdata}<br>%{x:.4g}, %{y:.4g}<extra>" + label +
          "</extra>" });
    }
    const title = (o) => plain(o.metric) + (o.minimize ? " (min)" : " (max)");
    const more = objs.length > 2 ? " (first two of " + objs.length + " objectives)" : "";
    $("front-hint").textContent = "non-dominated trials that meet every constraint" + more;
    return Plotly.react("front-plot", traces, layout(title(objs[0]), title(objs[1]), traces),
      PLOT_CONFIG);
  }

  // --- best cells and tables -----------------------------------------------------------

  const cellNodes = new Map();

  function renderCells(campaigns) {
    const box = $("cells");
    let shown = 0;
    for (const c of campaigns) {
      const b = c.ok ? c.summary.best : null;
      let node = cellNodes.get(c.index);
      if (!b) { if (node) node.root.hidden = true; continue; }
      shown += 1;
      if (!node) {
        const root = el("figure", { class: "cell", "data-testid": "cell-" + c.index });
        root.style.setProperty("--swatch", c.colour);
        const img = el("img", { alt: "best cell of " + c.name });
        const cap = el("figcaption");
        root.append(img, cap);
        node = { root: root, img: img, cap: cap, src: null };
        cellNodes.set(c.index, node);
        box.append(root);
      }
      node.root.hidden = false;
      // The key in the address: a new best gets a new image, an old one stays cached.
      const src = "/api/cell/" + c.index + "/" + b.trial + ".svg?key=" +
        encodeURIComponent(b.key);
      if (node.src !== src) { node.img.src = src; node.src = src; }
      node.cap.replaceChildren(el("b", {}, c.name),
        document.createTextNode(" \u00b7 trial " + b.trial + " \u00b7 validation " +
          fmt(b.val_accuracy, 2) + " %" + (b.test_error === null ? "" :
          " \u00b7 test error " + fmt(b.test_error, 2) + " %")));
    }
    let empty = box.querySelector(".empty");
    if (!shown && !empty) box.append(el("div", { class: "empty" }, "no complete trial yet"));
    if (shown && empty) empty.remove();
  }

  function nameCell(c) {
    const td = el("td", { class: "name" });
    const key = el("span", { class: "key" });
    key.style.background = c.colour;
    td.append(key, document.createTextNode(c.name));
    return td;
  }

  function renderTables(campaigns) {
    const failRows = [], pendRows = [];
    let failTotal = 0, pendTotal = 0;
    for (const c of campaigns) {
      if (!c.ok) continue;
      const s = c.summary;
      failTotal += s.failures.total;
      pendTotal += s.pending.total;
      for (const f of s.failures.items) {
        const tr = el("tr", { "data-testid": "failure-row" });
        tr.append(nameCell(c), el("td", { class: "num" }, f.trial),
          el("td", { class: "num" }, f.attempts),
          el("td", { class: "msg", "data-testid": "failure-message" }, f.error));
        failRows.push(tr);
      }
      for (const p of s.pending.items) {
        const tr = el("tr", { "data-testid": "pending-row" });
        tr.append(nameCell(c), el("td", { class: "num" }, p.trial),
          el("td", {}, p.attempts > 0 ? "running" : "queued"),
          el("td", { class: "num" }, p.budget === null ? "\u2013" : p.budget),
          el("td", { class: "mono" }, p.architecture));
        pendRows.push(tr);
      }
    }
    const empty = (text, cols) => {
      const tr = el("tr");
      tr.append(el("td", { class: "empty", colspan: cols }, text));
      return tr;
    };
    $("failures-body").replaceChildren(...(failRows.length ? failRows
      : [empty("no failures", 4)]));
    $("pending-body").replaceChildren(...(pendRows.length ? pendRows
      : [empty("nothing pending", 5)]));
    const shownNote = (shown, total) => total > shown ? " (latest " + shown + " shown)" : "";
    $("failures-hint").textContent = failTotal + " failed" + shownNote(failRows.length,
      failTotal);
    $("failures-hint").dataset.value = String(failTotal);
    $("pending-hint").textContent = pendTotal + " pending" + shownNote(pendRows.length,
      pendTotal);
    $("pending-hint").dataset.value = String(pendTotal);
  }

  function renderCostSelect(data) {
    const select = $("cost-select");
    const keys = data.cost_keys;
    const current = Array.from(select.options).map((o) => o.value);
    if (current.join("\n") !== keys.join("\n")) {
      select.replaceChildren(...keys.map((k) => el("option", { value: k }, k)));
    }
    select.disabled = keys.length === 0;
    if (data.cost) select.value = data.cost;
  }

  // plotly.js runs after this script (see the page's head): the plots wait for it, the
  // rest of the page does not.
  const plotlyReady = new Promise((resolve) => {
    const done = () => { performance.mark("bo-nas:plotly"); resolve(Boolean(window.Plotly)); };
    if (document.readyState !== "loading" && window.Plotly) done();
    else document.addEventListener("DOMContentLoaded", done);
  });

  async function render(data) {
    for (const c of data.campaigns) renderCard(c);
    renderCells(data.campaigns);
    renderTables(data.campaigns);
    renderCostSelect(data);
    if (!renders) performance.mark("bo-nas:numbers");
    if (!(await plotlyReady)) throw new Error("plotly.js did not load");
    // The cheapest and most read plot first. They are drawn in one task: letting the
    // browser paint the search curve before the scatter is built showed it 0.2 s sooner
    // but every plot 0.1 s later (two paints instead of one), measured on a 10,000-trial
    // store (benchmarks/bench_dashboard.py).
    await curvePlot(data.campaigns);
    if (!renders) performance.mark("bo-nas:curve");
    await scatterPlot(data);
    if (!renders) performance.mark("bo-nas:scatter");
    await frontPlot(data.campaigns);
    renders += 1;
    // Marks for benchmarks: when the data came and its numbers were shown, when plotly.js
    // had run, and when the first plots were drawn.
    if (renders === 1) performance.mark("bo-nas:drawn");
    body.dataset.renders = String(renders);
    body.dataset.ready = "true";
  }

  async function load() {
    const query = cost ? "?cost=" + encodeURIComponent(cost) : "";
    const response = await fetch("/api/campaigns" + query, { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const data = await response.json();
    if (!renders) performance.mark("bo-nas:data");
    return data;
  }

  async function poll(pending) {
    clearTimeout(timer);
    if (busy) return;
    busy = true;
    try {
      const data = await (pending || load());
      await render(data);
      const bad = data.campaigns.filter((c) => !c.ok).length;
      setStatus(true, "updated " + new Date().toLocaleTimeString() +
        (bad ? " \u00b7 " + bad + " store" + (bad > 1 ? "s" : "") + " unreadable" : ""));
    } catch (err) {
      setStatus(false, err.message.includes("plotly") ? err.message
        : "cannot reach the dashboard server (" + err.message + "); retrying");
    } finally {
      busy = false;
      timer = setTimeout(poll, REFRESH_MS);
    }
  }

  $("cost-select").addEventListener("change", (event) => {
    cost = event.target.value;
    poll();
  });
  poll(load());
})();
"""


def page_html(refresh: float, *, css: str, js: str, plotly: str) -> str:
    """The page, polling every ``refresh`` seconds, with its style, script and plotly.js
    at the addresses given (addresses that name the version, so that browsers may keep
    them)."""
    return (_HTML.replace("__REFRESH__", f"{refresh:g}").replace("__CSS__", css)
            .replace("__JS__", js).replace("__PLOTLY__", plotly))
