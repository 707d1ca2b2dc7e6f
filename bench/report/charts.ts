// SVG charts for the report, written by hand: grouped bars (a figure per server
// per workload) and lines on logarithmic axes (latency against offered load).
// Plain SVG 1.1 with inline styles, so that it renders on GitHub and in browsers.

import { escapeAttribute, escapeText } from '../../src/xml/escape.js';

export interface BarChart {
  title: string;
  /** The unit of the values, shown on the axis. */
  unit: string;
  groups: string[];
  series: { name: string; color: string; values: (number | null)[] }[];
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: { name: string; color: string; points: [number, number][] }[];
  /** A horizontal reference line, e.g. the latency limit. */
  threshold?: { y: number; label: string };
}

const WIDTH = 760;
const HEIGHT = 380;
const MARGIN = { top: 48, right: 24, bottom: 64, left: 76 };
const PLOT_WIDTH = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_HEIGHT = HEIGHT - MARGIN.top - MARGIN.bottom;
const FONT = "font-family='sans-serif'";

/** 1234 → "1.23k", 0.5 → "0.5". */
export function compact(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${trim(value / 1e6)}M`;
  if (abs >= 1e3) return `${trim(value / 1e3)}k`;
  return trim(value);
}

function trim(value: number): string {
  return String(Number(value.toPrecision(3)));
}

function text(x: number, y: number, content: string, attributes = '', size = 12): string {
  return `<text x='${x.toFixed(1)}' y='${y.toFixed(1)}' ${FONT} font-size='${size}' ${attributes}>${escapeText(content)}</text>`;
}

function frame(title: string, body: string[], legend: { name: string; color: string }[]): string {
  const legendItems = legend.map((item, index) => {
    const x = MARGIN.left + index * 150;
    return (
      `<rect x='${x}' y='28' width='12' height='12' fill='${escapeAttribute(item.color)}'/>` +
      text(x + 16, 38, item.name)
    );
  });
  return [
    `<svg xmlns='http://www.w3.org/2000/svg' width='${WIDTH}' height='${HEIGHT}' viewBox='0 0 ${WIDTH} ${HEIGHT}'>`,
    `<rect width='${WIDTH}' height='${HEIGHT}' fill='white'/>`,
    text(WIDTH / 2, 18, title, "text-anchor='middle' font-weight='bold'", 14),
    ...legendItems,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/** A round upper bound for a linear axis and its tick step. */
function niceScale(max: number): { top: number; step: number } {
  if (max <= 0) return { top: 1, step: 0.2 };
  const rough = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * magnitude).find((s) => s >= rough)!;
  return { top: Math.ceil(max / step) * step, step };
}

export function renderBarChart(chart: BarChart): string {
  const values = chart.series.flatMap((series) => series.values.filter((v): v is number => v !== null));
  const { top, step } = niceScale(Math.max(0, ...values));
  const y = (value: number): number => MARGIN.top + PLOT_HEIGHT - (value / top) * PLOT_HEIGHT;
  const body: string[] = [];
  for (let tick = 0; tick <= top + step / 2; tick += step) {
    body.push(`<line x1='${MARGIN.left}' x2='${WIDTH - MARGIN.right}' y1='${y(tick)}' y2='${y(tick)}' stroke='#ddd'/>`);
    body.push(text(MARGIN.left - 6, y(tick) + 4, compact(tick), "text-anchor='end'"));
  }
  body.push(text(16, MARGIN.top + PLOT_HEIGHT / 2, chart.unit, `text-anchor='middle' transform='rotate(-90 16 ${MARGIN.top + PLOT_HEIGHT / 2})'`));
  const groupWidth = PLOT_WIDTH / Math.max(1, chart.groups.length);
  const barWidth = (groupWidth * 0.8) / Math.max(1, chart.series.length);
  chart.groups.forEach((group, g) => {
    const groupX = MARGIN.left + g * groupWidth + groupWidth * 0.1;
    chart.series.forEach((series, s) => {
      const x = groupX + s * barWidth;
      const value = series.values[g] ?? null;
      if (value === null) {
        body.push(text(x + barWidth / 2, y(0) - 4, 'n/a', "text-anchor='middle' fill='#888'"));
        return;
      }
      body.push(
        `<rect x='${x.toFixed(1)}' y='${y(value).toFixed(1)}' width='${(barWidth - 2).toFixed(1)}' ` +
          `height='${(y(0) - y(value)).toFixed(1)}' fill='${escapeAttribute(series.color)}'/>`,
      );
      body.push(text(x + barWidth / 2, y(value) - 4, compact(value), "text-anchor='middle'", 11));
    });
    body.push(text(groupX + groupWidth * 0.4, HEIGHT - MARGIN.bottom + 18, group, "text-anchor='middle'"));
  });
  body.push(`<line x1='${MARGIN.left}' x2='${WIDTH - MARGIN.right}' y1='${y(0)}' y2='${y(0)}' stroke='#333'/>`);
  return frame(chart.title, body, chart.series);
}

/** Ticks at 1, 2 and 5 times the powers of ten within [low, high]. */
function logTicks(low: number, high: number): number[] {
  const ticks: number[] = [];
  for (let power = Math.floor(Math.log10(low)); power <= Math.ceil(Math.log10(high)); power++) {
    for (const factor of [1, 2, 5]) {
      const tick = factor * 10 ** power;
      if (tick >= low && tick <= high) ticks.push(tick);
    }
  }
  return ticks;
}

/** Both axes logarithmic: load and latency both span orders of magnitude. */
export function renderLineChart(chart: LineChart): string {
  const points = chart.series.flatMap((series) => series.points).filter(([x, y]) => x > 0 && y > 0);
  const ys = points.map(([, y]) => y).concat(chart.threshold ? [chart.threshold.y] : []);
  const xs = points.map(([x]) => x);
  const bounds = (values: number[]): [number, number] =>
    values.length === 0
      ? [1, 10]
      : [10 ** Math.floor(Math.log10(Math.min(...values))), 10 ** Math.ceil(Math.log10(Math.max(...values)))];
  const [xLow, xHigh] = bounds(xs);
  const [yLow, yHigh] = bounds(ys);
  const x = (value: number): number =>
    MARGIN.left + ((Math.log10(value) - Math.log10(xLow)) / (Math.log10(xHigh) - Math.log10(xLow))) * PLOT_WIDTH;
  const y = (value: number): number =>
    MARGIN.top + PLOT_HEIGHT - ((Math.log10(value) - Math.log10(yLow)) / (Math.log10(yHigh) - Math.log10(yLow))) * PLOT_HEIGHT;
  const body: string[] = [];
  for (const tick of logTicks(yLow, yHigh)) {
    body.push(`<line x1='${MARGIN.left}' x2='${WIDTH - MARGIN.right}' y1='${y(tick).toFixed(1)}' y2='${y(tick).toFixed(1)}' stroke='#eee'/>`);
    body.push(text(MARGIN.left - 6, y(tick) + 4, compact(tick), "text-anchor='end'"));
  }
  for (const tick of logTicks(xLow, xHigh)) {
    body.push(`<line x1='${x(tick).toFixed(1)}' x2='${x(tick).toFixed(1)}' y1='${MARGIN.top}' y2='${MARGIN.top + PLOT_HEIGHT}' stroke='#eee'/>`);
    body.push(text(x(tick), MARGIN.top + PLOT_HEIGHT + 16, compact(tick), "text-anchor='middle'"));
  }
  body.push(
    `<rect x='${MARGIN.left}' y='${MARGIN.top}' width='${PLOT_WIDTH}' height='${PLOT_HEIGHT}' fill='none' stroke='#333'/>`,
  );
  body.push(text(MARGIN.left + PLOT_WIDTH / 2, HEIGHT - 16, chart.xLabel, "text-anchor='middle'"));
  body.push(text(16, MARGIN.top + PLOT_HEIGHT / 2, chart.yLabel, `text-anchor='middle' transform='rotate(-90 16 ${MARGIN.top + PLOT_HEIGHT / 2})'`));
  if (chart.threshold) {
    const thresholdY = y(chart.threshold.y).toFixed(1);
    body.push(`<line x1='${MARGIN.left}' x2='${WIDTH - MARGIN.right}' y1='${thresholdY}' y2='${thresholdY}' stroke='#c00' stroke-dasharray='6 4'/>`);
    body.push(text(WIDTH - MARGIN.right - 4, Number(thresholdY) - 4, chart.threshold.label, "text-anchor='end' fill='#c00'"));
  }
  for (const series of chart.series) {
    const visible = series.points.filter(([px, py]) => px > 0 && py > 0);
    if (visible.length === 0) continue;
    const path = visible.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ');
    const color = escapeAttribute(series.color);
    body.push(`<path d='${path}' fill='none' stroke='${color}' stroke-width='2'/>`);
    for (const [px, py] of visible) body.push(`<circle cx='${x(px).toFixed(1)}' cy='${y(py).toFixed(1)}' r='3' fill='${color}'/>`);
  }
  return frame(chart.title, body, chart.series);
}
