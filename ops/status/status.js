// The /status page: polls /status/data once a second and draws uPlot charts.
// Time series keep the last HISTORY samples in the page; bar charts show the
// latest snapshot. Plain browser script, no build step.
'use strict';

const HISTORY = 120;
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const history = { time: [], threads: new Map(), lag: new Map(), bound: [], negotiating: [], links: [] };
const charts = {};

function width(section) {
  return Math.max(document.getElementById(section).clientWidth - 24, 300);
}

/** A time-series chart in `section` for the named series; rebuilt when the set of series changes. */
function timeChart(section, names, data) {
  const key = names.join('|');
  let chart = charts[section];
  if (chart === undefined || chart.key !== key) {
    chart?.plot.destroy();
    const series = [{}, ...names.map((name, index) => ({ label: name, stroke: COLORS[index % COLORS.length], width: 2 }))];
    const scales = {
      // The last HISTORY seconds, from the first sample on.
      x: { range: (u, min, max) => [max - HISTORY, max] },
      y: { range: (u, min, max) => [0, Math.max(max, 0.01)] },
    };
    const plot = new uPlot({ width: width(section), height: 220, series, scales, legend: { live: false } }, data, document.getElementById(section));
    chart = charts[section] = { key, plot };
  } else chart.plot.setData(data);
  chart.plot.root.dataset.series = names.join(',');
  chart.plot.root.dataset.last = names.map((_, index) => data[index + 1].at(-1)).join(',');
}

/** A bar chart of labelled values; the x axis shows the labels. */
function barChart(section, labels, values, color) {
  const element = document.getElementById(section);
  element.querySelector('.empty')?.remove();
  const key = labels.join('|');
  let chart = charts[section];
  const data = [labels.map((_, index) => index), values];
  if (chart === undefined || chart.key !== key) {
    chart?.plot.destroy();
    const plot = new uPlot(
      {
        width: width(section),
        height: 220,
        scales: { x: { time: false, range: [-0.5, Math.max(labels.length - 0.5, 0.5)] }, y: { range: (u, min, max) => [0, Math.max(max, 1)] } },
        axes: [{ values: (u, ticks) => ticks.map((tick) => labels[tick] ?? ''), splits: () => labels.map((_, index) => index) }, {}],
        series: [{}, { label: section, fill: color, stroke: color, paths: uPlot.paths.bars({ size: [0.6, 80] }), points: { show: false } }],
        legend: { show: false },
      },
      data,
      element,
    );
    chart = charts[section] = { key, plot };
  } else chart.plot.setData(data);
  chart.plot.root.dataset.labels = labels.join(',');
  chart.plot.root.dataset.values = values.join(',');
}

function push(list, value) {
  list.push(value);
  if (list.length > HISTORY) list.shift();
}

function record(status) {
  push(history.time, status.time / 1000);
  for (const [map, field] of [[history.threads, 'utilization'], [history.lag, 'lagMs']]) {
    for (const thread of status.threads) {
      if (!map.has(thread.name)) map.set(thread.name, new Array(history.time.length - 1).fill(null));
    }
    for (const [name, values] of map) {
      const thread = status.threads.find((candidate) => candidate.name === name);
      push(values, thread === undefined ? null : thread[field]);
    }
  }
  push(history.bound, status.sessions.bound);
  push(history.negotiating, status.sessions.negotiating);
  push(history.links, status.sessions.componentLinksUp);
}

function draw(status) {
  const names = [...history.threads.keys()];
  timeChart('load', names, [history.time, ...names.map((name) => history.threads.get(name))]);
  timeChart('lag', names, [history.time, ...names.map((name) => history.lag.get(name))]);
  timeChart('sessions', ['bound', 'negotiating', 'component links up'], [history.time, history.bound, history.negotiating, history.links]);
  barChart('rooms', status.roomSizes.map((bucket) => bucket.label), status.roomSizes.map((bucket) => bucket.rooms), '#1f77b4');
  const limits = document.getElementById('limits');
  if (status.limitHits.length === 0) {
    charts.limits?.plot.destroy();
    delete charts.limits;
    if (!limits.querySelector('.empty')) limits.insertAdjacentHTML('beforeend', '<p class="empty">No limit was hit in the last 10 minutes.</p>');
  } else {
    barChart('limits', status.limitHits.map((hit) => hit.limit), status.limitHits.map((hit) => hit.hits), '#d62728');
  }
  document.getElementById('summary').textContent =
    `${status.sessions.bound} sessions · ${status.rooms} rooms · ${status.occupants} occupants · ` +
    `${status.threads.length} threads · updated ${new Date(status.time).toLocaleTimeString()}`;
  document.body.dataset.updates = String(Number(document.body.dataset.updates ?? 0) + 1);
}

async function poll() {
  try {
    const response = await fetch('/status/data', { cache: 'no-store' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const status = await response.json();
    record(status);
    draw(status);
  } catch (err) {
    document.getElementById('summary').textContent = `cannot reach the server: ${err.message}`;
  }
  setTimeout(poll, 1000);
}

poll();
