// Baton's dashboard: reads the management API through /api/METHOD and draws it. No framework and no
// build step; every value from the API goes into the page as text, never as markup.
"use strict";

const page = document.body.dataset.page;
const main = document.querySelector("main");
const query = new URLSearchParams(location.search);
let session = { acts: false, can_act: false };

// ---- Building the page ----

function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function s(tag, attributes, ...children) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value !== undefined && value !== null) element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/// A table; a cell given as wrap(text) may wrap, the columns named in `numeric` align right.
function table(headings, rows, numeric = []) {
  const wrapped = cell => cell !== null && typeof cell === "object" && !(cell instanceof Node) && "wrap" in cell;
  return h("table", {},
    h("thead", {}, h("tr", {}, headings.map((heading, index) => h("th", { class: numeric.includes(index) ? "number" : "" }, heading)))),
    h("tbody", {}, rows.length ? rows.map(cells => h("tr", {}, cells.map((cell, index) =>
      h("td", { class: numeric.includes(index) ? "number" : (wrapped(cell) ? "wrap" : "") }, wrapped(cell) ? cell.wrap : cell))))
      : h("tr", {}, h("td", { colspan: headings.length, class: "muted" }, "none"))));
}

const badge = state => h("span", { class: "badge " + state }, state);
const link = (href, text) => h("a", { href }, text);
const runLink = id => link("/run?id=" + id, String(id));
const flowLink = name => link("/flow?name=" + encodeURIComponent(name), name);
const wrap = text => ({ wrap: text });

/// A <details> that stays open across refreshes once opened.
function folded(key, ...children) {
  const details = h("details", { open: unfolded.has(key) }, ...children);
  details.addEventListener("toggle", () => { if (details.open) unfolded.add(key); else unfolded.delete(key); });
  return details;
}

/// Where output went (`host:/path/logs/42/load.1.log`), short: the host and the path's last parts, the whole on hover.
function place(location) {
  if (!location) return "";
  const colon = location.indexOf(":");
  const host = colon > 0 ? location.slice(0, colon) : "";
  const parts = location.slice(colon + 1).split("/");
  return h("span", { title: location }, (host ? host + ": " : "") + (parts.length > 3 ? "…/" : "") + parts.slice(-3).join("/"));
}

// ---- Figures ----

function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return Math.round(ms) + " ms";
  const seconds = ms / 1000;
  if (seconds < 60) return seconds.toFixed(seconds < 10 ? 1 : 0) + " s";
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return minutes + " min " + Math.round(seconds % 60) + " s";
  return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
}

function time(ms) {
  if (!ms) return "–";
  const date = new Date(ms);
  const pad = n => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

const ago = ms => ms ? duration(Date.now() - ms) + " ago" : "–";
const percent = share => Math.round((share || 0) * 100) + "%";

// ---- The API ----

async function api(method, parameters = {}) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(parameters)) if (value !== undefined && value !== null && value !== "") search.set(name, value);
  const response = await fetch(`/api/${method}?${search}`, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(body.error || `${method}: ${response.status}`);
  return body;
}

async function act(method, body, confirmText) {
  if (confirmText && !confirm(confirmText)) return;
  const response = await fetch(`/api/${method}`, {
    method: "POST", headers: { "Content-Type": "application/json", "X-Baton": "act" }, body: JSON.stringify(body),
  });
  const reply = await response.json().catch(() => ({}));
  if (!response.ok) alert(`${method} refused: ${reply.error || response.status}`);
  refresh();
}

// ---- Drawing ----

/// The flow's jobs left to right by their longest path from a first job, each column ordered to keep
/// edges short; `states` colours them.
function dag(jobs, states = {}) {
  const limit = 400;
  if (jobs.length > limit) return h("p", { class: "note" }, `The flow has ${jobs.length} jobs: it is drawn for ${limit} at most. The table below lists them all.`);
  const byName = new Map(jobs.map(job => [job.name, job]));
  const layer = new Map();
  const depth = name => {
    if (layer.has(name)) return layer.get(name);
    layer.set(name, 0);
    const job = byName.get(name);
    const value = job && job.after && job.after.length ? 1 + Math.max(...job.after.filter(a => byName.has(a)).map(depth), -1) : 0;
    layer.set(name, value);
    return value;
  };
  jobs.forEach(job => depth(job.name));
  const columns = [];
  for (const job of jobs) (columns[layer.get(job.name)] ||= []).push(job.name);
  const row = new Map();
  columns.forEach((column, index) => {
    if (index > 0) {
      const centre = name => { const after = (byName.get(name).after || []).filter(a => row.has(a)); return after.length ? after.reduce((t, a) => t + row.get(a), 0) / after.length : 0; };
      column.sort((a, b) => centre(a) - centre(b) || a.localeCompare(b));
    }
    column.forEach((name, position) => row.set(name, position));
  });
  const width = 170, height = 34, gapX = 60, gapY = 14;
  const tallest = Math.max(...columns.map(c => c.length));
  const box = name => ({ x: 10 + layer.get(name) * (width + gapX), y: 10 + row.get(name) * (height + gapY) });
  const picture = s("svg", { width: 20 + columns.length * (width + gapX) - gapX, height: 20 + tallest * (height + gapY) - gapY, role: "img", "aria-label": "the flow's jobs and what each runs after" });
  for (const job of jobs) for (const before of job.after || []) {
    if (!byName.has(before)) continue;
    const a = box(before), b = box(job.name);
    const x1 = a.x + width, y1 = a.y + height / 2, x2 = b.x, y2 = b.y + height / 2;
    picture.append(s("path", { class: "edge", d: `M${x1},${y1} C${x1 + gapX / 2},${y1} ${x2 - gapX / 2},${y2} ${x2},${y2}` }));
  }
  for (const job of jobs) {
    const { x, y } = box(job.name);
    const state = states[job.name] || "plain";
    const label = job.name.length > 22 ? job.name.slice(0, 21) + "…" : job.name;
    picture.append(s("g", { class: "node " + state, "data-job": job.name, "data-state": state },
      s("title", {}, `${job.name}: ${state === "plain" ? "" : state}`),
      s("rect", { x, y, width, height }), s("text", { x: x + 10, y: y + height / 2 + 4 }, label)));
  }
  return picture;
}

/// Each job's attempts against time: a bar from start to end (or now), coloured by how it ended.
function gantt(run, jobs, attempts) {
  const rows = [];
  for (const job of jobs) {
    const tries = (attempts && attempts[job.job]) || (job.started ? [{ attempt: job.attempts, started: job.started, finished: job.finished, state: job.state }] : []);
    rows.push({ job: job.job, tries });
  }
  const starts = rows.flatMap(r => r.tries.map(t => t.started)).filter(Boolean);
  if (!starts.length) return h("p", { class: "note" }, "No attempt has started yet.");
  const begin = Math.min(...starts);
  const end = Math.max(Date.now() > begin && !run.finished ? Date.now() : 0, run.finished || 0, ...rows.flatMap(r => r.tries.map(t => t.finished || 0)));
  const span = Math.max(1, end - begin);
  const left = 180, width = 800, line = 22;
  const picture = s("svg", { width: left + width + 70, height: 30 + rows.length * line, role: "img", "aria-label": "every attempt against time" });
  for (let tick = 0; tick <= 4; tick++) {
    const x = left + (width * tick) / 4;
    picture.append(s("line", { class: "axis", x1: x, x2: x, y1: 18, y2: 22 + rows.length * line }), s("text", { class: "tick", x: x - 10, y: 12 }, "+" + duration((span * tick) / 4)));
  }
  rows.forEach((row, index) => {
    const y = 22 + index * line;
    picture.append(s("text", { x: 4, y: y + 14 }, row.job.length > 24 ? row.job.slice(0, 23) + "…" : row.job));
    // An attempt that ran on the shard its run moved from has no start here: it has no bar.
    for (const attempt of row.tries.filter(t => t.started)) {
      const from = left + ((attempt.started - begin) / span) * width;
      const to = left + (((attempt.finished || end) - begin) / span) * width;
      picture.append(s("rect", { class: "bar " + (attempt.state || "running"), x: from, y: y + 3, width: Math.max(2, to - from), height: line - 8, "data-job": row.job, "data-attempt": attempt.attempt },
        s("title", {}, `${row.job} attempt ${attempt.attempt}${attempt.worker ? " on " + attempt.worker : ""}: ${attempt.state || "running"}, ${duration((attempt.finished || end) - attempt.started)}${attempt.exit !== undefined && attempt.exit !== null ? ", exit " + attempt.exit : ""}`)));
    }
  });
  return picture;
}

/// Lines of a figure over time, one per series: [{name, points: [[time, value]]}].
function chart(series, unit) {
  const points = series.flatMap(line => line.points);
  if (points.length < 2) return h("p", { class: "note" }, "The dashboard samples every 10 seconds; the chart fills in as it runs.");
  const times = points.map(p => p[0]), values = points.map(p => p[1]);
  const t0 = Math.min(...times), t1 = Math.max(...times), top = Math.max(1, ...values);
  const left = 60, width = 760, height = 160;
  const x = t => left + ((t - t0) / Math.max(1, t1 - t0)) * width, y = v => 10 + height - (v / top) * height;
  const colours = ["#2457c5", "#c0392b", "#2e8b57", "#d68910", "#7d3c98", "#17a2b8", "#8e6e53", "#5f6b7a"];
  const picture = s("svg", { width: left + width + 20, height: height + 40, role: "img", "aria-label": "waits over time" });
  picture.append(s("line", { class: "axis", x1: left, x2: left + width, y1: 10 + height, y2: 10 + height }),
    s("text", { class: "tick", x: 0, y: 16 }, unit(top)), s("text", { class: "tick", x: 0, y: 10 + height }, unit(0)),
    s("text", { class: "tick", x: left, y: height + 30 }, time(t0).slice(11)), s("text", { class: "tick", x: left + width - 50, y: height + 30 }, time(t1).slice(11)));
  const legend = h("div", { class: "legend" });
  series.forEach((line, index) => {
    const colour = colours[index % colours.length];
    if (line.points.length) picture.append(s("polyline", { class: "line", stroke: colour, points: line.points.map(p => `${x(p[0])},${y(p[1])}`).join(" ") }));
    const key = h("span", {}, line.name);
    key.style.setProperty("--swatch", colour);
    legend.append(key);
  });
  return h("div", {}, picture, legend);
}

// ---- Pages ----

const pages = {};
/// The last `attempts` of the run shown, kept once the run has ended.
let attemptsOf = {};
/// The attempts whose output is unfolded, kept across refreshes.
const unfolded = new Set();

pages.products = {
  title: "Products",
  async update(region) {
    const [products, queue, waits] = await Promise.all([api("products", { limit: 1000 }), api("queue"), fetch("/web/waits").then(r => r.json())]);
    // Each shard's figures of a product, by shard and product: a product moved keeps rows on the shards it
    // left (their waits, and work finishing there). The product's own shard gives its figures, and its
    // tasks queued and running are counted on every shard.
    const live = new Map(), totals = new Map();
    for (const shard of queue.shards || []) for (const product of shard.products || []) {
      live.set(`${shard.shard}/${product.product}`, product);
      const total = totals.get(product.product) || { pending: 0, running: 0 };
      totals.set(product.product, { pending: total.pending + (product.pending || 0), running: total.running + (product.running || 0) });
    }
    const rows = products.products.map(product => {
      const figures = { ...(live.get(`${product.shard}/${product.product}`) || {}), ...(totals.get(product.product) || {}) };
      const share = h("span", { class: "share", title: `served ${percent(figures.served_share)} of the tasks running; fair share ${percent(figures.fair_share)}` }, h("i"), h("b"));
      share.firstChild.style.width = percent(figures.served_share);
      share.lastChild.style.left = percent(figures.fair_share);
      return [
        link("/runs?product=" + encodeURIComponent(product.product), product.product), product.shard + (product.move ? ` (moving: ${product.move.phase})` : ""),
        `${product.weight}` + (product.cap ? ` · cap ${product.cap}` : "") + (product.rate ? ` · ${product.rate}/h` : ""),
        product.held ? badge("held") : figures.paused ? `${figures.paused} tasks paused` : "–",
        figures.pending ?? 0, figures.running ?? 0, duration(figures.wait_p50), duration(figures.wait_p99),
        h("span", {}, share, " ", percent(figures.served_share), " / ", percent(figures.fair_share)),
        figures.estimate === null || figures.estimate === undefined ? h("span", { title: figures.why || "" }, "unknown") : h("span", { title: figures.why || "" }, duration(figures.estimate)),
        (product.load ?? 0).toFixed(2) + "/s",
        session.acts ? (product.held
          ? h("button", { class: "act", onclick: () => act("release", { product: product.product }) }, "Release")
          : h("button", { class: "act danger", onclick: () => act("hold", { product: product.product }, `Hold ${product.product}? None of its jobs is handed out until it is released.`) }, "Hold")) : null,
      ];
    });
    const unanswered = (queue.unanswered || []).map(u => h("p", { class: "error" }, `shard ${u.shard}: ${u.error}`));
    const busiest = Object.entries((waits.samples || []).at(-1)?.products || {}).sort((a, b) => (b[1].pending || 0) - (a[1].pending || 0)).slice(0, 8).map(e => e[0]);
    const series = busiest.map(name => ({ name, points: waits.samples.filter(sample => sample.products[name] && sample.products[name].wait_p99 !== null).map(sample => [sample.time, sample.products[name].wait_p99]) }));
    region.replaceChildren(
      h("div", { class: "panel" }, table(["Product", "Shard", "Weight", "Held", "Queued", "Running", "Wait p50", "Wait p99", "Served / fair share", "Est. wait", "Jobs ended", ""], rows, [4, 5, 6, 7, 10])),
      unanswered,
      h("h2", {}, "Wait p99 over the last hour"), h("div", { class: "panel" }, chart(series, duration)));
  },
};

pages.runs = {
  title: "Runs",
  init(region) {
    const since = query.get("since") || "";
    const form = h("form", { class: "filters", onsubmit: event => { event.preventDefault(); const data = new FormData(form); const next = new URLSearchParams(); for (const [k, v] of data) if (v) next.set(k, v); location.search = next; } },
      h("label", {}, "Product", h("input", { name: "product", value: query.get("product") || "", size: 14 })),
      h("label", {}, "Flow", h("input", { name: "flow", value: query.get("flow") || "", size: 22, placeholder: "product/flow" })),
      h("label", {}, "State", h("select", { name: "state" }, ["", "running", "succeeded", "failed", "partly-failed", "paused", "stopping", "stopped"].map(state => h("option", { value: state, selected: state === (query.get("state") || "") }, state || "any")))),
      h("label", {}, "Started", h("select", { name: "since" }, [["", "any time"], ["1h", "last hour"], ["24h", "last 24 hours"], ["7d", "last 7 days"]].map(([value, text]) => h("option", { value, selected: value === since }, text)))),
      h("button", { type: "submit" }, "Show"));
    region.before(form);
  },
  async update(region) {
    const windows = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 };
    const since = windows[query.get("since")];
    const runs = await api("runs", { limit: 50, product: query.get("product"), flow: query.get("flow"), state: query.get("state"), before: query.get("before"), since: since ? Date.now() - since : undefined });
    const rows = runs.runs.map(run => [runLink(run.run), flowLink(run.flow), "v" + run.version, badge(run.state), `${run.succeeded} ✓  ${run.failed} ✗  ${run.active} active / ${run.jobs}`, time(run.started), duration((run.finished || Date.now()) - run.started), wrap(run.detail)]);
    const pager = h("div", { class: "actions" });
    if (query.get("before")) pager.append(h("button", { onclick: () => { query.delete("before"); location.search = query; } }, "Newest"));
    if (runs.next) pager.append(h("button", { onclick: () => { query.set("before", runs.next); location.search = query; } }, "Older →"));
    region.replaceChildren(h("div", { class: "panel" }, table(["Run", "Flow", "Version", "State", "Jobs", "Started", "Duration", "Detail"], rows)), pager);
  },
};

pages.run = {
  title: "Run " + (query.get("id") || ""),
  async update(region) {
    const id = query.get("id");
    const status = await api("status", { run: id });
    const run = status.run;
    const [flow, history, waits, tried] = await Promise.all([
      api("flow", { flow: run.flow, version: run.version }).catch(() => null),
      api("history", { run: id, limit: 100 }),
      ["running", "paused", "partly-failed"].includes(run.state) ? api("waits", { run: id }).catch(() => null) : null,
      // An ended run's attempts change no more: asked once.
      attemptsOf.run === id && attemptsOf.final ? attemptsOf.reply : api("attempts", { run: id }).catch(() => null),
    ]);
    attemptsOf = { run: id, final: ["succeeded", "failed", "stopped"].includes(run.state) && tried !== null, reply: tried };
    const attempts = {};
    for (const attempt of (tried && tried.attempts) || []) (attempts[attempt.job] ||= []).push(attempt);
    const states = Object.fromEntries(status.jobs.map(job => [job.job, job.state]));
    const why = Object.fromEntries(((waits && waits.jobs) || []).map(job => [job.job, job]));
    const jobs = flow && flow.definition && flow.definition.jobs ? flow.definition.jobs : status.jobs.map(job => ({ name: job.job, after: [] }));
    const actions = h("div", { class: "actions" });
    if (session.acts) {
      const base = { run: Number(id) };
      if (["running", "partly-failed"].includes(run.state)) actions.append(h("button", { class: "act", onclick: () => act("pause", base) }, "Pause"));
      if (run.state === "paused") actions.append(h("button", { class: "act", onclick: () => act("resume", base) }, "Resume"));
      if (["running", "paused", "partly-failed"].includes(run.state)) actions.append(h("button", { class: "act danger", onclick: () => act("stop", base, `Stop run ${id}? Running tasks are cancelled.`) }, "Stop"));
      if (["failed", "stopped"].includes(run.state)) actions.append(h("button", { class: "act", onclick: () => act("rerun", base) }, "Rerun from failure"));
    } else if (session.can_act) {
      actions.append(h("span", { class: "note" }, "Sign in with the link `baton web` printed to act on this run."));
    }
    const afterOf = Object.fromEntries(jobs.map(job => [job.name, job.after || []]));
    const jobRows = status.jobs.map(job => {
      let wait = why[job.job];
      if (!wait && job.state === "waiting" && ["running", "partly-failed"].includes(run.state)) {
        const pending = (afterOf[job.job] || []).filter(name => states[name] !== "succeeded");
        if (pending.length) wait = { why: "waits for " + pending.join(", "), estimate: null };
      }
      if (!wait && job.state === "waiting" && run.state === "paused") wait = { why: "the run is paused, or its product held", estimate: null };
      const controls = session.acts ? h("span", {},
        ["failed", "cancelled", "skipped", "succeeded"].includes(job.state) ? h("button", { class: "act", onclick: () => act("rerun-job", { run: Number(id), job: job.job }, `Rerun ${job.job}?`) }, "Rerun") : null, " ",
        job.state !== "succeeded" ? h("button", { class: "act", onclick: () => act("mark-succeeded", { run: Number(id), job: job.job }, `Mark ${job.job} succeeded without running it?`) }, "Mark succeeded") : null) : null;
      return [job.job, badge(job.state), job.attempts, `${job.tasks.succeeded}/${job.tasks.pending + job.tasks.running + job.tasks.succeeded + job.tasks.failed}` + (job.steps > 1 ? ` · step ${job.step + 1}/${job.steps}` : ""),
        job.started ? duration((job.finished || Date.now()) - job.started) : "–",
        wait ? wrap(wait.why + (wait.estimate !== null && wait.estimate !== undefined && wait.why !== "running" ? ` (starts in about ${duration(wait.estimate)})` : "")) : wrap(job.detail || ""),
        place(job.output), controls];
    });
    const params = Object.entries(run.params || {}).map(([k, v]) => `${k}=${v}`).join(", ") || "none";
    region.replaceChildren(
      h("h1", {}, `Run ${run.run} `, badge(run.state)),
      actions,
      h("div", { class: "panel facts" },
        h("div", {}, h("span", {}, "Flow"), h("b", {}, flowLink(run.flow), ` v${run.version}`)),
        h("div", {}, h("span", {}, "Shard"), h("b", {}, String(run.shard))),
        h("div", {}, h("span", {}, "Entry moment"), h("b", { title: "the view of data every task of the run works against" }, String(run.moment))),
        h("div", {}, h("span", {}, "Started"), h("b", {}, time(run.started))),
        h("div", {}, h("span", {}, "Finished"), h("b", {}, run.finished ? `${time(run.finished)} (${duration(run.finished - run.started)})` : "–")),
        h("div", {}, h("span", {}, "Jobs"), h("b", {}, `${run.succeeded} succeeded, ${run.failed} failed, ${run.active} active of ${run.jobs}`)),
        h("div", {}, h("span", {}, "Priority"), h("b", {}, String(run.priority))),
        h("div", {}, h("span", {}, "Parameters"), h("b", {}, params)),
        run.detail ? h("div", {}, h("span", {}, "Detail"), h("b", {}, run.detail)) : null),
      h("h2", {}, "Jobs"), h("div", { class: "panel", id: "dag" }, dag(jobs, states)),
      h("h2", {}, "Attempts"), h("div", { class: "panel", id: "gantt" }, gantt(run, status.jobs, tried ? attempts : null)),
      h("div", { class: "panel" }, table(["Job", "State", "Attempts", "Tasks", "Duration", "Why / detail", "Output", ""], jobRows, [2])),
      h("h2", {}, "Each attempt"),
      h("div", { class: "panel", id: "attempts" }, tried ? table(["Job", "Attempt", "Partition", "Worker", "Started", "Ran", "Ended", "Exit", "Output (the last 4 KiB)"],
        (tried.attempts || []).slice().sort((a, b) => a.started - b.started).map(a => [a.job + (a.generation ? ` (rerun ${a.generation})` : ""), a.attempt, a.partition + (a.step ? ` · step ${a.step + 1}` : ""), a.worker || "–", time(a.started),
          a.started ? duration((a.finished || Date.now()) - a.started) : "–", badge(a.state), a.exit ?? "–",
          wrap(folded(`${a.job}/${a.generation}/${a.step}/${a.partition}/${a.attempt}`, h("summary", {}, a.log ? place(a.log) : "output"), h("pre", {}, a.output || "(none)"), a.error ? h("p", { class: "error" }, a.error) : null))]), [1, 7])
        : h("p", { class: "note" }, "The run's shard did not say what its attempts were.")),
      h("h2", {}, "Operator history"),
      h("div", { class: "panel" }, table(["Time", "Actor", "Action", "Job", "Outcome", "Detail"], history.actions.map(entry => [time(entry.time), entry.actor + (entry.comment ? ` (${entry.comment})` : ""), entry.action, entry.job || "", entry.outcome, wrap(entry.detail)]))));
  },
};

pages.flows = {
  title: "Flows",
  async update(region) {
    const flows = await api("flows", { limit: 1000 });
    region.replaceChildren(h("div", { class: "panel" }, table(["Flow", "Version", "Jobs", "Shard", "Applied", "Runs"],
      flows.flows.map(flow => [flowLink(flow.flow), "v" + flow.version, flow.jobs, flow.shard, time(flow.applied), link("/runs?flow=" + encodeURIComponent(flow.flow), "runs")]), [2])));
  },
};

pages.flow = {
  title: query.get("name") || "Flow",
  async update(region) {
    const name = query.get("name");
    const flow = await api("flow", { flow: name });
    const schedule = flow.schedule ? await api("schedule", { flow: name, next: 10 }).catch(error => ({ error: error.message })) : {};
    const jobs = (flow.definition && flow.definition.jobs) || [];
    const timing = schedule.schedule ? [
      h("p", {}, schedule.summary),
      h("div", { class: "panel" }, table(["Next firing", "Business date"], (schedule.next || []).map(firing => [firing.local, firing.date]))),
      h("h2", {}, "Recent firings"),
      h("div", { class: "panel" }, table(["Instant", "Date", "Outcome", "Run", "Timer"], (schedule.recent || []).slice().reverse().map(firing => [firing.local, firing.date, firing.outcome, firing.run ? runLink(firing.run) : "–", firing.timer]))),
    ] : [h("p", { class: schedule.error ? "error" : "note" }, schedule.error || "No schedule: runs start when someone starts them.")];
    region.replaceChildren(
      h("h1", {}, name, h("span", { class: "muted" }, ` v${flow.version}`)),
      h("p", {}, link("/runs?flow=" + encodeURIComponent(name), "Its runs"), ` · shard ${flow.shard} · applied ${time(flow.applied)}`),
      h("h2", {}, "Jobs"), h("div", { class: "panel" }, dag(jobs)),
      h("div", { class: "panel" }, table(["Job", "Runs after", "Does"], jobs.map(job => [job.name, (job.after || []).join(", ") || "–", wrap(job.handler ? "handler " + job.handler : job.run || (job.steps ? `${job.steps.length} steps` : ""))]))),
      h("h2", {}, "Schedule"), ...timing);
  },
};

pages.shards = {
  title: "Shards and workers",
  async update(region) {
    const [queue, workers] = await Promise.all([api("queue"), api("workers")]);
    const byShard = new Map((workers.shards || []).map(shard => [shard.shard, shard]));
    const sections = (queue.shards || []).map(shard => {
      const listed = (byShard.get(shard.shard) || {}).workers || [];
      return [
        h("h2", {}, `Shard ${shard.shard}`),
        h("div", { class: "panel facts" },
          h("div", {}, h("span", {}, "Workers"), h("b", {}, String(shard.workers))),
          h("div", {}, h("span", {}, "Slots busy"), h("b", {}, `${shard.busy} of ${shard.slots}`)),
          h("div", {}, h("span", {}, "Tasks waiting"), h("b", {}, String(shard.pending ?? 0))),
          h("div", {}, h("span", {}, "Hand-outs"), h("b", {}, `${shard.starts_per_minute} a minute`)),
          h("div", {}, h("span", {}, "Paused runs"), h("b", {}, String(shard.paused_runs))),
          h("div", {}, h("span", {}, "Malformed frames"), h("b", {}, String(shard.malformed ?? "–"))),
          h("div", {}, h("span", {}, "Refused messages"), h("b", {}, String(shard.refused ?? "–")))),
        h("div", { class: "panel" }, table(["Worker", "Key", "Leases", "Free slots", "Runs", "Tags", "Heard", "Holding"], listed.map(worker => [
          worker.name, worker.key || "–", worker.leases, worker.credit,
          wrap([worker.commands ? "commands" : null, ...(worker.handlers || [])].filter(Boolean).join(", ")), (worker.tags || []).join(", ") || "–", ago(worker.heard),
          wrap(worker.tasks.slice(0, 5).map(task => `run ${task.run} ${task.job}[${task.partition}]#${task.attempt}`).join(", ") + (worker.tasks.length > 5 ? ` and ${worker.tasks.length - 5} more` : "")),
        ]), [2, 3])),
      ];
    });
    const unanswered = [...(queue.unanswered || []), ...(workers.unanswered || [])].map(u => h("p", { class: "error" }, `shard ${u.shard}: ${u.error}`));
    region.replaceChildren(...sections.flat(), ...unanswered);
  },
};

// ---- Live ----

const here = pages[page];
const region = h("section", { id: "content" });
let lastError = null;

async function refresh() {
  const status = document.querySelector("#live");
  try {
    await here.update(region);
    status.replaceChildren(h("span", { class: "dot" }), `live · ${time(Date.now()).slice(11)}`);
    lastError = null;
  } catch (error) {
    status.replaceChildren(h("span", { class: "dot error" }), `not updated: ${error.message}`);
    if (!region.hasChildNodes() || lastError === null) region.replaceChildren(h("p", { class: "error" }, error.message));
    lastError = error;
  }
}

async function start() {
  document.title = `${here.title} · Baton`;
  main.replaceChildren(region);
  if (here.init) here.init(region);
  session = await fetch("/web/session").then(r => r.json()).catch(() => session);
  const role = document.querySelector("#role");
  role.textContent = session.acts ? `acting as ${session.key} (${session.role})` : session.can_act ? "read-only until signed in" : "read-only";
  // Each refresh 2 s after the last one ended, so that a slow answer never piles requests up.
  const again = async () => {
    if (!document.hidden) await refresh();
    setTimeout(again, 2000);
  };
  await again();
}

start();
