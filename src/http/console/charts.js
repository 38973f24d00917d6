// confab console: the charts (SPEC §16): a conference's participants over time and the
// customer's usage per day or month. Loaded before console.js, whose helpers ($, el, api,
// state, notice) these functions call once the page runs.
'use strict';

// ---- charts: participants over time and usage per day (SPEC §16, issue 28) -------------

// Drawn here as inline SVG: no library and nothing from another host. A chart is drawn at the
// width of its box, one SVG unit to one CSS pixel, so its text stays readable on a phone; it
// is drawn again when the box changes width. Its marks (points, bars) are one Tab stop: the
// arrow keys, Home and End move between them, and each says its value (aria-label) and shows
// it in a tooltip. The numbers are also in a table under the chart.

// The SVG namespace as the HTML parser gives it (this file names no other host, not even in
// a namespace URI).
const SVG_NS = (() => { const probe = document.createElement('div'); probe.innerHTML = '<svg></svg>'; return probe.firstChild.namespaceURI; })();
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
// Each chart box's drawing, so a resize or a live update draws it again: box id ->
// { width, keys, render }.
const charts = new Map();

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

/** An API time (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC) in ms since the epoch; null for `9999-…`
 * (not set) or anything else. */
function apiTime(text) {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?$/.exec(text || '');
  if (!m || m[1] === '9999') return null;
  const ms = m[7] ? Number('0.' + m[7]) * 1000 : 0;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) + ms;
}

const pad2 = (n) => String(n).padStart(2, '0');
const clock = (ms) => { const d = new Date(ms); return pad2(d.getUTCHours()) + ':' + pad2(d.getUTCMinutes()) + ':' + pad2(d.getUTCSeconds()); };
const dayOf = (ms) => { const d = new Date(ms); return d.getUTCDate() + ' ' + MONTHS[d.getUTCMonth()]; };
const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);

/** A period of a usage report as people write it: "5 Dec 2026", or "Dec 2026" for a month. */
function periodName(period, short) {
  const [y, m, d] = period.split('-').map(Number);
  if (!d) return MONTHS[m - 1] + ' ' + y;
  return d + ' ' + MONTHS[m - 1] + (short ? '' : ' ' + y);
}

/** A length of time in words: "1 h 2 min 5 s", "45 s". */
function duration(seconds) {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const parts = [];
  if (h) parts.push(h + ' h');
  if (m) parts.push(m + ' min');
  if (s || !parts.length) parts.push(s + ' s');
  return parts.join(' ');
}

/** Seconds as minutes with one decimal, as the usage chart counts. */
const minutes = (seconds) => Math.round(seconds / 6) / 10;

/** Ticks for a value axis from 0: steps of 1, 2 or 5 times a power of ten, at most `most`
 * of them, the last at or above `max` (and at least 1, so an empty chart has an axis).
 * Whole numbers when `whole`; otherwise steps of at least 0.1, the precision shown. */
function valueTicks(max, most, whole) {
  const top = Math.max(max, 1);
  let step = Math.pow(10, Math.floor(Math.log10(top / most)));
  for (const f of [1, 2, 5, 10]) if (top / (step * f) <= most) { step *= f; break; }
  if (whole) step = Math.max(1, Math.round(step));
  const ticks = [];
  for (let v = 0; v < top + step; v += step) ticks.push(Math.round(v * 10) / 10);
  return ticks.filter((v, i) => i === 0 || ticks[i - 1] < top);
}

/** Ticks for a time axis: round seconds, minutes or hours, about one per `spacing` px. */
function timeTicks(from, to, width, spacing) {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((s) => s * 1000);
  const span = Math.max(to - from, 1000);
  const step = steps.find((s) => span / s <= Math.max(1, width / spacing)) || Math.ceil(span / 86400000 / (width / spacing)) * 86400000;
  const ticks = [];
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) ticks.push(t);
  return ticks;
}

/** The plot area inside a chart `width` px wide: room on the left for the value ticks and the
 * axis's name, and below for the time or day ticks and that axis's name. */
function frame(width) {
  const height = width < 480 ? 220 : 260;
  return { width, height, left: 56, top: 16, right: width - 14, bottom: height - 46 };
}

/** The axes, grid and axis names; `y` maps a value to its height. */
function axes(f, { yTicks, y, yFormat, yName, xTicks, xName }) {
  const g = svg('g', { class: 'axes', 'aria-hidden': 'true' });
  for (const v of yTicks) {
    g.append(svg('line', { class: 'grid', x1: f.left, x2: f.right, y1: y(v), y2: y(v) }),
      svg('text', { x: f.left - 6, y: y(v), dy: '0.32em', 'text-anchor': 'end', text: yFormat(v) }));
  }
  for (const t of xTicks) {
    g.append(svg('line', { class: 'tick', x1: t.x, x2: t.x, y1: f.bottom, y2: f.bottom + 5 }),
      svg('text', { x: t.x, y: f.bottom + 18, 'text-anchor': 'middle', text: t.label }));
  }
  g.append(svg('line', { class: 'axis-line', x1: f.left, x2: f.left, y1: f.top, y2: f.bottom }),
    svg('line', { class: 'axis-line', x1: f.left, x2: f.right, y1: f.bottom, y2: f.bottom }),
    svg('text', { class: 'axis-name', x: (f.left + f.right) / 2, y: f.height - 6, 'text-anchor': 'middle', text: xName }),
    svg('text', { class: 'axis-name', transform: `translate(14 ${(f.top + f.bottom) / 2}) rotate(-90)`, 'text-anchor': 'middle', text: yName }));
  return g;
}

/** Splits a label into lines of at most `most` px (as `widthOf` measures), after its ": " and
 * ", ", so a tooltip fits a narrow chart. */
function wrapLabel(label, widthOf, most) {
  const lines = [];
  let line = '';
  for (const part of label.split(/(?<=: |, )/)) {
    if (line && widthOf((line + part).trim()) > most) { lines.push(line.trim()); line = part; } else line += part;
  }
  return [...lines, line.trim()];
}

/** The tooltip: the focused or pointed-at mark's value in a dark box, above the mark (below
 * it when there is no room above), on as many lines as the chart's width needs. */
function tooltip(f) {
  const text = svg('text');
  const box = svg('rect', { rx: 3 });
  const g = svg('g', { class: 'tip', 'aria-hidden': 'true', visibility: 'hidden' }, box, text);
  const widthOf = (line) => { text.textContent = line; return text.getComputedTextLength(); };
  g.show = (x, y, label) => {
    const lines = wrapLabel(label, widthOf, f.width - 16);
    const w = Math.max(...lines.map(widthOf)) + 12;
    const h = lines.length * 16 + 6;
    const left = Math.min(Math.max(x - w / 2, 2), f.width - w - 2);
    const top = y - h - 8 >= 2 ? y - h - 8 : Math.min(y + 8, f.height - h - 2);
    text.replaceChildren(...lines.map((line, i) => svg('tspan', { x: left + 6, y: top + 15 + i * 16, text: line })));
    for (const [k, v] of Object.entries({ x: left, y: top, width: w, height: h })) box.setAttribute(k, v);
    g.setAttribute('visibility', 'visible');
  };
  g.hide = () => g.setAttribute('visibility', 'hidden');
  return g;
}

/** Makes the marks one Tab stop: the arrow keys, Home and End move the focus between them
 * (roving tabindex). Each mark is `{ node, x, y, label }`; its label is its accessible name
 * and its tooltip. Answers which mark has the focus (-1 when none) and which is the Tab stop. */
function keyboardMarks(marks, tip, start) {
  if (!marks.length) return { focused: () => -1, current: () => 0 };
  let current = Math.min(Math.max(start, 0), marks.length - 1);
  const move = (i) => {
    marks[current].node.setAttribute('tabindex', '-1');
    current = i;
    marks[current].node.setAttribute('tabindex', '0');
    marks[current].node.focus();
  };
  marks.forEach((m, i) => {
    m.node.setAttribute('tabindex', i === current ? '0' : '-1');
    m.node.setAttribute('role', 'img');
    m.node.setAttribute('aria-label', m.label);
    m.node.addEventListener('focus', () => { current = i; tip.show(m.x, m.y, m.label); });
    m.node.addEventListener('blur', tip.hide);
    m.node.addEventListener('pointerenter', () => tip.show(m.x, m.y, m.label));
    m.node.addEventListener('pointerleave', () => { if (document.activeElement !== m.node) tip.hide(); });
    m.node.addEventListener('keydown', (e) => {
      const to = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: marks.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      move(Math.min(Math.max(to, 0), marks.length - 1));
    });
  });
  return { focused: () => marks.findIndex((m) => m.node === document.activeElement), current: () => current };
}

/** Draws a chart into its box, and again whenever the box changes width. `draw(width)`
 * answers `{ svg, marks, tip }`. The mark that had the focus keeps it through a redraw (a live
 * update or a resize), so a keyboard user is not thrown out of the chart. */
function showChart(box, draw) {
  const old = charts.get(box.id);
  const entry = { width: 0, keys: old?.keys || { focused: () => -1, current: () => 0 } };
  charts.set(box.id, entry);
  entry.render = () => {
    const width = Math.round(box.clientWidth);
    if (!width) return; // hidden: drawn when it is shown (the observer below)
    const had = entry.keys.focused();
    const chart = draw(width);
    box.replaceChildren(chart.svg);
    entry.width = width;
    entry.keys = keyboardMarks(chart.marks, chart.tip, had >= 0 ? had : entry.keys.current());
    if (had >= 0 && chart.marks.length) chart.marks[Math.min(had, chart.marks.length - 1)].node.focus();
  };
  entry.render();
  if (box.dataset.observed) return;
  box.dataset.observed = 'true';
  new ResizeObserver(() => {
    const shown = charts.get(box.id);
    if (shown && Math.round(box.clientWidth) !== shown.width) shown.render();
  }).observe(box);
}

/** A chart's SVG element, named by its heading and described by its keyboard hint. */
function chartSvg(f, name, title) {
  return svg('svg', { viewBox: `0 0 ${f.width} ${f.height}`, width: '100%', role: 'group', 'aria-labelledby': name + '-title', 'aria-describedby': name + '-keys' },
    svg('title', { text: title }));
}

// ---- participants over time -------------------------------------------------------------

/** How many calls were joined, from each call's tm_joined and tm_left: one point where the
 * count changes. A call that never joined is left out; a call still joined stays to `now`.
 * A leave at the very instant of a join counts first, as confab's max_concurrent counts. */
function participantSteps(calls, now) {
  const edges = [];
  for (const call of calls) {
    const joined = apiTime(call.tm_joined);
    if (joined === null) continue;
    edges.push([joined, 1]);
    const left = apiTime(call.tm_left);
    if (left !== null) edges.push([left, -1]);
  }
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const points = [];
  let joined = 0;
  for (const [t, change] of edges) {
    joined += change;
    if (points.length && points[points.length - 1].t === t) points[points.length - 1].n = joined;
    else points.push({ t, n: joined });
  }
  const changes = points.filter((p, i) => p.n !== (i ? points[i - 1].n : 0));
  const last = edges.length ? edges[edges.length - 1][0] : 0;
  const end = joined > 0 ? Math.max(now, last) : last;
  // Each point knows the count before it (for its label) and whether the chart spans days.
  changes.forEach((p, i) => { p.before = i ? changes[i - 1].n : 0; });
  const days = changes.length > 0 && isoDay(changes[0].t) !== isoDay(end);
  return { points: changes, end, days };
}

/** A moment of the chart: its time, with its day when the chart spans more than one day. */
function momentOf(t, days) {
  return (days ? dayOf(t) + ' ' : '') + clock(t) + ' UTC';
}

function pointLabel(p, before, days) {
  const calls = p.n === 1 ? '1 call joined' : p.n + ' calls joined';
  return momentOf(p.t, days) + ': ' + calls + (p.n > before ? ' (up from ' : ' (down from ') + before + ')';
}

/** The step chart: a line and area of calls joined over time, a point at each change. */
function drawParticipants(steps, width) {
  const f = frame(width);
  const { points, end, days } = steps;
  const from = points[0].t;
  const to = Math.max(end, from + 1000);
  const most = Math.max(...points.map((p) => p.n));
  const yTicks = valueTicks(most, f.bottom - f.top < 160 ? 4 : 6, true);
  const x = (t) => f.left + ((t - from) / (to - from)) * (f.right - f.left - 8);
  const y = (n) => f.bottom - (n / yTicks[yTicks.length - 1]) * (f.bottom - f.top);
  const tickLabel = (t) => (days ? dayOf(t) + ' ' + clock(t).slice(0, 5) : clock(t));
  const xTicks = timeTicks(from, to, f.right - f.left, days ? 120 : 72).map((t) => ({ x: x(t), label: tickLabel(t) }));
  let line = `M${x(from)},${y(0)}`;
  points.forEach((p, i) => {
    line += `V${y(p.n)}H${x(i + 1 < points.length ? points[i + 1].t : to)}`;
  });
  const area = line + `V${y(0)}Z`;
  const root = chartSvg(f, 'participants', 'Calls joined over time');
  const tip = tooltip(f);
  const marks = points.map((p) => {
    const node = svg('g', { class: 'mark point' },
      svg('circle', { class: 'hit', cx: x(p.t), cy: y(p.n), r: 11 }),
      svg('circle', { class: 'dot', cx: x(p.t), cy: y(p.n), r: 4.5 }));
    return { node, x: x(p.t), y: y(p.n) - 6, label: pointLabel(p, p.before, days) };
  });
  root.append(axes(f, { yTicks, y, yFormat: String, yName: 'Calls joined', xTicks, xName: 'Time (UTC)' }),
    svg('path', { class: 'area', d: area, 'aria-hidden': 'true' }),
    svg('path', { class: 'line', d: line, 'aria-hidden': 'true' }),
    ...marks.map((m) => m.node), tip);
  return { svg: root, marks, tip };
}

/** "Now" by confab's clock, which the calls' times are on: while the room runs, its summary's
 * duration runs from tm_start to confab's now. This browser's clock otherwise. */
function confabNow(summary) {
  const start = apiTime(summary?.tm_start);
  if (start === null || apiTime(summary.tm_end) !== null) return Date.now();
  return start + summary.duration_seconds * 1000;
}

/** The participants chart of the conference shown, from all its calls, with its table. */
function renderParticipants(calls, now) {
  const steps = participantSteps(calls, now);
  const box = $('participants-chart');
  const none = !steps.points.length;
  $('participants-empty').hidden = !none;
  $('participants-figure').hidden = none;
  $('participants-table').querySelector('tbody').replaceChildren(...steps.points.map((p) =>
    el('tr', {}, el('th', { scope: 'row', text: momentOf(p.t, steps.days) }), el('td', { text: String(p.n) }),
      el('td', { text: (p.n > p.before ? '+' : '') + (p.n - p.before) }))));
  if (none) { charts.delete(box.id); box.replaceChildren(); return; }
  showChart(box, (width) => drawParticipants(steps, width));
}

/** The conference's figures, as confab sums them (GET /conferences/{id}/summary). */
function renderSummary(s) {
  const figures = !s ? [] : [
    ['Duration', apiTime(s.tm_start) === null ? 'not started' : duration(s.duration_seconds)],
    ['Participant time', minutes(s.participant_seconds) + ' participant-minutes (' + s.participant_seconds + ' s)'],
    ['Most calls at once', String(s.max_concurrent)],
    ['Calls that joined', String(s.unique_calls)],
    ['Recorded', duration(s.recording_seconds)],
  ];
  $('summary').replaceChildren(...figures.map(([name, value]) =>
    el('div', { 'data-figure': name }, el('dt', { text: name }), el('dd', { text: value }))));
}

/** A conference's calls, leaved ones included, newest first, page by page: at most 50 pages
 * (5,000 calls), so a room with a long history does not hold the console; `more` says the
 * oldest were left out. */
async function allCalls(id) {
  const calls = [];
  let token = '';
  for (let page = 0; page < 50; page++) {
    const r = await api('GET', '/v1.0/conferencecalls?page_size=100&conference_id=' + id + (token ? '&page_token=' + encodeURIComponent(token) : ''));
    if (!r.ok) return { ok: false, calls };
    calls.push(...r.json.result);
    token = r.json.next_page_token;
    if (!token) break;
  }
  return { ok: true, calls, more: Boolean(token) };
}

// ---- usage per day or month -------------------------------------------------------------

const USAGE_FIELDS = ['from', 'to', 'granularity'];
// The query whose answer is shown, which a live update asks again; and a count of the
// author's questions, so that an answer to an older one is not drawn over a newer one.
const usage = { shown: null, turn: 0 };

/** The range first shown: the last 30 days, today (UTC) included. */
function defaultUsageRange() {
  const today = Date.now();
  $('usage-from').value = isoDay(today - 29 * 86400000);
  $('usage-to').value = isoDay(today);
}

/** The query the form asks: an empty date is left out (confab's default). */
function usageQuery() {
  const q = new URLSearchParams();
  if ($('usage-from').value) q.set('from', $('usage-from').value);
  if ($('usage-to').value) q.set('to', $('usage-to').value);
  q.set('granularity', document.querySelector('input[name="usage-granularity"]:checked').value);
  return q.toString();
}

function showUsageErrors(field, message) {
  for (const name of USAGE_FIELDS) {
    const at = name === field;
    $('usage-' + name + '-errors').replaceChildren(...(at ? [el('li', { text: 'Refused by confab: ' + message })] : []));
    const inputs = name === 'granularity' ? document.querySelectorAll('input[name="usage-granularity"]') : [$('usage-' + name)];
    for (const input of inputs) input.setAttribute('aria-invalid', String(at));
  }
}

/** Asks for usage: the author's `query`, or (a live update, no query) the one shown again.
 * Only the author's question shows a refusal and moves the focus: a live update that fails
 * leaves the page as it is, and one that succeeds leaves a refusal of the author's standing. */
async function loadUsage(query) {
  const live = !query;
  const asked = query || usage.shown;
  if (!asked) return;
  const turn = live ? usage.turn : ++usage.turn;
  const r = await api('GET', '/v1.0/usage?' + asked);
  // The author asked again meanwhile, or (live) the author's newer question is now shown.
  if (turn !== usage.turn || (live && asked !== usage.shown)) return;
  if (!r.ok) { if (!live) usageRefused(r); return; }
  usage.shown = asked;
  if (!live) { showUsageErrors(null); $('usage-status').textContent = ''; }
  renderUsage(r.json.result, asked.includes('granularity=month') ? 'month' : 'day');
}

/** A refusal: a 400 at the field its message names (and the focus there), else by the form. */
function usageRefused(r) {
  const message = r.json?.error?.message || 'refused (' + r.status + ')';
  const field = /^([a-z_]+):/.exec(message)?.[1];
  if (r.status === 400 && USAGE_FIELDS.includes(field)) {
    showUsageErrors(field, message);
    $('usage-status').textContent = 'Not shown: confab refused ' + field + '.';
    (field === 'granularity' ? document.querySelector('input[name="usage-granularity"]') : $('usage-' + field)).focus();
  } else {
    showUsageErrors(null);
    $('usage-status').textContent = 'Not shown: ' + reason(r);
  }
}

function usageLabel(p) {
  const what = p.calls === 1 ? '1 call' : p.calls + ' calls';
  return periodName(p.period) + ': ' + minutes(p.participant_seconds) + ' participant-minutes (' + p.participant_seconds + ' s), ' + what;
}

/** The bar chart: participant-minutes per period, one bar each, zeros included. */
function drawUsage(periods, month, width) {
  const f = frame(width);
  const most = Math.max(...periods.map((p) => minutes(p.participant_seconds)));
  const yTicks = valueTicks(most, f.bottom - f.top < 160 ? 4 : 6, false);
  const top = yTicks[yTicks.length - 1];
  const y = (v) => f.bottom - (v / top) * (f.bottom - f.top);
  const slot = (f.right - f.left) / periods.length;
  const gap = Math.min(slot * 0.2, 6);
  // A tick label every so many bars, so that labels do not collide (about 48 px each).
  const every = Math.max(1, Math.ceil((month ? 64 : 48) / slot));
  const xTicks = periods.map((p, i) => ({ x: f.left + slot * (i + 0.5), label: periodName(p.period, !month), i }))
    .filter((t) => (periods.length - 1 - t.i) % every === 0);
  const root = chartSvg(f, 'usage-chart', 'Participant-minutes per ' + (month ? 'month' : 'day'));
  const tip = tooltip(f);
  // A bar is 1 to 64 px wide (a year of days on a phone: 1 px); its column, which the pointer
  // and the focus outline take, is the whole slot.
  const bar = Math.max(1, Math.min(slot - gap, 64));
  const marks = periods.map((p, i) => {
    const v = minutes(p.participant_seconds);
    const centre = f.left + slot * (i + 0.5);
    const node = svg('g', { class: 'mark bar', 'data-period': p.period },
      svg('rect', { class: 'hit', x: centre - (slot - gap) / 2, y: f.top, width: slot - gap, height: f.bottom - f.top }),
      svg('rect', { class: 'fill', x: centre - bar / 2, y: y(v), width: bar, height: f.bottom - y(v) }));
    return { node, x: centre, y: y(v), label: usageLabel(p) };
  });
  root.append(axes(f, { yTicks, y, yFormat: (v) => String(v), yName: 'Participant-minutes', xTicks, xName: (month ? 'Month' : 'Day') + ' (UTC)' }),
    ...marks.map((m) => m.node), tip);
  return { svg: root, marks, tip };
}

/** The usage chart, its table and the range's totals. */
function renderUsage(periods, granularity) {
  const month = granularity === 'month';
  const sum = (k) => periods.reduce((n, p) => n + p[k], 0);
  const range = periods.length ? periodName(periods[0].period) + ' to ' + periodName(periods[periods.length - 1].period) : '';
  $('usage-chart-title').textContent = 'Participant-minutes per ' + (month ? 'month' : 'day') + ', ' + range;
  $('usage-totals').replaceChildren(...[
    ['Participant time', minutes(sum('participant_seconds')) + ' participant-minutes (' + sum('participant_seconds') + ' s)'],
    ['Calls', String(sum('calls'))],
    ['Conferences created', String(sum('conferences'))],
    ['Recorded', duration(sum('recording_seconds'))],
  ].map(([name, value]) => el('div', { 'data-figure': name }, el('dt', { text: name }), el('dd', { text: value }))));
  $('usage-table').querySelector('caption').textContent = 'Usage per ' + (month ? 'month' : 'day') + ', ' + range + ' (UTC)';
  $('usage-table').querySelector('tbody').replaceChildren(...periods.map((p) => el('tr', { 'data-period': p.period },
    el('th', { scope: 'row', text: periodName(p.period) }), el('td', { text: String(p.participant_seconds) }),
    el('td', { text: String(minutes(p.participant_seconds)) }), el('td', { text: String(p.calls) }),
    el('td', { text: String(p.conferences) }), el('td', { text: String(p.recording_seconds) }))));
  showChart($('usage-chart'), (width) => drawUsage(periods, month, width));
}
