// mesos-miner dashboard: pages as routes of the URL fragment (#/pool, #/workers,
// #/worker/NAME, #/blocks, #/cluster), data from /api/v1, live numbers from
// /api/v1/events (Server-Sent Events), charts drawn as SVG here. Read-only.
"use strict";

let errors = 0;
function reportError(message) {
  errors += 1;
  document.body.dataset.errors = String(errors);
  const box = document.getElementById("error");
  box.hidden = false;
  box.textContent = "Error: " + message;
}
window.onerror = function (message, source, line) {
  reportError(message + " (" + (source || "?") + ":" + (line || "?") + ")");
};
window.addEventListener("error", function (event) {
  // A resource (script, style, image) that did not load; script errors go to onerror.
  const target = event.target;
  if (target && target !== window && (target.src || target.href)) reportError("cannot load " + (target.src || target.href));
}, true);
window.addEventListener("unhandledrejection", function (event) {
  reportError(String(event.reason));
});

// ---- formatting -------------------------------------------------------------------------
function esc(value) {
  return String(value).replace(/[&<>"']/g, function (c) {
    return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
  });
}
function scaled(value, units, step) {
  let i = 0;
  let v = Number(value) || 0;
  while (Math.abs(v) >= step && i < units.length - 1) { v /= step; i += 1; }
  const digits = i === 0 ? (Number.isInteger(v) ? 0 : 2) : (v >= 100 ? 1 : 2);
  return v.toFixed(digits) + (units[i] ? " " + units[i] : "");
}
function hashRate(h) { return scaled(h, ["H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"], 1000); }
function difficulty(d) {
  if (!d) return "—";
  if (d < 1) return Number(d).toPrecision(3);
  return scaled(d, ["", "k", "M", "G", "T", "P", "E"], 1000);
}
function count(n) { return Number(n || 0).toLocaleString("en-US"); }
function btc(sats) { return (Number(sats || 0) / 1e8).toFixed(8) + " BTC"; }
function ago(t, now) {
  if (!t) return "never";
  const s = Math.max(0, Math.round((now || Date.now() / 1000) - t));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return Math.floor(s / 86400) + " d ago";
}
function clock(t) {
  const d = new Date(t * 1000);
  return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}
function short(hash) { return hash.length > 20 ? hash.slice(0, 10) + "…" + hash.slice(-10) : hash; }
// `address.worker` with the address shortened (the whole name is the cell's title).
function shortWorker(name) {
  const dot = name.indexOf(".");
  return dot < 0 ? short(name) : short(name.slice(0, dot)) + name.slice(dot);
}
function sum(values) { return values.reduce(function (a, b) { return a + b; }, 0); }

// ---- charts -----------------------------------------------------------------------------
function lineChart(points, width, height) {
  const padL = 70, padR = 12, padT = 10, padB = 24;
  const w = width - padL - padR, h = height - padT - padB;
  if (!points.length) return '<div class="empty">No data yet</div>';
  const max = Math.max.apply(null, points.map(function (p) { return p.hash_rate; })) || 1;
  const t0 = points[0].t, t1 = points[points.length - 1].t || t0 + 1;
  const x = function (t) { return padL + (t1 === t0 ? 0 : (t - t0) / (t1 - t0) * w); };
  const y = function (v) { return padT + h - v / max * h; };
  const line = points.map(function (p, i) {
    return (i ? "L" : "M") + x(p.t).toFixed(1) + " " + y(p.hash_rate).toFixed(1);
  }).join(" ");
  const area = line + " L" + x(t1).toFixed(1) + " " + (padT + h) + " L" + x(t0).toFixed(1) + " " + (padT + h) + " Z";
  let grid = "";
  for (let i = 0; i <= 4; i += 1) {
    const v = max * i / 4;
    grid += '<line class="grid" x1="' + padL + '" x2="' + (padL + w) + '" y1="' + y(v) + '" y2="' + y(v) + '"/>' +
      '<text x="' + (padL - 8) + '" y="' + (y(v) + 4) + '" text-anchor="end">' + esc(hashRate(v)) + "</text>";
  }
  let labels = "";
  for (let i = 0; i <= 4; i += 1) {
    const t = t0 + (t1 - t0) * i / 4;
    const d = new Date(t * 1000);
    const text = (t1 - t0 > 86400 ? (d.getUTCMonth() + 1) + "/" + d.getUTCDate() + " " : "") +
      d.toISOString().slice(11, 16);
    const anchor = i === 0 ? "start" : i === 4 ? "end" : "middle";
    labels += '<text x="' + x(t) + '" y="' + (height - 6) + '" text-anchor="' + anchor + '">' + text + "</text>";
  }
  return '<svg class="chart" viewBox="0 0 ' + width + " " + height + '" preserveAspectRatio="none">' +
    '<defs><linearGradient id="fill" x1="0" x2="0" y1="0" y2="1"><stop offset="0" stop-color="#f7931a" stop-opacity=".35"/>' +
    '<stop offset="1" stop-color="#f7931a" stop-opacity="0"/></linearGradient></defs>' + grid + labels +
    '<path d="' + area + '" fill="url(#fill)"/><path d="' + line + '" fill="none" stroke="#f7931a" stroke-width="1.8"/></svg>';
}
function sparkline(values) {
  const width = 120, height = 28;
  if (!values.length) return "";
  const max = Math.max.apply(null, values) || 1;
  const pts = values.map(function (v, i) {
    return (i / Math.max(1, values.length - 1) * width).toFixed(1) + "," + (height - 2 - v / max * (height - 4)).toFixed(1);
  }).join(" ");
  return '<svg width="' + width + '" height="' + height + '" viewBox="0 0 ' + width + " " + height +
    '"><polyline points="' + pts + '" fill="none" stroke="#5aa9ff" stroke-width="1.5"/></svg>';
}

// ---- data -------------------------------------------------------------------------------
async function api(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(path + ": " + response.status + " " + (await response.text()).trim());
  return response.json();
}
const state = { ui: null, range: "1h", timer: null, page: null, blocks: [] };
function card(label, value, sub, key, small) {
  return '<div class="card"><div class="label">' + esc(label) + '</div><div class="value' + (small ? " small" : "") + '"' +
    (key ? ' data-live="' + key + '"' : "") + ">" + value + "</div>" +
    (sub ? '<div class="sub">' + sub + "</div>" : "") + "</div>";
}
function tabs(active) {
  return '<div class="tabs">' + ["1h", "24h", "7d"].map(function (r) {
    return '<button data-range="' + r + '" class="' + (r === active ? "active" : "") + '">' + r + "</button>";
  }).join("") + "</div>";
}
function rejects(map) {
  const parts = Object.keys(map || {}).filter(function (k) { return map[k] > 0; })
    .map(function (k) { return esc(k) + " " + count(map[k]); });
  return parts.length ? parts.join(", ") : '<span class="muted">—</span>';
}
function explorer(block) {
  const pattern = state.ui && state.ui.explorer_url;
  if (!pattern) return '<span class="mono" title="' + esc(block.hash) + '">' + esc(short(block.hash)) + "</span>";
  const url = pattern.replace("{hash}", block.hash).replace("{height}", String(block.height));
  return '<a class="mono" href="' + esc(url) + '" target="_blank" rel="noopener" title="' + esc(block.hash) + '">' +
    esc(short(block.hash)) + "</a>";
}
function outcomeBadge(outcome) {
  const kind = outcome === "accepted" ? "good" : outcome === "pending" || outcome === "inconclusive" ? "warn" :
    outcome === "duplicate" ? "neutral" : "bad";
  return '<span class="badge ' + kind + '">' + esc(outcome) + "</span>";
}

// ---- pages ------------------------------------------------------------------------------
function poolCards(p) {
  const rejected = sum(Object.values(p.rejected || {}));
  return card("Hash rate 10 min", esc(hashRate(p.hash_rate.m10)),
      "1 min " + esc(hashRate(p.hash_rate.m1)) + " · 1 h " + esc(hashRate(p.hash_rate.h1)), "m10") +
    card("Hash rate 24 h", esc(hashRate(p.hash_rate.h24)), "from accepted share work", "h24") +
    card("Workers online", count(p.workers_online), count(p.workers) + " known · " + count(p.connections) + " connections", "workers_online") +
    card("Shares accepted", count(p.accepted), count(rejected) + " rejected", "accepted") +
    card("Best share", esc(difficulty(p.best_difficulty)), "last share " + esc(ago(p.last_share, p.now)), "best") +
    card("Blocks found", count(p.blocks_found), '<a href="#/blocks">all blocks</a>', "blocks_found");
}
function outcomesPanel(p) {
  const rows = [["accepted", p.accepted, "good"]].concat(Object.keys(p.rejected || {}).map(function (k) {
    return [k, p.rejected[k], "bad"];
  }));
  const total = Math.max(1, sum(rows.map(function (r) { return r[1]; })));
  return '<div class="outcomes">' + rows.map(function (r) {
    return '<div class="outcome"><span>' + esc(r[0]) + '</span><div class="bar' + (r[2] === "good" ? "" : " blue") +
      '"><span style="width:' + (r[1] / total * 100).toFixed(1) + '%"></span></div><span class="num">' + count(r[1]) + "</span></div>";
  }).join("") + "</div>";
}
function jobPanel(j) {
  if (!j.ready) return '<div class="empty">No job yet: waiting for the node\'s first template</div>';
  return '<div class="kv">' +
    "<div>Height</div><div id=\"job-height\">" + count(j.height) + "</div>" +
    "<div>Previous block</div><div class=\"mono\">" + esc(short(j.previous_block)) + "</div>" +
    "<div>Transactions</div><div>" + count(j.transactions) + "</div>" +
    "<div>Fees</div><div>" + esc(btc(j.fees_sats)) + "</div>" +
    "<div>Coinbase value</div><div>" + esc(btc(j.coinbase_value_sats)) + "</div>" +
    "<div>Network difficulty</div><div>" + esc(difficulty(j.network_difficulty)) + "</div>" +
    "<div>Shares in the window</div><div>" + count(j.window_shares) + "</div></div>";
}
function windowPanel(j) {
  if (!j.ready || !j.window.length) return '<div class="empty">Nobody in the window yet</div>';
  const total = Math.max(1, sum(j.window.map(function (p) { return p.sats; })));
  return "<table><tr><th>Paid in the next block</th><th>Share</th><th class=\"num\">Amount</th></tr>" +
    j.window.map(function (p) {
      return '<tr><td class="mono">' + esc(p.address) + '</td><td><div class="bar"><span style="width:' +
        (p.sats / total * 100).toFixed(1) + '%"></span></div></td><td class="num">' + esc(btc(p.sats)) + "</td></tr>";
    }).join("") + "</table>";
}
async function poolPage(main) {
  const [p, j] = await Promise.all([api("/api/v1/pool?range=" + state.range), api("/api/v1/job/window")]);
  main.innerHTML = "<h1>Pool</h1>" +
    '<div class="cards" id="pool-cards">' + poolCards(p) + "</div>" +
    '<div class="panel"><div class="panel-head"><h2>Pool hash rate</h2>' + tabs(state.range) + "</div>" +
    '<div id="pool-chart">' + lineChart(p.chart.points, 1000, 260) + "</div></div>" +
    '<div class="row"><div class="panel"><h2>Current job</h2>' + jobPanel(j) + "</div>" +
    '<div class="panel"><h2>Shares by outcome</h2><div id="pool-outcomes">' + outcomesPanel(p) + "</div></div></div>" +
    '<div class="panel"><h2>PPLNS window</h2>' + windowPanel(j) + "</div>";
  main.dataset.accepted = String(p.accepted);
  main.dataset.jobHeight = String(j.height);
}
function livePool(p) {
  const cards = document.getElementById("pool-cards");
  if (cards) {
    cards.innerHTML = poolCards(p);
    document.getElementById("pool-outcomes").innerHTML = outcomesPanel(p);
    document.getElementById("main").dataset.accepted = String(p.accepted);
  }
}
function workerRow(w, now) {
  return '<tr data-worker="' + esc(w.name) + '"><td><span class="dot' + (w.online ? " on" : "") + '"></span>' +
    '<a class="mono" href="#/worker/' + encodeURIComponent(w.name) + '">' + esc(w.name) + "</a></td>" +
    '<td class="num">' + esc(hashRate(w.hash_rate.m1)) + '</td><td class="num">' + esc(hashRate(w.hash_rate.m10)) +
    '</td><td class="num">' + esc(hashRate(w.hash_rate.h1)) + "</td><td>" + sparkline(w.sparkline) + "</td>" +
    "<td>" + esc(ago(w.last_share, now)) + '</td><td class="num">' + esc(difficulty(w.best_difficulty)) +
    '</td><td class="num">' + count(w.accepted) + "</td><td>" + rejects(w.rejected) + "</td></tr>";
}
async function workersPage(main) {
  const v = await api("/api/v1/workers");
  const online = v.workers.filter(function (w) { return w.online; }).length;
  main.innerHTML = "<h1>Workers <span class=\"muted\">" + online + " online of " + v.workers.length + "</span></h1>" +
    '<div class="panel">' + (v.workers.length ? "<table id=\"workers\"><tr><th>Worker</th><th class=\"num\">1 min</th>" +
      '<th class="num">10 min</th><th class="num">1 h</th><th>Last hour</th><th>Last share</th>' +
      '<th class="num">Best share</th><th class="num">Accepted</th><th>Rejected</th></tr>' +
      v.workers.map(function (w) { return workerRow(w, v.now); }).join("") + "</table>"
      : '<div class="empty">No worker has sent a share yet</div>') + "</div>";
}
async function workerPage(main, name) {
  const d = await api("/api/v1/worker/" + encodeURIComponent(name) + "?range=" + state.range);
  const w = d.worker;
  main.innerHTML = '<h1><a href="#/workers">Workers</a> / <span class="mono" id="worker-name">' + esc(w.name) + "</span> " +
    (w.online ? '<span class="badge good">online</span>' : '<span class="badge bad">offline</span>') + "</h1>" +
    '<div class="cards">' + card("Hash rate 1 min", esc(hashRate(w.hash_rate.m1))) +
    card("Hash rate 10 min", esc(hashRate(w.hash_rate.m10))) + card("Hash rate 1 h", esc(hashRate(w.hash_rate.h1))) +
    card("Hash rate 24 h", esc(hashRate(w.hash_rate.h24))) +
    card("Best share", esc(difficulty(w.best_difficulty)), "last share " + esc(ago(w.last_share, d.now))) +
    card("Shares", count(w.accepted), "rejected: " + rejects(w.rejected)) + "</div>" +
    '<div class="panel"><div class="panel-head"><h2>Hash rate</h2>' + tabs(state.range) + "</div>" +
    lineChart(d.chart.points, 1000, 260) + "</div>";
}
function blockRows(blocks) {
  return blocks.map(function (b) {
    return '<tr data-hash="' + esc(b.hash) + '"><td class="num">' + count(b.height) + '</td><td class="nowrap">' + explorer(b) +
      '</td><td class="nowrap">' + esc(clock(b.time)) + '</td><td class="mono" title="' + esc(b.worker) + '">' + esc(shortWorker(b.worker)) + "</td><td>" + outcomeBadge(b.outcome) +
      '</td><td class="num">' + esc(btc(b.reward_sats)) + '</td><td class="split">' + b.split.slice(0, 3).map(function (p) {
        return '<span class="mono nowrap">' + esc(short(p.address)) + "</span> " + esc(btc(p.sats));
      }).join("<br>") + (b.split.length > 3 ? "<br>+" + (b.split.length - 3) + " more" : "") + "</td></tr>";
  }).join("");
}
function renderBlocks(v) {
  const box = document.getElementById("blocks");
  if (!box) return;
  document.getElementById("blocks-count").textContent = String(v.total);
  box.innerHTML = v.blocks.length ? "<table><tr><th class=\"num\">Height</th><th>Hash</th><th>Found</th><th>Worker</th>" +
    '<th>submitblock</th><th class="num">Reward</th><th>Split</th></tr>' + blockRows(v.blocks.slice(0, 200)) + "</table>" +
    (v.total > Math.min(200, v.blocks.length) ? '<div class="empty">' + (v.total - Math.min(200, v.blocks.length)) +
      ' older blocks not shown: <a href="/api/v1/blocks">all of them as JSON</a></div>' : "")
    : '<div class="empty">No block found yet</div>';
}
// The blocks the page holds: the list fetched, then every block an event brings (an event
// carries only the newest ones), merged by hash, newest first.
function mergeBlocks(v) {
  const known = new Map((state.blocks || []).map(function (b) { return [b.hash, b]; }));
  v.blocks.forEach(function (b) { known.set(b.hash, b); });
  const all = Array.from(known.values()).sort(function (a, b) { return b.time - a.time || b.height - a.height; });
  state.blocks = all.slice(0, 200);
  return { total: Math.max(v.total, state.blocks.length), blocks: state.blocks };
}
async function blocksPage(main) {
  state.blocks = [];
  const v = mergeBlocks(await api("/api/v1/blocks"));
  main.innerHTML = '<h1>Blocks <span class="muted" id="blocks-count"></span></h1><div class="panel" id="blocks"></div>';
  renderBlocks(v);
}
function resourceBar(used, offered) {
  const total = used + offered;
  return '<div class="bar blue" title="used ' + used.toFixed(2) + " of " + total.toFixed(2) + '"><span style="width:' +
    (total ? used / total * 100 : 0).toFixed(1) + '%"></span></div>';
}
function stateBadge(s) {
  const kind = s === "RUNNING" ? "good" : s === "STAGING" || s === "STARTING" || s === "KILLING" || s === "UNREACHABLE" ? "warn" : "bad";
  return '<span class="badge ' + kind + '">' + esc(s) + "</span>";
}
async function clusterPage(main) {
  const c = await api("/api/v1/cluster");
  main.innerHTML = "<h1>Cluster</h1>" +
    '<div class="cards">' + card("Framework", c.connected ? '<span class="badge good">subscribed</span>' : '<span class="badge bad">disconnected</span>',
      '<span class="mono" id="framework-id">' + esc(c.framework_id || "not registered") + "</span>") +
    card("Master", '<span class="mono">' + esc(c.master || "—") + "</span>", count(c.subscriptions) + " subscriptions", null, true) +
    card("Tasks", count(c.tasks.length), c.tasks.filter(function (t) { return t.state === "RUNNING"; }).length + " running, " +
      '<span id="revocable-cpus">' + c.revocable_cpus.toFixed(2) + "</span> revocable CPUs") +
    card("Total hash rate", esc(hashRate(c.total_hash_rate)), "executors' reports") + "</div>" +
    '<div class="panel"><h2>Agents</h2>' + (c.agents.length ? "<table><tr><th>Agent</th><th>Host</th>" +
      '<th class="num">CPUs used</th><th class="num">CPUs offered</th><th></th><th class="num">Mem used</th><th class="num">Mem offered</th><th></th><th>Last offer</th></tr>' +
      c.agents.map(function (a) {
        return '<tr><td class="mono">' + esc(a.id) + "</td><td>" + esc(a.hostname) + '</td><td class="num">' + a.used_cpus.toFixed(2) +
          '</td><td class="num">' + a.offered_cpus.toFixed(2) + "</td><td>" + resourceBar(a.used_cpus, a.offered_cpus) +
          '</td><td class="num">' + count(Math.round(a.used_mem_mb)) + ' MB</td><td class="num">' + count(Math.round(a.offered_mem_mb)) +
          " MB</td><td>" + resourceBar(a.used_mem_mb, a.offered_mem_mb) + "</td><td>" + esc(ago(a.last_offer, c.now)) + "</td></tr>";
      }).join("") + "</table>" : '<div class="empty">No agent has offered yet</div>') + "</div>" +
    '<div class="panel"><h2>Tasks</h2>' + (c.tasks.length ? "<table id=\"tasks\"><tr><th>Task</th><th>Kind</th><th>State</th><th>Agent</th>" +
      '<th class="num">CPUs</th><th>CPU kind</th><th class="num">Mem</th><th class="num">Hash rate</th><th class="num">Per CPU</th><th class="num">Accepted</th><th>Launched</th></tr>' +
      c.tasks.map(function (t) {
        const cpuKind = t.revocable ? "revocable" : "regular";
        return '<tr data-task="' + esc(t.id) + '" data-cpu-kind="' + cpuKind + '"><td class="mono">' + esc(t.id) + "</td><td>" + esc(t.kind) + "</td><td>" + stateBadge(t.state) +
          "</td><td>" + esc(t.hostname || t.agent) + '</td><td class="num">' + t.cpus.toFixed(2) + "</td><td>" +
          '<span class="badge ' + (t.revocable ? "warn" : "neutral") + '" title="' + (t.revocable ? "oversubscribed slack: Mesos may take it back" : "regular resources") + '">' + cpuKind + "</span>" +
          '</td><td class="num">' +
          count(Math.round(t.mem_mb)) + ' MB</td><td class="num">' + (t.hash_rate == null ? "—" : esc(hashRate(t.hash_rate))) +
          '</td><td class="num">' + (t.hash_rate_per_cpu == null ? "—" : esc(hashRate(t.hash_rate_per_cpu))) +
          '</td><td class="num">' + (t.accepted == null ? "—" : count(t.accepted)) + "</td><td>" + esc(ago(t.launched_at, c.now)) + "</td></tr>";
      }).join("") + "</table>" : '<div class="empty">No task</div>') + "</div>" +
    '<div class="panel"><h2>Recent task events</h2>' + (c.events.length ? "<table><tr><th>When</th><th>Task</th><th>State</th><th>Reason</th><th>Message</th></tr>" +
      c.events.slice(0, 30).map(function (e) {
        return "<tr><td>" + esc(clock(e.time)) + '</td><td class="mono">' + esc(e.task_id) + "</td><td>" + stateBadge(e.state) +
          "</td><td>" + esc(e.reason || "") + '</td><td class="muted">' + esc(e.message || "") + "</td></tr>";
      }).join("") + "</table>" : '<div class="empty">No task event yet</div>') + "</div>";
}

// ---- routing and live updates -----------------------------------------------------------
const pages = { pool: [poolPage, 15000], workers: [workersPage, 5000], worker: [workerPage, 10000],
  blocks: [blocksPage, 0], cluster: [clusterPage, 3000] };
async function render() {
  const hash = location.hash.replace(/^#\/?/, "") || "pool";
  const slash = hash.indexOf("/");
  let page = slash < 0 ? hash : hash.slice(0, slash);
  const arg = slash < 0 ? "" : decodeURIComponent(hash.slice(slash + 1));
  if (!pages[page] || (page === "cluster" && !state.ui.cluster)) page = "pool";
  state.page = page;
  document.querySelectorAll("nav a").forEach(function (a) {
    a.classList.toggle("active", a.dataset.page === (page === "worker" ? "workers" : page));
  });
  clearTimeout(state.timer);
  const main = document.getElementById("main");
  const run = async function () {
    try {
      await pages[page][0](main, arg);
      document.body.dataset.ready = "1";
      document.body.dataset.page = page;
    } catch (e) {
      reportError(e.message || String(e));
    }
    if (pages[page][1] && state.page === page) state.timer = setTimeout(run, pages[page][1]);
  };
  await run();
}
function connect() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/v1/events");
  source.onopen = function () { live.textContent = "live"; live.classList.add("on"); };
  source.onerror = function () { live.textContent = "reconnecting"; live.classList.remove("on"); };
  source.addEventListener("pool", function (event) {
    const p = JSON.parse(event.data);
    if (state.page === "pool") livePool(p);
  });
  source.addEventListener("blocks", function (event) {
    const v = JSON.parse(event.data);
    document.getElementById("nav-blocks").textContent = v.total ? String(v.total) : "";
    if (state.page === "blocks") renderBlocks(mergeBlocks(v));
  });
}
document.addEventListener("click", function (event) {
  const button = event.target.closest("button[data-range]");
  if (button) { state.range = button.dataset.range; render(); }
});
window.addEventListener("hashchange", render);
(async function start() {
  try {
    state.ui = await api("/api/v1/ui");
  } catch (e) {
    reportError(e.message || String(e));
    state.ui = { served_by: "?", cluster: false, explorer_url: null };
  }
  document.getElementById("nav-cluster").hidden = !state.ui.cluster;
  document.getElementById("served-by").textContent = "served by the " + state.ui.served_by +
    (state.ui.network ? " · " + state.ui.network : "");
  await render();
  connect();
})();
