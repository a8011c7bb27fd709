r"""The page: HTML, its style and its script, served from these strings.

Kept in a Python module rather than package data files so that an installed bo-nas
carries them without a manifest. The script asks ``/api/campaigns`` for every store's
summary every ``refresh`` seconds and updates the page in place: the plots are BokehJS
figures built once, whose data sources get the new columns (BokehJS repaints their canvas
and keeps the user's zoom). It writes every piece of text from a store through
``textContent`` and builds elements with ``createElement``, never ``innerHTML``, so a
failure message holding markup is shown as text; the page's Content-Security-Policy
(`CONTENT_SECURITY_POLICY`) refuses inline scripts besides.

Elements that tests and users may read carry ``data-testid`` attributes; a number's
exact value is in its ``data-value`` (the text is rounded for reading). ``<body>`` gets
``data-ready="true"`` once the first answer is drawn, and ``data-renders`` counts the
answers drawn.
"""

from __future__ import annotations

#: Only this origin's scripts, styles (BokehJS puts its style sheets in its elements' shadow
#: roots and sets inline sizes), images (its toolbar icons are data: SVGs) and requests.
#: No ``unsafe-eval``: BokehJS compiles code only for ``CustomJS``-like models, which the
#: page does not use.
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
     while BokehJS runs. (Running BokehJS only once the numbers were painted showed them
     0.15 s sooner but every plot 0.1 to 0.2 s later: the two cannot overlap then.) -->
<script src="__JS__" defer></script>
<script src="__BOKEH__" defer></script>
<script src="__BOKEH_API__" defer></script>
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
      <div class="legend" id="curve-plot-legend"></div>
      <div class="plot-box"><div id="curve-plot" class="plot" data-testid="curve-plot"></div>
        <div class="plot-empty" id="curve-plot-empty" hidden></div></div>
    </div>
    <div class="panel">
      <div class="panel-head"><h2>Accuracy vs cost</h2>
        <label class="hint">cost
          <select id="cost-select" data-testid="cost-select"></select></label></div>
      <div class="legend" id="scatter-plot-legend"></div>
      <div class="plot-box"><div id="scatter-plot" class="plot" data-testid="scatter-plot">
        </div><div class="plot-empty" id="scatter-plot-empty" hidden></div></div>
    </div>
  </section>
  <section class="panel" id="front-panel" hidden>
    <div class="panel-head"><h2>Pareto front</h2>
      <span class="hint" id="front-hint"></span></div>
    <div class="legend" id="front-plot-legend"></div>
    <div class="plot-box"><div id="front-plot" class="plot" data-testid="front-plot"></div>
      <div class="plot-empty" id="front-plot-empty" hidden></div></div>
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
.plot-box { position: relative; }
.legend { display: flex; flex-wrap: wrap; gap: 2px 14px; min-height: 20px; font-size: 12px; }
.legend-item { font: inherit; color: var(--text); background: none; border: 0; padding: 1px 0;
  cursor: pointer; display: inline-flex; align-items: center; overflow-wrap: anywhere;
  text-align: left; }
.legend-item .key { width: 12px; height: 3px; border-radius: 1px; margin-right: 6px;
  flex: none; }
.legend-item[aria-pressed="false"] { opacity: 0.4; }
.legend-item[hidden] { display: none; }
.plot { height: 340px; }
.plot-empty { position: absolute; inset: 0; display: flex; align-items: center;
  justify-content: center; color: #8a93a3; font-size: 13px; pointer-events: none;
  background: var(--panel); }
.plot-empty[hidden] { display: none; }
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

  // Each plot is built once, on the first answer, with every store's renderers (the
  // stores are fixed when the server starts; one without data yet has empty sources).
  // A refresh then only replaces their data sources' columns: BokehJS repaints the
  // canvas in place (no flicker, no new elements) and keeps the user's zoom.
  const GRID = "#eceef1", AXIS = "#d0d5dc", INK = "#2b303b";

  function num(v) { return v === null || v === undefined ? NaN : v; }

  // The step curve "hv" (flat until the next x, then up or down) as the line's vertices,
  // so that hovering finds the values at each corner.
  function hv(xs, ys) {
    const x = [], y = [];
    for (let i = 0; i < xs.length; i++) {
      if (i > 0) { x.push(xs[i]); y.push(num(ys[i - 1])); }
      x.push(xs[i]); y.push(num(ys[i]));
    }
    return { x: x, y: y };
  }

  function named(n, name) { return new Array(n).fill(name); }

  function columns(xs, ys, trials, name) {
    return { x: xs, y: ys, trial: trials, name: named(xs.length, name) };
  }

  // Sources are named after their plot and store, so that tests can find them through
  // BokehJS's documents.
  function source(name) {
    return new Bokeh.ColumnDataSource({ name: name, data: columns([], [], [], "") });
  }

  // Axis labels as plain text: BokehJS reads a string between $$ as TeX (and would
  // need MathJax for it), and a cost's or metric's name is the user's.
  function plainText(text) {
    return new Bokeh.PlainText({ text: text });
  }

  // show() resolves once the views are built; the document says it is idle once they
  // have painted, which is when a person sees the plot. Not waited for past 5 s, so that
  // polling goes on whatever holds the painting back (a tab in the background paints
  // only once it shows).
  function painted(fig) {
    const doc = fig.document;
    if (!doc || doc.is_idle) return Promise.resolve();
    return Promise.race([new Promise((resolve) => doc.idle.connect(() => resolve())),
      new Promise((resolve) => setTimeout(resolve, 5000))]);
  }

  // `build(fig, c)` adds store c's renderers and returns its sources, with the renderers
  // a legend entry toggles and those hovering reads.
  function makePlot(id, campaigns, labels, tooltips, formatters, build) {
    const text = { axis_label_text_font: FONT, axis_label_text_font_style: "normal",
      axis_label_text_font_size: "12.5px", axis_label_text_color: INK,
      major_label_text_font: FONT, major_label_text_font_size: "11.5px",
      major_label_text_color: "#4a5160", axis_line_color: AXIS, major_tick_line_color: AXIS,
      minor_tick_line_color: null, major_tick_out: 5, major_tick_in: 0 };
    // No toolbar at first: its buttons are a third of the time BokehJS takes to build a
    // plot (measured on a repeat visit, 0.63 s against 0.43 s for two plots). It is added
    // when the pointer first comes over the plot (it shows only then anyway), inside the
    // frame so that nothing moves.
    const fig = Bokeh.Plotting.figure({ sizing_mode: "stretch_both",
      tools: "pan,box_zoom,wheel_zoom,reset,save", toolbar_location: null,
      toolbar_inner: true, x_axis_label: plainText(labels[0]),
      y_axis_label: plainText(labels[1]), background_fill_color: "#ffffff",
      border_fill_color: null, outline_line_color: null, min_border_left: 10,
      min_border_right: 10, min_border_top: 6, min_border_bottom: 6 });
    fig.toolbar.logo = null;
    fig.toolbar.autohide = true;  // shown while the pointer is over the plot
    fig.toolbar.active_scroll = null;  // the wheel scrolls the page until a user picks zoom
    for (const a of fig.axes) a.setv(text);
    for (const g of fig.grids) g.setv({ grid_line_color: GRID });
    const plot = { id: id, fig: fig, labels: labels.slice(), stores: new Map() };
    const hovered = [];
    for (const c of campaigns) {
      const s = build(fig, c);
      s.label = legendItem(plot, c, s.renderers);
      s.read = null;
      hovered.push(...s.hovered);
      plot.stores.set(c.index, s);
    }
    plot.hover = new Bokeh.HoverTool({ renderers: hovered, tooltips: tooltips,
      formatters: formatters || {}, point_policy: "snap_to_data" });
    fig.add_tools(plot.hover);
    plot.shown = Bokeh.Plotting.show(fig, "#" + id).then(() => painted(fig));
    $(id).addEventListener("pointerenter", () => {
      plot.shown.then(() => { fig.toolbar_location = "right"; });
    }, { once: true });
    return plot;
  }

  // The legend is the page's own: HTML wraps long store names onto more rows where a
  // canvas legend would run past the plot. A click hides or shows every renderer of
  // that store. An entry shows once its store has data.
  function legendItem(plot, c, renderers) {
    const item = el("button", { type: "button", class: "legend-item", "aria-pressed": "true",
      "data-testid": plot.id + "-legend-" + c.index, title: "hide or show " + c.name });
    const key = el("span", { class: "key" });
    key.style.background = c.colour;
    const label = el("span", {}, c.name);
    item.append(key, label);
    item.hidden = true;
    item.addEventListener("click", () => {
      const on = item.getAttribute("aria-pressed") !== "true";
      item.setAttribute("aria-pressed", String(on));
      for (const r of renderers) r.visible = on;
    });
    $(plot.id + "-legend").append(item);
    return label;
  }

  // The legend entry's text, or null to hide it (a store without data).
  function setLabel(label, text) {
    label.parentNode.hidden = text === null;
    if (text !== null && label.textContent !== text) label.textContent = text;
  }

  function setAxes(plot, xLabel, yLabel) {
    if (plot.labels[0] !== xLabel) plot.fig.xaxes[0].axis_label = plainText(xLabel);
    if (plot.labels[1] !== yLabel) plot.fig.yaxes[0].axis_label = plainText(yLabel);
    plot.labels = [xLabel, yLabel];
  }

  function setEmpty(id, message) {
    const box = $(id + "-empty");
    box.textContent = message || "";
    box.hidden = !message;
  }

  // Whether store c's data in this plot are those already drawn (the server's summary
  // of a store is the same object, read at the same time, until the store changes).
  function unchanged(s, c, key) {
    const k = c.ok ? c.read_at + "\n" + key : null;
    if (s.read === k) return true;
    s.read = k;
    return false;
  }

  let curve = null, scatter = null, front = null;

  function curvePlot(campaigns) {
    let metric = null;
    for (const c of campaigns) {
      if (c.ok && c.summary.curve.x.length) metric = metric || c.summary.curve.metric;
    }
    const any = metric !== null;
    metric = metric || "test error";
    const y = metric + " (%)";
    const tips = [["campaign", "@name"], ["evaluations", "@x"], [metric, "@y{0.00} %"]];
    if (!curve) {
      curve = makePlot("curve-plot", campaigns, ["evaluations", y], tips, {}, (fig, c) => {
        const src = source("curve-" + c.index);
        const r = fig.line({ x: { field: "x" }, y: { field: "y" }, source: src,
          line_color: c.colour, line_width: 2 });
        return { src: src, renderers: [r], hovered: [r] };
      });
      curve.metric = metric;
    }
    for (const c of campaigns) {
      const s = curve.stores.get(c.index);
      const has = c.ok && c.summary.curve.x.length > 0;
      setLabel(s.label, has ? c.name : null);
      if (unchanged(s, c, "")) continue;
      const pts = has ? hv(c.summary.curve.x, c.summary.curve.y) : { x: [], y: [] };
      s.src.data = columns(pts.x, pts.y, named(pts.x.length, null), c.name);
    }
    setAxes(curve, "evaluations", y);
    if (curve.metric !== metric) {
      curve.hover.tooltips = tips;
      curve.metric = metric;
    }
    $("curve-hint").textContent = metric + " of the best-validation architecture";
    setEmpty("curve-plot", any ? null : "no results yet");
    return curve.shown;
  }

  function scatterPlot(data) {
    const x = data.cost || "cost", y = "validation accuracy (%)";
    const tips = [["campaign", "@name"], ["trial", "@trial"], ["validation", "@y{0.00} %"],
      [x, "@x{%.4g}"]];
    if (!scatter) {
      scatter = makePlot("scatter-plot", data.campaigns, [x, y], tips, { "@x": "printf" },
        (fig, c) => {
          const s = { points: source("scatter-" + c.index),
            front: source("scatter-front-" + c.index), best: source("scatter-best-" + c.index) };
          const pts = fig.scatter({ x: { field: "x" }, y: { field: "y" }, source: s.points,
            marker: "circle", size: 6, fill_color: c.colour, fill_alpha: 0.7,
            line_color: null, hover_fill_color: c.colour, hover_fill_alpha: 1 });
          const line = fig.line({ x: { field: "x" }, y: { field: "y" }, source: s.front,
            line_color: c.colour, line_width: 1.5, line_dash: "dotted" });
          const star = fig.scatter({ x: { field: "x" }, y: { field: "y" }, source: s.best,
            marker: "star", size: 15, fill_color: c.colour, line_color: "#222222",
            line_width: 1 });
          return Object.assign(s, { renderers: [pts, line, star], hovered: [pts, star] });
        });
      scatter.cost = data.cost;
    }
    let any = false;
    for (const c of data.campaigns) {
      const s = scatter.stores.get(c.index);
      const sc = c.ok && c.scatter && c.scatter.x.length ? c.scatter : null;
      any = any || sc !== null;
      setLabel(s.label, !sc ? null : sc.total > sc.x.length ? c.name + " (" + sc.x.length +
        " of " + sc.total + ")" : c.name);
      if (unchanged(s, c, sc ? sc.cost : "")) continue;
      if (!sc) {
        for (const k of ["points", "front", "best"]) s[k].data = columns([], [], [], c.name);
        continue;
      }
      const byTrial = new Map(sc.trial.map((t, i) => [t, i]));
      const fr = sc.front.map((t) => byTrial.get(t)).filter((i) => i !== undefined);
      const steps = hv(fr.map((i) => sc.x[i]), fr.map((i) => sc.y[i]));
      const best = c.summary.best ? byTrial.get(c.summary.best.trial) : undefined;
      const b = best === undefined ? [] : [best];
      s.points.data = columns(sc.x, sc.y, sc.trial, c.name);
      s.front.data = columns(steps.x, steps.y, named(steps.x.length, null), c.name);
      s.best.data = columns(b.map((i) => sc.x[i]), b.map((i) => sc.y[i]),
        b.map((i) => sc.trial[i]), c.name);
    }
    setAxes(scatter, x, y);
    // Another cost is another axis: the view is fitted to it again.
    if (scatter.cost !== data.cost) {
      scatter.cost = data.cost;
      scatter.hover.tooltips = tips;
      scatter.fig.reset.emit();
    }
    setEmpty("scatter-plot", any ? null : data.cost ? "no results yet"
      : "the results carry no costs");
    return scatter.shown;
  }

  function frontPlot(campaigns) {
    const multi = campaigns.filter((c) => c.ok && c.summary.front);
    $("front-panel").hidden = multi.length === 0;
    if (!multi.length) return Promise.resolve();
    const objs = multi[0].summary.front.objectives;
    const title = (o) => o.metric + (o.minimize ? " (min)" : " (max)");
    const more = objs.length > 2 ? " (first two of " + objs.length + " objectives)" : "";
    $("front-hint").textContent = "non-dominated trials that meet every constraint" + more;
    // Built once the panel shows: a plot laid out while hidden would have no size.
    if (!front) {
      front = makePlot("front-plot", campaigns, [title(objs[0]), title(objs[1])],
        [["campaign", "@name"], ["trial", "@trial"], [objs[0].metric, "@x{%.4g}"],
          [objs[1].metric, "@y{%.4g}"]], { "@x": "printf", "@y": "printf" }, (fig, c) => {
          const s = { others: source("front-others-" + c.index),
            front: source("front-" + c.index) };
          s.others.data = Object.assign(columns([], [], [], ""), { fill: [] });
          // Trials that break a constraint are drawn open.
          const others = fig.scatter({ x: { field: "x" }, y: { field: "y" },
            source: s.others, marker: "circle", size: 5, fill_color: c.colour,
            fill_alpha: { field: "fill" }, line_color: c.colour, line_alpha: 0.45 });
          const line = fig.line({ x: { field: "x" }, y: { field: "y" }, source: s.front,
            line_color: c.colour, line_width: 1.5, line_dash: "dotted" });
          const pts = fig.scatter({ x: { field: "x" }, y: { field: "y" }, source: s.front,
            marker: "circle", size: 9, fill_color: c.colour, line_color: "#222222",
            line_width: 1 });
          return Object.assign(s, { renderers: [others, line, pts], hovered: [others, pts] });
        });
    }
    for (const c of campaigns) {
      const s = front.stores.get(c.index);
      const fr = c.ok ? c.summary.front : null;
      setLabel(s.label, fr ? c.name + " (" + fr.size + " on the front)" : null);
      if (unchanged(s, c, "")) continue;
      const o = fr ? fr.others : { x: [], y: [], trial: [], feasible: [] };
      const f = fr ? fr.front : { x: [], y: [], trial: [] };
      s.others.data = Object.assign(columns(o.x, o.y, o.trial, c.name),
        { fill: o.feasible.map((ok) => (ok ? 0.3 : 0)) });
      s.front.data = columns(f.x, f.y, f.trial, c.name);
    }
    setAxes(front, title(objs[0]), title(objs[1]));
    return front.shown;
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

  // BokehJS runs after this script (see the page's head): the plots wait for it, the
  // rest of the page does not.
  const bokehReady = new Promise((resolve) => {
    const done = () => {
      performance.mark("bo-nas:bokeh");
      const ok = Boolean(window.Bokeh && window.Bokeh.Plotting);
      // Its "initialized" line at info level is noise in a user's console.
      if (ok) window.Bokeh.set_log_level("warn");
      resolve(ok);
    };
    if (document.readyState !== "loading" && window.Bokeh) done();
    else document.addEventListener("DOMContentLoaded", done);
  });

  async function render(data) {
    for (const c of data.campaigns) renderCard(c);
    renderCells(data.campaigns);
    renderTables(data.campaigns);
    renderCostSelect(data);
    if (!renders) performance.mark("bo-nas:numbers");
    if (!(await bokehReady)) throw new Error("BokehJS did not load");
    // Every plot is built before any is awaited, so that BokehJS lays them out and paints
    // them together.
    const drawn = [curvePlot(data.campaigns), scatterPlot(data), frontPlot(data.campaigns)];
    if (!renders) {
      drawn[0].then(() => performance.mark("bo-nas:curve"));
      drawn[1].then(() => performance.mark("bo-nas:scatter"));
    }
    await Promise.all(drawn);
    renders += 1;
    // Marks for benchmarks: when the data came and its numbers were shown, when BokehJS
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
      setStatus(false, err.message.includes("BokehJS") ? err.message
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


def page_html(refresh: float, *, css: str, js: str, bokeh: str, bokeh_api: str) -> str:
    """The page, polling every ``refresh`` seconds, with its style, script and BokehJS
    (its core and its plotting API) at the addresses given (addresses that name the
    version, so that browsers may keep them)."""
    return (_HTML.replace("__REFRESH__", f"{refresh:g}").replace("__CSS__", css)
            .replace("__JS__", js).replace("__BOKEH__", bokeh)
            .replace("__BOKEH_API__", bokeh_api))
