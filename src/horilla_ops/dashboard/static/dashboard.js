// The dashboard page: asks /api/status every few seconds and /api/history every
// minute, and draws both. No framework: Chart.js (Debian's libjs-chart.js) for graphs.
"use strict";

const body = document.body;
const REFRESH_MS = Number(body.dataset.refreshMs) || 5000;
const HISTORY_MS = 60000;
const THRESHOLDS = JSON.parse(body.dataset.thresholds || "{}");
const charts = {};
// Chart.js 3 draws every series grey unless told: one colour per series, in turn.
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39"];

// Announced maintenance (horilla-maintenance), shaded behind every graph's lines:
// Chart.js 3 has no annotations without a plugin Debian does not ship. Each chart's
// canvas says how many periods it drew (data-maintenance-drawn), for the browser test.
const maintenanceBands = {
  id: "maintenance",
  beforeDatasetsDraw(chart, _args, options) {
    const { ctx, chartArea, scales } = chart;
    let drawn = 0;
    ctx.save();
    ctx.fillStyle = "rgba(255, 152, 0, 0.4)";
    for (const [from, to] of options.windows || []) {
      const left = Math.max(chartArea.left, scales.x.getPixelForValue(from));
      const right = Math.min(chartArea.right, scales.x.getPixelForValue(to));
      if (right < left) continue;
      ctx.fillRect(left, chartArea.top, Math.max(4, right - left), chartArea.bottom - chartArea.top);
      drawn += 1;
    }
    ctx.restore();
    chart.canvas.dataset.maintenanceDrawn = String(drawn);
  },
};

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function row(cells, className) {
  const tr = el("tr", null, className);
  for (const cell of cells) tr.appendChild(cell instanceof Node ? cell : el("td", cell));
  return tr;
}

function fill(tableId, rows) {
  const tbody = document.querySelector(`#${tableId} tbody`);
  tbody.replaceChildren(...(rows.length ? rows : [row(["none"])]));
}

function pct(value, digits = 0) {
  return value === null || value === undefined ? "-" : `${value.toFixed(digits)} %`;
}

function when(value) {
  if (!value) return "-";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return date.toLocaleString();
}

function definitions(id, pairs) {
  const dl = document.getElementById(id);
  dl.replaceChildren();
  for (const [term, value, className] of pairs) {
    dl.appendChild(el("dt", term));
    const dd = el("dd", value, className);
    dl.appendChild(dd);
  }
}

function showStatus(state) {
  const error = document.getElementById("error");
  const overall = document.getElementById("overall");
  document.getElementById("updated").textContent = `updated ${when(state.generated_at)}`;
  if (state.error) {
    error.textContent = `Prometheus: ${state.error}`;
    error.hidden = false;
    overall.textContent = "NO DATA";
    overall.className = "badge attention";
    return;
  }
  error.hidden = true;
  overall.textContent = state.ok ? "OK" : `ATTENTION (${state.problems.length})`;
  overall.className = `badge ${state.ok ? "ok" : "attention"}`;
  document.getElementById("problems-section").hidden = state.ok;
  document.getElementById("problems").replaceChildren(...state.problems.map((p) => el("li", p)));

  fill(
    "tiers",
    state.tiers.map((t) => {
      const tr = row([t.name, t.job, `${t.up}/${t.total}`, t.down.join(", ") || "-"], t.down.length ? "down" : "up");
      tr.dataset.job = t.job;
      return tr;
    }),
  );
  fill(
    "hosts",
    state.hosts.map((h) => {
      const bad = !h.up || h.failed_probes.length > 0;
      const tr = row(
        [
          h.instance,
          h.up ? "yes" : "DOWN",
          pct(h.cpu_percent),
          pct(h.memory_percent),
          pct(h.disk_free_percent, 1),
          h.failed_probes.join(", ") || "-",
        ],
        bad ? "down" : "up",
      );
      tr.dataset.host = h.instance;
      tr.dataset.up = String(h.up);
      return tr;
    }),
  );

  const lag = Object.entries(state.replication_lag_seconds || {})
    .map(([i, v]) => `${i} ${v.toFixed(1)} s`)
    .join(", ");
  const backends = Object.entries(state.haproxy_backends || {})
    .map(([p, n]) => `${p} ${n} up`)
    .join(", ");
  const external = Object.entries(state.external_services || {})
    .map(([n, ok]) => `${n} ${ok ? "up" : "DOWN"}`)
    .join(", ");
  const one = (list) => (list === null ? ["not monitored", ""] : [list.join(", ") || "NONE", list.length === 1 ? "up" : "down"]);
  const [leader, leaderClass] = one(state.postgres_leader);
  const [primary, primaryClass] = one(state.redis_primary);
  const p95 = state.response_time_p95_ms;
  definitions("health", [
    ["PostgreSQL leader", leader, leaderClass],
    ["Replication lag", lag || "-"],
    ["Redis primary", primary, primaryClass],
    ["HAProxy backends", backends || "-", Object.values(state.haproxy_backends || {}).includes(0) ? "down" : "up"],
    ["Response time p95", p95 === null ? "-" : `${p95.toFixed(0)} ms`, p95 !== null && p95 > THRESHOLDS.p95_ms ? "down" : ""],
    ["External services", external || "none configured"],
  ]);

  const sla = state.sla;
  const remaining = sla.error_budget_remaining_percent;
  definitions("sla", [
    ["Objective", `${sla.objective_percent} %`],
    ["Availability", sla.availability_percent === null ? "no data yet" : `${sla.availability_percent.toFixed(4)} %`],
    ["Downtime", `${(sla.downtime_seconds || 0).toFixed(0)} s of ${sla.error_budget_seconds.toFixed(0)} s allowed`],
    ["Budget left", pct(remaining, 1), remaining !== null && remaining <= 0 ? "down" : ""],
  ]);
  document.getElementById("budget-bar").style.width = `${Math.max(0, Math.min(100, remaining ?? 0))}%`;

  const am = state.alertmanager || { alerts: [] };
  // Red: what pages or warns and is not silenced for a maintenance; info stays plain.
  const amRows = am.alerts.map((a) =>
    row(
      [a.name, a.severity, a.instance || "-", a.silenced ? "silenced (maintenance)" : a.state, when(a.since)],
      !a.silenced && ["critical", "warning"].includes(a.severity) ? "down" : "",
    ),
  );
  if (am.error) amRows.unshift(row([`Alertmanager: ${am.error}`]));
  fill("alerts-now", amRows);
}

function showHistory(data) {
  if (data.error || typeof Chart === "undefined") return;
  // A sample stands for its step: a period runs until one step after its last sample.
  const windows = data.maintenance.map((m) => [m.started * 1000, (m.last_seen + data.step) * 1000]);
  for (const [name, series] of Object.entries(data.graphs)) {
    const canvas = document.getElementById(`chart-${name}`);
    if (!canvas) continue;
    const datasets = series.map((s, i) => ({
      label: s.instance || name,
      data: s.points.map(([t, v]) => ({ x: t * 1000, y: v })),
      borderColor: PALETTE[i % PALETTE.length],
      backgroundColor: PALETTE[i % PALETTE.length],
      pointRadius: 0,
      borderWidth: 1.5,
    }));
    if (charts[name]) {
      const chart = charts[name];
      chart.data.datasets = datasets;
      // The window moves on with every answer.
      chart.options.scales.x.min = data.start * 1000;
      chart.options.scales.x.max = data.end * 1000;
      chart.options.plugins.maintenance.windows = windows;
      chart.update("none");
      continue;
    }
    charts[name] = new Chart(canvas, {
      type: "line",
      data: { datasets },
      plugins: [maintenanceBands],
      options: {
        animation: false,
        parsing: false,
        scales: {
          x: {
            type: "linear",
            min: data.start * 1000,
            max: data.end * 1000,
            ticks: { callback: (v) => new Date(v).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) },
          },
          y: { beginAtZero: true },
        },
        plugins: { legend: { labels: { boxWidth: 10 } }, maintenance: { windows } },
      },
    });
  }
  fill(
    "alerts-history",
    data.alerts.map((a) => row([a.name, a.severity, a.instance || "-", when(a.started), when(a.last_seen)])),
  );
  fill(
    "maintenance-history",
    data.maintenance.map((m) => row([m.reason || "-", when(m.started), when(m.last_seen)])),
  );
}

async function get(path) {
  const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (response.status === 401) {
    window.location.assign("/login");
    throw new Error("logged out");
  }
  return response.json();
}

async function refreshStatus() {
  try {
    showStatus(await get("/api/status"));
  } catch (err) {
    const error = document.getElementById("error");
    error.textContent = `The dashboard cannot be reached: ${err.message}`;
    error.hidden = false;
  } finally {
    setTimeout(refreshStatus, REFRESH_MS);
  }
}

// Every minute; after a failure, again at the status' pace.
async function refreshHistory() {
  let next = HISTORY_MS;
  try {
    const data = await get("/api/history");
    if (data.error) next = REFRESH_MS;
    showHistory(data);
  } catch (err) {
    next = REFRESH_MS;
  } finally {
    setTimeout(refreshHistory, next);
  }
}

refreshStatus();
refreshHistory();
