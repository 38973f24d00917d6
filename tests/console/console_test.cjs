// The console in a real browser (headless Chromium driven by playwright-core), as a flow
// author uses it: sign in with the keyboard, watch a conference's participant count change
// when the platform posts events, edit an action list with an error and see it named at the
// field, fix and save it, run a simulation and read its trace, simulate a PIN room with the
// caller's digits (a wrong PIN, then the right one) and read its pauses, resumes and answers,
// create a conference with room rules (§14; a bad max_participants is named at its field
// before anything is sent), see its calls' roles and muting live, lock it with a PUT of only
// what changed, see confab's refusal at the field it names, act on a joined call (§15: mute,
// hold with music, say to it and to the room; refusals shown beside the control, a change made
// elsewhere shown live; a joining call has no controls), dial a call into a room (issue 27:
// a bad destination refused at its field unsent, confab's 400 at the field it names, the row
// dialing, a locked room's 409 by the form), read the charts (§16, issue 28: the usage per
// day, a bar a day with the API's values, its table, the keyboard on its bars, per month, a
// 400 at its field; a room's participants over time on calls that joined and left at known
// moments, its figures, the live feed), and use it in a narrow window.
// A screenshot of each step is saved for review.
//
// Input (environment): CONFAB_URL, CONFAB_KEY, CONFAB_CONFERENCE (an empty conference named
// "Console room"; a conference "PIN room" runs the `pin` flow with PIN 4711), CONFAB_PLATFORM_SECRET (whsec_...), CHROMIUM (the browser's path),
// SCREENSHOTS (a directory), CONFAB_CHART_CONFERENCE ("Chart room": chart-c1 joined, 10 s
// later chart-c2, 20 s later chart-c1 left, 15 s later chart-c3 joined, 30 s later chart-c2
// left; chart-c4 never joined; the only calls that have left) and CONFAB_TODAY (the day they
// left, YYYY-MM-DD, on confab's clock). Exit 0 when every step passed; otherwise the failing step.

'use strict';
// CommonJS, so that NODE_PATH (the tests' pinned node_modules) resolves playwright-core.
const { chromium } = require('playwright-core');
const { createHmac } = require('node:crypto');
const { mkdirSync } = require('node:fs');
const { join } = require('node:path');

const base = process.env.CONFAB_URL;
const key = process.env.CONFAB_KEY;
const conference = process.env.CONFAB_CONFERENCE;
const chartRoom = process.env.CONFAB_CHART_CONFERENCE;
const today = process.env.CONFAB_TODAY;
const secret = process.env.CONFAB_PLATFORM_SECRET;
const shots = process.env.SCREENSHOTS;
mkdirSync(shots, { recursive: true });

let step = 'start';
const expect = (ok, what) => { if (!ok) throw new Error(what); };

/** A platform event, signed as the platform signs it (Standard Webhooks). */
async function platformEvent(id, type, data) {
  const body = JSON.stringify({ id, type, data });
  const ts = Math.floor(Date.now() / 1000).toString();
  const keyBytes = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const sig = createHmac('sha256', keyBytes).update(`${id}.${ts}.${body}`).digest('base64');
  const res = await fetch(`${base}/v1.0/platform/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': `v1,${sig}` },
    body,
  });
  expect(res.ok, `platform event ${type} answered ${res.status}: ${await res.text()}`);
}

/** A day (YYYY-MM-DD) `n` days after another. */
const addDays = (day, n) => new Date(Date.parse(day + 'T00:00:00Z') + n * 86400000).toISOString().slice(0, 10);
/** Seconds as the console shows them in minutes: one decimal. */
const minutes = (seconds) => Math.round(seconds / 6) / 10;
const daysBetween = (from, to) => Math.round((Date.parse(to + 'T00:00:00Z') - Date.parse(from + 'T00:00:00Z')) / 86400000);

/** Screenshots are for review, not assertions: on a loaded two-core machine a full-page one of
 * a tall narrow page can take longer than Playwright's default 30 s, so they get longer, and
 * animations are stopped so the page is still. */
const SHOT = { timeout: 120000, animations: 'disabled' };

/** Waits until a list of errors is empty. */
async function waitCleared(list) {
  await list.locator('li').first().waitFor({ state: 'detached' });
}

async function main() {
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const foreign = [];
  page.on('request', (r) => { if (!r.url().startsWith(base)) foreign.push(r.url()); });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const apiGet = async (path) => (await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } })).json();
  const shot = (name) => page.screenshot({ ...SHOT, path: join(shots, name), fullPage: true });

  step = 'sign in with the keyboard';
  await page.goto(`${base}/console`);
  await page.getByLabel('API key').focus();
  await page.keyboard.type(key);
  await page.keyboard.press('Enter');
  await page.locator('#app').waitFor({ state: 'visible' });
  expect(!(await page.evaluate(() => location.href)).includes(key), 'the key is in the URL');
  expect((await page.evaluate(() => sessionStorage.getItem('confab.key'))) === key, 'the key is not in session storage');
  await page.getByText('live', { exact: true }).waitFor();
  await shot('01-signed-in.png');

  step = 'the usage chart shows the last 30 days by default, one bar a day';
  const usageForm = page.locator('#usage-form');
  const usageChart = page.locator('#usage-chart');
  const bars = usageChart.locator('.bar');
  await page.waitForFunction(() => document.querySelectorAll('#usage-chart .bar').length === 30);
  const shownFrom = await page.locator('#usage-from').inputValue();
  const shownTo = await page.locator('#usage-to').inputValue();
  expect(daysBetween(shownFrom, shownTo) === 29, `the default range is ${shownFrom} to ${shownTo}`);
  expect((await page.locator('#usage-table tbody tr').count()) === 30, 'the table does not have 30 rows');
  await page.locator('#usage-panel').screenshot({ ...SHOT, path: join(shots, '25-usage-30-days.png') });

  step = 'a 7-day range ending on confab\u2019s today: 7 bars, today\u2019s with the API\u2019s value';
  const weekFrom = addDays(today, -6);
  await usageForm.getByLabel('From', { exact: true }).fill(weekFrom);
  await usageForm.getByLabel('To (included)').fill(today);
  await page.getByRole('button', { name: 'Show usage' }).click();
  await page.waitForFunction(() => document.querySelectorAll('#usage-chart .bar').length === 7);
  const week = (await apiGet(`/v1.0/usage?from=${weekFrom}&to=${today}&granularity=day`)).result;
  expect(week.length === 7 && week[6].period === today, `the API's week: ${JSON.stringify(week)}`);
  // Only the chart room's calls have left so far: c1's 30 s and c2's 65 s, today (c1 the day
  // before, should the test have set off 45 s before midnight).
  const weekSum = (k) => week.reduce((n, p) => n + p[k], 0);
  expect(weekSum('participant_seconds') === 95 && weekSum('calls') === 2 && week[6].participant_seconds >= 65, `the week's usage: ${JSON.stringify(week)}`);
  const barLabels = await bars.evaluateAll((all) => all.map((b) => [b.dataset.period, b.getAttribute('aria-label'), b.getAttribute('role')]));
  week.forEach((p, i) => {
    const [period, label, role] = barLabels[i];
    expect(period === p.period && role === 'img', `bar ${i} is ${period} (${role}), not ${p.period}`);
    expect(label.includes(`(${p.participant_seconds} s)`) && label.includes(`${p.calls} call`), `bar ${p.period} reads "${label}", the API ${JSON.stringify(p)}`);
  });
  const todays = week[6].participant_seconds;
  expect(barLabels[6][1].includes(`${minutes(todays)} participant-minutes (${todays} s), ${week[6].calls} call`), `today's bar reads "${barLabels[6][1]}"`);
  const usageRows = await page.locator('#usage-table tbody tr').evaluateAll((rows) => rows.map((r) => [r.dataset.period, ...[...r.cells].map((c) => c.textContent)]));
  expect(usageRows.length === 7, `the table has ${usageRows.length} rows`);
  week.forEach((p, i) => {
    const [period, , seconds, , calls, conferences, recorded] = usageRows[i];
    expect(period === p.period && seconds === String(p.participant_seconds) && calls === String(p.calls) && conferences === String(p.conferences) && recorded === String(p.recording_seconds),
      `row ${i} is ${usageRows[i]}, the API ${JSON.stringify(p)}`);
  });
  expect((await page.locator('#usage-table caption').textContent()).startsWith('Usage per day'), 'the table has no caption');
  const total = week.reduce((n, p) => n + p.participant_seconds, 0);
  await page.locator('#usage-totals [data-figure="Participant time"] dd').filter({ hasText: `(${total} s)` }).waitFor();
  // The highest bar is today's, drawn to the value it says.
  const heights = await usageChart.locator('.bar .fill').evaluateAll((all) => all.map((r) => Number(r.getAttribute('height'))));
  expect(heights[6] === Math.max(...heights) && heights[6] > 0, `the bars' heights: ${heights}`);
  await page.locator('#usage-panel').screenshot({ ...SHOT, path: join(shots, '26-usage-week.png') });

  step = 'the keyboard reaches the bars: Tab to the chart, End to today, arrows between bars';
  await page.getByRole('button', { name: 'Show usage' }).focus();
  await page.keyboard.press('Tab');
  const focusedBar = () => page.evaluate(() => {
    const e = document.activeElement;
    return e && e.closest('#usage-chart') ? { period: e.dataset.period, label: e.getAttribute('aria-label'), visible: e.matches(':focus-visible') } : null;
  });
  const firstBar = await focusedBar();
  expect(firstBar && firstBar.period === weekFrom, `Tab after Show usage reached ${JSON.stringify(firstBar)}`);
  await page.keyboard.press('End');
  const todayBar = await focusedBar();
  expect(todayBar && todayBar.period === today && todayBar.label.includes(`(${todays} s)`) && todayBar.visible, `End reached ${JSON.stringify(todayBar)}`);
  const tip = usageChart.locator('.tip');
  expect((await tip.getAttribute('visibility')) === 'visible' && (await tip.locator('text').textContent()) === todayBar.label, 'the tooltip does not show the bar\u2019s value');
  await page.keyboard.press('ArrowLeft');
  expect((await focusedBar())?.period === addDays(today, -1), 'ArrowLeft did not move to the day before');
  await page.keyboard.press('ArrowRight');
  await page.locator('#usage-panel').screenshot({ ...SHOT, path: join(shots, '27-usage-focused-bar.png') });
  // One Tab stop: the next Tab leaves the chart.
  await page.keyboard.press('Tab');
  expect((await focusedBar()) === null, 'Tab did not leave the chart');

  step = 'per month: one bar a month of the range';
  await usageForm.getByLabel('month', { exact: true }).check();
  const months = (await apiGet(`/v1.0/usage?from=${weekFrom}&to=${today}&granularity=month`)).result;
  await page.waitForFunction((n) => document.querySelector('#usage-chart .bar')?.dataset.period.length === 7 && document.querySelectorAll('#usage-chart .bar').length === n, months.length);
  expect((await page.locator('#usage-table tbody tr').count()) === months.length, 'the table does not have a row a month');
  expect((await bars.last().getAttribute('aria-label')).includes(`(${months[months.length - 1].participant_seconds} s)`), 'the month\u2019s bar does not have the API\u2019s value');
  await page.locator('#usage-panel').screenshot({ ...SHOT, path: join(shots, '28-usage-month.png') });
  await usageForm.getByLabel('day', { exact: true }).check();
  await page.waitForFunction(() => document.querySelectorAll('#usage-chart .bar').length === 7);

  step = 'confab\u2019s 400 is shown beside the field at fault';
  await usageForm.getByLabel('From', { exact: true }).fill(addDays(today, 1));
  await page.getByRole('button', { name: 'Show usage' }).click();
  await page.locator('#usage-from-errors').getByText('Refused by confab: from: must not be after to').waitFor();
  expect((await usageForm.getByLabel('From', { exact: true }).getAttribute('aria-invalid')) === 'true', 'the refused from is not marked invalid');
  expect(await usageForm.getByLabel('From', { exact: true }).evaluate((e) => e === document.activeElement), 'the refused from does not have the focus');
  await page.locator('#usage-status').filter({ hasText: 'Not shown: confab refused from.' }).waitFor();
  expect((await bars.count()) === 7, 'the last usage shown was dropped');
  await page.locator('#usage-panel').screenshot({ ...SHOT, path: join(shots, '29-usage-refused.png') });
  await usageForm.getByLabel('From', { exact: true }).fill(weekFrom);
  await page.getByRole('button', { name: 'Show usage' }).click();
  await page.locator('#usage-from-errors li').waitFor({ state: 'detached' });
  expect((await usageForm.getByLabel('From', { exact: true }).getAttribute('aria-invalid')) === 'false', 'the fixed from is still marked invalid');

  step = 'page to the conference (100 newer ones are on the first page)';
  await page.locator('#conferences tbody tr').nth(99).waitFor();
  expect((await page.locator('#conferences tbody tr').count()) === 100, 'the first page is not 100 conferences');
  await page.getByRole('button', { name: 'Show more conferences' }).click();

  step = 'the chart room: its participants over time, and its figures';
  await page.getByRole('button', { name: 'Open conference Chart room' }).click();
  await page.locator('#detail-title').filter({ hasText: 'Conference Chart room' }).waitFor();
  const points = page.locator('#participants-chart .point');
  await page.waitForFunction(() => document.querySelectorAll('#participants-chart .point').length === 5);
  const pointLabels = await points.evaluateAll((all) => all.map((p) => p.getAttribute('aria-label')));
  const joinedCounts = pointLabels.map((l) => Number(/: (\d+) calls? joined/.exec(l)?.[1]));
  expect(JSON.stringify(joinedCounts) === '[1,2,1,2,1]', `the points read ${JSON.stringify(pointLabels)}`);
  const partRows = await page.locator('#participants-table tbody tr').evaluateAll((rows) => rows.map((r) => r.cells[1].textContent));
  expect(JSON.stringify(partRows) === '["1","2","1","2","1"]', `the table's rows: ${partRows}`);
  // The times: c2 10 s after c1, c1 leaving 20 s later, c3 15 s later, c2 30 s later.
  const chartCalls = Object.fromEntries((await apiGet(`/v1.0/conferencecalls?conference_id=${chartRoom}&page_size=100`)).result.map((c) => [c.reference_id, c]));
  const clockOf = (t) => t.slice(11, 19) + ' UTC';
  const moments = [chartCalls['chart-c1'].tm_joined, chartCalls['chart-c2'].tm_joined, chartCalls['chart-c1'].tm_left, chartCalls['chart-c3'].tm_joined, chartCalls['chart-c2'].tm_left].map(clockOf);
  pointLabels.forEach((l, i) => expect(l.includes(moments[i] + ': '), `point ${i} reads "${l}", not at ${moments[i]}`));
  const yTop = await page.locator('#participants-chart .axes text').evaluateAll((all) => all.map((t) => t.textContent));
  expect(yTop.includes('2') && !yTop.includes('3') && yTop.includes('Calls joined') && yTop.includes('Time (UTC)'), `the axes read ${yTop}`);
  const figure = (name) => page.locator(`#summary [data-figure="${name}"] dd`);
  await figure('Most calls at once').filter({ hasText: /^2$/ }).waitFor();
  await figure('Calls that joined').filter({ hasText: /^3$/ }).waitFor();
  await figure('Participant time').filter({ hasText: '1.6 participant-minutes (95 s)' }).waitFor();
  await figure('Recorded').filter({ hasText: /^0 s$/ }).waitFor();
  // The step line: up and down at each change, then on at 1 (c3 is still joined) to now.
  const line = await page.locator('#participants-chart path.line').getAttribute('d');
  expect((line.match(/V/g) || []).length === 5 && (line.match(/H/g) || []).length === 5, `the step line is ${line}`);
  // c3 is still joined: the line runs on past the last change, to confab's now.
  const lastChange = Number(await points.last().locator('.dot').getAttribute('cx'));
  expect(Number(/H([\d.]+)$/.exec(line)[1]) > lastChange + 5, `the line stops at the last change: ${line}`);

  step = 'the keyboard reaches the points: Shift+Tab from the table\u2019s disclosure, arrows between points';
  await page.locator('#participants-figure details > summary').focus();
  await page.keyboard.press('Shift+Tab');
  const focusedPoint = () => page.evaluate(() => {
    const e = document.activeElement;
    return e && e.closest('#participants-chart') ? { label: e.getAttribute('aria-label'), visible: e.matches(':focus-visible') } : null;
  });
  const firstPoint = await focusedPoint();
  expect(firstPoint && firstPoint.label === pointLabels[0] && firstPoint.visible, `Shift+Tab reached ${JSON.stringify(firstPoint)}`);
  await page.keyboard.press('ArrowRight');
  const secondPoint = await focusedPoint();
  expect(secondPoint && secondPoint.label.includes('2 calls joined (up from 1)'), `ArrowRight reached ${JSON.stringify(secondPoint)}`);
  await page.locator('#participants-figure details > summary').click();
  await page.evaluate(() => document.querySelector('#participants-heading').scrollIntoView());
  await page.keyboard.press('ArrowRight');
  await page.locator('#participants-chart .point').nth(2).focus();
  await page.screenshot({ ...SHOT, path: join(shots, '30-participants.png') });

  step = 'c3 leaves: the chart follows the live feed, the focus stays on its point';
  await platformEvent('chart-c3-left', 'call_left', { call_id: 'chart-c3', conference_id: chartRoom });
  await page.waitForFunction(() => document.querySelectorAll('#participants-chart .point').length === 6);
  expect((await points.last().getAttribute('aria-label')).includes('0 calls joined (down from 1)'), 'the last point is not the room emptied');
  expect((await page.locator('#participants-table tbody tr').count()) === 6, 'the table did not follow');
  expect((await focusedPoint())?.label === pointLabels[2], 'the live update lost the focused point');
  await figure('Participant time').filter({ hasText: /\((?!95 s)\d+ s\)/ }).waitFor({ timeout: 5000 });

  step = 'the charts in a narrow window';
  await page.setViewportSize({ width: 320, height: 800 });
  await page.waitForFunction(() => Number(document.querySelector('#participants-chart svg').getAttribute('viewBox').split(' ')[2]) <= 320);
  const chartsOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  const narrowCharts = await page.evaluate(() => ['#participants-chart', '#usage-chart'].map((s) => {
    const box = document.querySelector(s);
    return box.querySelector('svg').getBoundingClientRect().width - box.clientWidth;
  }));
  await page.evaluate(() => document.querySelector('#participants-heading').scrollIntoView());
  await page.screenshot({ ...SHOT, path: join(shots, '31-participants-narrow.png') });
  await page.evaluate(() => document.querySelector('#usage-title').scrollIntoView());
  await page.screenshot({ ...SHOT, path: join(shots, '32-usage-narrow.png') });
  await page.evaluate(() => document.querySelector('#usage-chart').scrollIntoView());
  await page.locator('#usage-chart .bar').last().focus();
  await page.screenshot({ ...SHOT, path: join(shots, '33-usage-narrow-chart.png') });
  expect(chartsOverflow <= 1, `the charts' page is ${chartsOverflow}px wider than a narrow window`);
  expect(narrowCharts.every((d) => Math.abs(d) <= 1), `the charts are wider than their boxes: ${narrowCharts}`);
  expect((await page.locator('#usage-chart .bar').count()) === 7, 'the narrow usage chart does not have 7 bars');
  // The longest range confab answers, in the narrowest window: a bar a day, a label every so often.
  await usageForm.getByLabel('From', { exact: true }).fill(addDays(today, -365));
  await page.getByRole('button', { name: 'Show usage' }).click();
  await page.waitForFunction(() => document.querySelectorAll('#usage-chart .bar').length === 366);
  await page.evaluate(() => document.querySelector('#usage-chart').scrollIntoView());
  await page.screenshot({ ...SHOT, path: join(shots, '34-usage-year-narrow.png') });
  await usageForm.getByLabel('month', { exact: true }).check();
  await page.waitForFunction(() => document.querySelectorAll('#usage-chart .bar').length === 13);
  await page.evaluate(() => document.querySelector('#usage-chart-title').scrollIntoView());
  await page.screenshot({ ...SHOT, path: join(shots, '35-usage-year-by-month-narrow.png') });
  const yearOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(yearOverflow <= 1, `a year of usage is ${yearOverflow}px wider than a narrow window`);
  await page.setViewportSize({ width: 1280, height: 900 });

  step = 'open the conference';
  await page.getByRole('button', { name: 'Open conference Console room' }).click();
  await page.locator('#participant-count').filter({ hasText: /^0$/ }).waitFor();
  await page.locator('#participants-empty').filter({ hasText: 'No call has joined this conference yet.' }).waitFor();
  expect(await page.locator('#participants-figure').isHidden(), 'an empty room shows a chart');
  await shot('02-conference.png');

  step = 'the participant count follows platform events (no reload)';
  await platformEvent('console-join-1', 'call_joining', { call_id: 'console-call-1', conference_id: conference, from: '+15550100' });
  await platformEvent('console-joined-1', 'call_joined', { call_id: 'console-call-1', conference_id: conference });
  await page.locator('#participant-count').filter({ hasText: /^1$/ }).waitFor({ timeout: 5000 });
  await page.locator('#timeline').getByText('call console-call-1 joined').waitFor();
  const row = page.locator(`#conferences tr[data-id="${conference}"] .participants`);
  expect((await row.textContent()) === '1', 'the list does not show 1 participant');
  await shot('03-live-participant.png');
  // The call still joined: one point, its line running on to now.
  await page.waitForFunction(() => document.querySelectorAll('#participants-chart .point').length === 1);
  expect((await page.locator('#participants-chart .point').getAttribute('aria-label')).includes(': 1 call joined (up from 0)'), 'the joined call is not the chart\u2019s point');
  expect(await page.locator('#participants-empty').isHidden(), 'the room with a call says none joined');
  await page.locator('#participants-figure').screenshot({ ...SHOT, path: join(shots, '03b-live-participant-chart.png') });

  step = 'an action list with an error is named at its field';
  const pre = page.getByLabel('pre_actions (run when a call joins)');
  await pre.fill('[{"type": "talk", "option": {"text": "Hi"}}, {"type": "talk", "option": {}}]');
  const preErrors = page.locator('#pre-actions-errors');
  await preErrors.getByText('pre_actions[1].option.text: is required').waitFor({ timeout: 5000 });
  expect((await pre.getAttribute('aria-invalid')) === 'true', 'the list is not marked invalid');
  await shot('04-error-named.png');

  step = 'fixed, it saves';
  await pre.fill('[{"type": "talk", "option": {"text": "Hello ${call.from} from the console"}}]');
  await page.waitForFunction(() => document.querySelector('#pre-actions-errors').children.length === 0);
  await page.getByRole('button', { name: 'Save actions' }).click();
  await page.locator('#save-status').filter({ hasText: 'Saved.' }).waitFor();
  const stored = await (await fetch(`${base}/v1.0/conferences/${conference}`, { headers: { authorization: `Bearer ${key}` } })).json();
  expect(stored.pre_actions[0].option.text === 'Hello ${call.from} from the console', 'the saved list is not stored');
  await shot('05-saved.png');

  step = 'a simulation shows the actions and the trace';
  await page.getByLabel('Variables (one name=value per line)').fill('call.from=+15559999');
  await page.getByRole('button', { name: 'Run simulation' }).click();
  await page.locator('#sim-answers').filter({ hasText: 'Hello +15559999 from the console' }).waitFor();
  await page.locator('#sim-trace').getByText('step 0 talk: emitted talk').waitFor();
  await page.locator('#sim-trace').getByText('ended: the end of the list after 1 steps').waitFor();
  await page.locator('#sim-outcome').filter({ hasText: 'The call joins the conference.' }).waitFor();
  await page.locator('#sim-answers > li').getByText('Answer to the call\u2019s join event \u2014 ends with conference_join').waitFor();
  await shot('06-simulation.png');

  step = 'every control has a label';
  const unlabeled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((e) => !e.closest('[hidden]'))
    .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
    .map((e) => e.outerHTML));
  expect(unlabeled.length === 0, `controls without a label: ${unlabeled.join(' ')}`);

  step = 'a draft is simulated before it is saved';
  await pre.fill('[{"type": "talk", "option": {"text": "Draft for ${conference.name}"}}]');
  await page.getByRole('button', { name: 'Run simulation' }).click();
  await page.locator('#sim-answers').filter({ hasText: 'Draft for Console room' }).waitFor();

  step = 'open the PIN room';
  await page.getByRole('button', { name: 'Open conference PIN room' }).click();
  await page.locator('#detail-title').filter({ hasText: 'Conference PIN room' }).waitFor();
  await page.waitForFunction(() => document.querySelector('#pre-actions').value.includes('"pin"'));

  step = 'bad digits are named at their field, before anything is sent';
  const sent = [];
  page.on('request', (r) => { if (r.url().endsWith('/v1.0/simulations') && (r.postData() || '').includes('"inputs"')) sent.push(r.postData()); });
  const inputs = page.getByLabel("Caller's digits at each pause");
  const inputErrors = page.locator('#sim-inputs-errors');
  await inputs.fill('1111, 12x4, , 4711');
  await inputs.press('Tab');
  await inputErrors.getByText('Entry 2 ("12x4"): only the keypad keys 0-9, *, # and A-D.').waitFor();
  await inputErrors.getByText('Entry 3 is empty: write - for a pause where the caller enters nothing.').waitFor();
  expect((await inputs.getAttribute('aria-invalid')) === 'true', 'the digits are not marked invalid');
  const described = await inputs.getAttribute('aria-describedby');
  expect(described.includes('sim-inputs-hint') && described.includes('sim-inputs-errors'), 'the field is not described by its hint and errors');
  await page.getByRole('button', { name: 'Run simulation' }).click();
  await page.locator('#sim-outcome').filter({ hasText: 'Not run: fix the digits first.' }).waitFor();
  expect(sent.length === 0, 'bad digits were sent');
  await page.locator('#simulator-panel').screenshot({ ...SHOT, path: join(shots, '08-bad-digits.png') });

  step = "the server's refusal of an entry is shown at the field";
  // The console would not send a bad entry; the request is rewritten on its way to confab.
  await page.route('**/v1.0/simulations', (route) => {
    const body = JSON.parse(route.request().postData());
    body.inputs = ['1111', '4711x'];
    return route.continue({ postData: JSON.stringify(body) });
  });
  await inputs.fill('1111, 4711');
  await waitCleared(inputErrors);
  await page.getByRole('button', { name: 'Run simulation' }).click();
  await inputErrors.getByText(/^Entry 2 refused by confab: inputs\[1\]: /).waitFor();
  await page.unroute('**/v1.0/simulations');

  step = 'a wrong PIN, then the right one (typed, sent with Enter)';
  await inputs.fill('');
  await inputs.focus();
  await page.keyboard.type('1111, 4711');
  await page.keyboard.press('Enter');
  await page.locator('#sim-outcome').filter({ hasText: 'The call joins the conference after 2 pauses.' }).waitFor();
  expect((await inputErrors.locator('li').count()) === 0, 'the refusal is still shown');
  const trace = page.locator('#sim-trace');
  expect((await trace.locator('li.pause').count()) === 2, 'the trace does not show two pauses');
  expect((await trace.locator('li.resume').count()) === 2, 'the trace does not show two resumes');
  await trace.locator('li.pause').getByText('waiting for digits (pause 1)').waitFor();
  await trace.locator('li.resume').getByText('resumed with 1111 (pause 1)').waitFor();
  await trace.locator('li.pause').getByText('waiting for digits (pause 2)').waitFor();
  await trace.locator('li.resume').getByText('resumed with 4711 (pause 2)').waitFor();
  await trace.getByText('digits_receive: emitted digits_receive: asks for up to 8 keys, ending on #, waiting 10 s: pause 1').waitFor();
  await trace.getByText('ended: the end of the list').waitFor();
  const answers = page.locator('#sim-answers > li');
  expect((await answers.count()) === 3, 'not three answers (the join, then one per resume)');
  await answers.nth(0).getByText("Answer to the call\u2019s join event \u2014 asks for digits (pause 1)").waitFor();
  await answers.nth(1).getByText('Answer to the digits of pause 1: 1111 \u2014 asks for digits (pause 2)').waitFor();
  await answers.nth(2).getByText('Answer to the digits of pause 2: 4711 \u2014 ends with conference_join').waitFor();
  const lastAnswer = JSON.parse(await answers.nth(2).locator('pre').textContent());
  expect(lastAnswer[lastAnswer.length - 1].type === 'conference_join', 'the last answer does not end with conference_join');
  expect(lastAnswer.some((a) => a.option?.text === 'Thank you. You are joining the conference.'), 'the last answer does not thank the caller');
  const firstAnswer = JSON.parse(await answers.nth(0).locator('pre').textContent());
  expect(firstAnswer[firstAnswer.length - 1].type === 'digits_receive', 'the first answer does not ask for digits');
  await page.locator('#simulator-panel').screenshot({ ...SHOT, path: join(shots, '09-pin-simulation.png') });

  step = 'nothing entered, then no entry left: the run ends waiting';
  await inputs.fill('-');
  await page.getByRole('button', { name: 'Run simulation' }).click();
  await page.locator('#sim-outcome').filter({ hasText: 'Ends waiting for digits at pause 2: no entry left for it.' }).waitFor();
  await trace.locator('li.resume').getByText('resumed with nothing entered (pause 1)').waitFor();
  await trace.locator('li.pause').last().getByText('waiting for digits (pause 2) after 7 steps: no digits left, the run ends here').waitFor();
  await answers.last().getByText('Answer to the digits of pause 1: nothing entered \u2014 asks for digits (pause 2)').waitFor();

  step = 'the PIN room simulated in a narrow window';
  await inputs.fill('1111, 4711');
  await page.getByRole('button', { name: 'Run simulation' }).click();
  await page.locator('#sim-outcome').filter({ hasText: 'The call joins the conference after 2 pauses.' }).waitFor();
  await page.setViewportSize({ width: 320, height: 800 });
  const narrowOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  // What a phone shows: the panel's top, then the trace's pauses and resumes.
  await page.evaluate(() => document.querySelector('#simulator-panel').scrollIntoView());
  await page.screenshot({ ...SHOT, path: join(shots, '10-pin-narrow.png') });
  await page.evaluate(() => document.querySelector('#sim-trace li.pause').scrollIntoView());
  await page.screenshot({ ...SHOT, path: join(shots, '11-pin-narrow-trace.png') });
  expect(narrowOverflow <= 1, `the simulation is ${narrowOverflow}px wider than a narrow window`);
  await page.setViewportSize({ width: 1280, height: 900 });

  step = 'a bad max_participants is named at its field, before anything is sent';
  const posted = [];
  page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/v1.0/conferences')) posted.push(r.postData()); });
  await page.locator('#new-conference > summary').focus();
  await page.keyboard.press('Enter');
  const create = page.locator('#create');
  await create.getByLabel('Name').fill('Rules room');
  const createMax = create.getByLabel('Max participants');
  expect((await createMax.inputValue()) === '0', 'max_participants does not start at 0 (no limit)');
  await createMax.fill('5000');
  await create.getByRole('button', { name: 'Create conference' }).click();
  const maxErrors = page.locator('#create-max_participants-errors');
  await maxErrors.getByText('max_participants: must be 0 (no limit) or 1 to 1000').waitFor();
  expect((await createMax.getAttribute('aria-invalid')) === 'true', 'max_participants is not marked invalid');
  expect(await createMax.evaluate((e) => e === document.activeElement), 'the bad field does not have the focus');
  await page.locator('#create-status').filter({ hasText: 'Not created: fix the errors first.' }).waitFor();
  const maxDescribed = await createMax.getAttribute('aria-describedby');
  expect(maxDescribed.includes('create-max_participants-hint') && maxDescribed.includes('create-max_participants-errors'), 'max_participants is not described by its hint and errors');
  await page.locator('#create-max_participants-hint').getByText('0 = no limit').waitFor();
  expect(posted.length === 0, 'a bad max_participants was sent');
  await page.locator('#new-conference').screenshot({ ...SHOT, path: join(shots, '12-create-bad-max.png') });

  step = 'a conference with room rules is created through the editor (keyboard)';
  await createMax.fill('10');
  await waitCleared(maxErrors);
  await create.getByLabel('Wait for a moderator').focus();
  await page.keyboard.press('Space');
  const createMusic = create.getByLabel('Wait music URL');
  await createMusic.fill('https://music.example/hold.mp3');
  const created = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/v1.0/conferences'));
  await createMusic.press('Enter');
  const rulesRoom = (await (await created).json()).id;
  expect(posted.length === 1, `${posted.length} creates sent`);
  await page.locator('#detail-title').filter({ hasText: 'Conference Rules room' }).waitFor();
  const read = async () => (await fetch(`${base}/v1.0/conferences/${rulesRoom}`, { headers: { authorization: `Bearer ${key}` } })).json();
  const made = await read();
  expect(made.max_participants === 10 && made.wait_for_moderator === true && made.wait_music_url === 'https://music.example/hold.mp3'
    && made.locked === false && made.end_on_moderator_exit === false, `the rules did not round-trip: ${JSON.stringify(made)}`);
  const settings = page.locator('#settings');
  expect((await settings.getByLabel('Max participants').inputValue()) === '10', 'the settings do not show max_participants 10');
  expect(await settings.getByLabel('Wait for a moderator').isChecked(), 'the settings do not show wait_for_moderator');
  expect(!(await settings.getByLabel('Locked').isChecked()), 'the settings show locked');
  expect((await settings.getByLabel('Wait music URL').inputValue()) === 'https://music.example/hold.mp3', 'the settings do not show the music');
  await page.locator('#created').filter({ hasText: 'Created Rules room.' }).waitFor();
  expect(!(await page.locator('#new-conference').evaluate((d) => d.open)), 'the new-conference form is still open');
  const rulesCount = page.locator(`#conferences tr[data-id="${rulesRoom}"] .participants`);
  await rulesCount.filter({ hasText: /^0 \/  of at most 10$/ }).waitFor();

  step = 'a call whose pre_actions set moderator shows its role, live';
  await pre.fill('[{"type": "role_set", "option": {"role": "moderator"}}]');
  await page.waitForFunction(() => document.querySelector('#pre-actions-errors').children.length === 0);
  await page.getByRole('button', { name: 'Save actions' }).click();
  await page.locator('#save-status').filter({ hasText: 'Saved.' }).waitFor();
  await platformEvent('rules-join-1', 'call_joining', { call_id: 'rules-moderator', conference_id: rulesRoom, from: '+15550111' });
  await platformEvent('rules-joined-1', 'call_joined', { call_id: 'rules-moderator', conference_id: rulesRoom });
  const moderatorRow = page.locator('#calls tr[data-call="rules-moderator"]');
  await moderatorRow.locator('.badge.role-moderator').filter({ hasText: /^moderator$/ }).waitFor({ timeout: 5000 });
  expect((await moderatorRow.locator('.badge.muted').count()) === 0, 'the moderator shows muted');
  await moderatorRow.getByText('joined', { exact: true }).waitFor();

  step = 'a listener joins muted, shown live';
  await pre.fill('[{"type": "role_set", "option": {"role": "listener"}}]');
  await page.waitForFunction(() => document.querySelector('#pre-actions-errors').children.length === 0);
  await page.getByRole('button', { name: 'Save actions' }).click();
  await page.locator('#save-status').filter({ hasText: 'Saved.' }).waitFor();
  await platformEvent('rules-join-2', 'call_joining', { call_id: 'rules-listener', conference_id: rulesRoom, from: '+15550112' });
  const listenerRow = page.locator('#calls tr[data-call="rules-listener"]');
  await listenerRow.locator('.badge.role-listener').filter({ hasText: /^listener$/ }).waitFor({ timeout: 5000 });
  await listenerRow.locator('.badge.muted').filter({ hasText: /^muted$/ }).waitFor();
  const apiCalls = (await (await fetch(`${base}/v1.0/conferencecalls?conference_id=${rulesRoom}`, { headers: { authorization: `Bearer ${key}` } })).json()).result;
  const byRef = Object.fromEntries(apiCalls.map((c) => [c.reference_id, c]));
  expect(byRef['rules-moderator'].role === 'moderator' && byRef['rules-moderator'].muted === false, 'the API does not show the moderator');
  expect(byRef['rules-listener'].role === 'listener' && byRef['rules-listener'].muted === true, 'the API does not show the muted listener');

  step = "the server's 400 is shown at the field it names";
  // The console would not send a bad URL; the request is rewritten on its way to confab.
  await page.route(`**/v1.0/conferences/${rulesRoom}`, (route) => {
    if (route.request().method() !== 'PUT') return route.continue();
    const body = JSON.parse(route.request().postData());
    body.wait_music_url = 'ftp://music.example/hold.mp3';
    return route.continue({ postData: JSON.stringify(body) });
  });
  const settingsMusic = settings.getByLabel('Wait music URL');
  await settingsMusic.fill('https://music.example/other.mp3');
  await settings.getByRole('button', { name: 'Save settings' }).click();
  const musicErrors = page.locator('#settings-wait_music_url-errors');
  await musicErrors.getByText(/^Refused by confab: wait_music_url: must be/).waitFor();
  expect((await settingsMusic.getAttribute('aria-invalid')) === 'true', 'the refused URL is not marked invalid');
  await page.unroute(`**/v1.0/conferences/${rulesRoom}`);
  await settingsMusic.fill('https://music.example/hold.mp3');
  await settings.getByLabel('Max participants').fill('-1');
  await settings.getByLabel('Max participants').press('Tab');
  await page.locator('#settings-max_participants-errors').getByText('max_participants: must be 0 (no limit) or 1 to 1000').waitFor();
  await settings.getByLabel('Max participants').fill('10');

  step = 'editing sends only what changed; a locked room shows it';
  const puts = [];
  page.on('request', (r) => { if (r.method() === 'PUT' && r.url().endsWith(`/v1.0/conferences/${rulesRoom}`)) puts.push(JSON.parse(r.postData())); });
  await settings.getByLabel('Locked').check();
  await settings.getByRole('button', { name: 'Save settings' }).click();
  await page.locator('#settings-status').filter({ hasText: 'Saved: locked.' }).waitFor();
  expect(puts.length === 1 && JSON.stringify(puts[0]) === '{"locked":true}', `the PUT sent ${JSON.stringify(puts)}`);
  expect((await musicErrors.locator('li').count()) === 0, 'the refusal is still shown');
  expect((await read()).locked === true, 'the conference is not locked');
  await page.locator('#detail-locked').filter({ hasText: 'locked' }).waitFor();
  await page.locator(`#conferences tr[data-id="${rulesRoom}"] .badge.locked`).waitFor();
  await settings.getByRole('button', { name: 'Save settings' }).click();
  await page.locator('#settings-status').filter({ hasText: 'Nothing changed.' }).waitFor();
  expect(puts.length === 1, 'an unchanged form was sent');

  step = 'a call that is only joining has no controls';
  const callsOf = async () => Object.fromEntries((await apiGet(`/v1.0/conferencecalls?conference_id=${rulesRoom}`)).result.map((c) => [c.reference_id, c]));
  const ids = Object.fromEntries(Object.entries(await callsOf()).map(([ref, c]) => [ref, c.id]));
  const controls = page.locator('#calls tr.controls[data-controls-for="rules-moderator"]');
  await controls.waitFor();
  expect((await page.locator('#calls tr.controls[data-controls-for="rules-listener"]').count()) === 0, 'the joining call has controls');
  expect((await page.getByRole('button', { name: 'Mute rules-listener' }).count()) === 0, 'the joining call has a mute button');
  expect((await page.locator('#calls tr.controls').count()) === 1, 'not one row of controls');

  step = 'mute (keyboard): the row shows muted, and so does the API';
  const mute = page.getByRole('button', { name: 'Mute rules-moderator' });
  const hold = page.getByRole('button', { name: 'Hold rules-moderator' });
  expect((await mute.getAttribute('aria-pressed')) === 'false' && (await hold.getAttribute('aria-pressed')) === 'false', 'the toggles do not start unpressed');
  const controlRequests = [];
  page.on('request', (r) => { if (r.url().includes('/v1.0/conferencecalls/') || r.url().endsWith(`/v1.0/conferences/${rulesRoom}/actions`)) controlRequests.push(`${r.method()} ${new URL(r.url()).pathname} ${r.postData() || ''}`); });
  await mute.focus();
  await page.keyboard.press('Space');
  await page.locator('#calls tr.controls button[aria-pressed="true"]').filter({ hasText: 'Mute' }).waitFor();
  await moderatorRow.locator('.badge.muted').filter({ hasText: /^muted$/ }).waitFor();
  expect(await mute.evaluate((e) => e === document.activeElement), 'the mute button lost the focus');
  expect((await callsOf())['rules-moderator'].muted === true, 'the API does not show the call muted');
  expect(controlRequests.includes(`POST /v1.0/conferencecalls/${ids['rules-moderator']}/mute `), `the requests: ${controlRequests.join('; ')}`);

  step = 'unmute';
  await mute.click();
  await page.waitForFunction(() => document.querySelector('#calls tr.controls button.toggle').getAttribute('aria-pressed') === 'false');
  await moderatorRow.locator('.badge.muted').waitFor({ state: 'detached' });
  expect((await callsOf())['rules-moderator'].muted === false, 'the API shows the call muted');
  expect(controlRequests.includes(`DELETE /v1.0/conferencecalls/${ids['rules-moderator']}/mute `), `the requests: ${controlRequests.join('; ')}`);

  step = 'a bad hold music URL is named beside the control, before anything is sent';
  const music = controls.getByLabel('Hold music URL');
  const holdError = page.locator(`#cc-${ids['rules-moderator']}-hold-error`);
  await music.fill('music.example/hold.mp3');
  await hold.click();
  await holdError.getByText(/^Not held: the hold music must be empty or an http\(s\) URL/).waitFor();
  expect((await music.getAttribute('aria-invalid')) === 'true', 'the music URL is not marked invalid');
  expect(!controlRequests.some((r) => r.includes('/hold')), 'a bad music URL was sent');

  step = "confab's 400 about the music URL is shown beside the control";
  await page.route('**/v1.0/conferencecalls/*/hold', (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    return route.continue({ postData: JSON.stringify({ music_url: 'ftp://music.example/hold.mp3' }) });
  });
  await music.fill('https://music.example/held.mp3');
  await hold.click();
  await holdError.getByText(/^Not held: confab refused the music URL: music_url: must be/).waitFor();
  expect((await music.getAttribute('aria-invalid')) === 'true', 'the refused URL is not marked invalid');
  expect((await hold.getAttribute('aria-pressed')) === 'false', 'the refused hold shows pressed');
  await page.unroute('**/v1.0/conferencecalls/*/hold');

  step = 'hold with a music URL, then resume';
  const held = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/hold'));
  await hold.click();
  expect((await held).status() === 200, 'the hold was refused');
  await page.locator('#calls tr.controls button[aria-pressed="true"]').filter({ hasText: 'Hold' }).waitFor();
  await moderatorRow.locator('.badge.hold').filter({ hasText: /^on hold$/ }).waitFor();
  expect((await holdError.textContent()) === '', 'the refusal is still shown');
  expect((await music.getAttribute('aria-invalid')) === 'false', 'the music URL is still marked invalid');
  expect(controlRequests.includes(`POST /v1.0/conferencecalls/${ids['rules-moderator']}/hold {"music_url":"https://music.example/held.mp3"}`), `the requests: ${controlRequests.join('; ')}`);
  expect((await callsOf())['rules-moderator'].hold === true, 'the API does not show the call on hold');
  await controls.screenshot({ ...SHOT, path: join(shots, '18-call-on-hold.png') });
  await hold.click();
  await page.waitForFunction(() => document.querySelectorAll('#calls tr.controls button.toggle')[1].getAttribute('aria-pressed') === 'false');
  await moderatorRow.locator('.badge.hold').waitFor({ state: 'detached' });
  expect((await callsOf())['rules-moderator'].hold === false, 'the API shows the call on hold');

  step = 'a 409 is shown beside the control, in words';
  // The console offers no controls for a joining call; the request is sent on to one.
  await page.route('**/v1.0/conferencecalls/*/mute', (route) =>
    route.continue({ url: route.request().url().replace(ids['rules-moderator'], ids['rules-listener']) }));
  await mute.click();
  const muteError = page.locator(`#cc-${ids['rules-moderator']}-mute-error`);
  await muteError.getByText('Not muted: only a joined call can be muted; this one is joining.').waitFor();
  expect((await mute.getAttribute('aria-pressed')) === 'false', 'the refused mute shows pressed');
  expect((await mute.getAttribute('aria-describedby')).includes(`cc-${ids['rules-moderator']}-mute-error`), 'the mute button is not described by its error');
  await page.unroute('**/v1.0/conferencecalls/*/mute');

  step = 'say "hello" to the call (typed, sent with Enter)';
  const sayText = controls.getByLabel('Say to this call');
  const sayError = page.locator(`#cc-${ids['rules-moderator']}-say-error`);
  await controls.getByRole('button', { name: 'Say to rules-moderator' }).click();
  await sayError.getByText('Not said: Write what to say first.').waitFor();
  expect(!controlRequests.some((r) => r.includes('/actions')), 'an empty text was sent');
  await sayText.focus();
  await page.keyboard.type('hello');
  const saidToCall = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(`/v1.0/conferencecalls/${ids['rules-moderator']}/actions`));
  await page.keyboard.press('Enter');
  expect((await saidToCall).status() === 200, 'saying to the call was refused');
  await page.locator(`#cc-${ids['rules-moderator']}-said`).filter({ hasText: 'Said to this call: \u201chello\u201d' }).waitFor();
  expect((await sayError.textContent()) === '' && (await sayText.inputValue()) === '', 'the error or the text is still shown');
  expect(controlRequests.includes(`POST /v1.0/conferencecalls/${ids['rules-moderator']}/actions {"actions":[{"type":"talk","option":{"text":"hello"}}]}`), `the requests: ${controlRequests.join('; ')}`);

  step = 'say "hello" to the room';
  const roomText = page.getByLabel('Say to everyone in the room');
  await roomText.fill('hello');
  const saidToRoom = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(`/v1.0/conferences/${rulesRoom}/actions`));
  await page.getByRole('button', { name: 'Say to the room' }).click();
  expect((await saidToRoom).status() === 200, 'saying to the room was refused');
  await page.locator('#say-room-status').filter({ hasText: 'Said to the room: \u201chello\u201d (1 joined call).' }).waitFor();
  expect(controlRequests.includes(`POST /v1.0/conferences/${rulesRoom}/actions {"actions":[{"type":"talk","option":{"text":"hello"}}]}`), `the requests: ${controlRequests.join('; ')}`);

  step = 'a mute made elsewhere shows live';
  const elsewhere = await fetch(`${base}/v1.0/conferencecalls/${ids['rules-moderator']}/mute`, { method: 'POST', headers: { authorization: `Bearer ${key}` } });
  expect(elsewhere.ok, `the API refused the mute: ${elsewhere.status}`);
  await page.locator('#calls tr.controls button[aria-pressed="true"]').filter({ hasText: 'Mute' }).waitFor({ timeout: 5000 });
  await moderatorRow.locator('.badge.muted').waitFor();
  expect((await muteError.textContent()) === '', 'the refusal is still shown after the call was muted');
  expect((await sayText.inputValue()) === '' && (await page.locator(`#cc-${ids['rules-moderator']}-said`).textContent()).startsWith('Said'), 'the live update lost the message');

  step = 'the dial box: the room unlocked (through the API) offers it, with native only';
  const authed = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const unlocked = await fetch(`${base}/v1.0/conferences/${rulesRoom}`, { method: 'PUT', headers: authed, body: JSON.stringify({ locked: false }) });
  expect(unlocked.ok, `the API refused the unlock: ${unlocked.status}`);
  await page.locator('#detail-locked').waitFor({ state: 'hidden', timeout: 5000 });
  const dialBox = page.getByRole('form', { name: 'Call someone into this conference' });
  await dialBox.waitFor();
  const dialOptions = await dialBox.getByLabel('Platform').locator('option').allTextContents();
  expect(JSON.stringify(dialOptions) === '["native"]', `the platforms offered without connections: ${dialOptions}`);
  const dials = [];
  page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith(`/v1.0/conferences/${rulesRoom}/conferencecalls`)) dials.push(r.postData()); });
  const destination = dialBox.getByLabel('Destination');
  const destinationErrors = page.locator('#dial-destination-errors');
  const dialRefused = page.locator('#dial-refused');

  step = 'a bad destination is refused at its field, in words, before anything is sent';
  await destination.fill('12345');
  await dialBox.getByLabel('From').fill('+15550199');
  await dialBox.getByRole('button', { name: 'Dial' }).click();
  await destinationErrors.getByText(/^destination: must be an E\.164 number \(\+ and 2 to 15 digits, such as \+15550100\) or a sip: URI/).waitFor();
  await dialRefused.filter({ hasText: 'Not dialled: fix the errors first.' }).waitFor();
  expect((await destination.getAttribute('aria-invalid')) === 'true', 'the destination is not marked invalid');
  expect(await destination.evaluate((e) => e === document.activeElement), 'the bad destination does not have the focus');
  expect((await destination.getAttribute('aria-describedby')).includes('dial-destination-errors'), 'the destination is not described by its errors');
  expect(dials.length === 0, `a bad destination was sent: ${dials}`);
  await dialBox.screenshot({ ...SHOT, path: join(shots, '21-dial-bad-destination.png') });

  step = "confab's 400 is shown at the field it names";
  // The console would not send a bad timeout; the request is rewritten on its way to confab.
  await page.route(`**/v1.0/conferences/${rulesRoom}/conferencecalls`, (route) =>
    route.continue({ postData: JSON.stringify({ ...JSON.parse(route.request().postData()), timeout: 500 }) }));
  await destination.fill('+15550100');
  await destinationErrors.locator('li').waitFor({ state: 'detached' });
  await dialBox.getByRole('button', { name: 'Dial' }).click();
  await page.locator('#dial-timeout-errors').getByText('Refused by confab: timeout: must be 5 to 120 seconds').waitFor();
  await dialRefused.filter({ hasText: 'Not dialled: confab refused timeout.' }).waitFor();
  expect((await dialBox.getByLabel('Ring for').getAttribute('aria-invalid')) === 'true', 'the refused timeout is not marked invalid');
  await page.unroute(`**/v1.0/conferences/${rulesRoom}/conferencecalls`);

  step = 'dial +15550100 from +15550199 (native, sent with Enter): the row shows dialing';
  await dialBox.getByLabel('Platform').selectOption('native');
  await dialBox.getByLabel('Ring for').fill('');
  await destination.focus();
  const dialled = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(`/v1.0/conferences/${rulesRoom}/conferencecalls`));
  await page.keyboard.press('Enter');
  const dialAnswer = await dialled;
  expect(dialAnswer.status() === 200, `the dial was refused: ${dialAnswer.status()} ${await dialAnswer.text()}`);
  const dialCall = await dialAnswer.json();
  expect(dials[dials.length - 1] === '{"destination":"+15550100","from":"+15550199","dialect":"native"}', `the dial sent ${dials[dials.length - 1]}`);
  const dialRow = page.locator(`#calls tr[data-id="${dialCall.id}"]`);
  await dialRow.locator('.status').filter({ hasText: /^dialing$/ }).waitFor();
  await page.locator('#dial-status').filter({ hasText: 'Dialling +15550100 from +15550199: the call is dialing in the room above.' }).waitFor();
  expect((await page.locator('#dial-timeout-errors li').count()) === 0 && (await dialRefused.textContent()) === '', 'an old refusal is still shown');
  expect((await destination.inputValue()) === '', 'the destination was not cleared');
  expect((await dialRow.locator('button').count()) === 0 && (await page.locator(`#calls tr.controls[data-controls-for="${dialCall.reference_id}"]`).count()) === 0, 'a dialing call has controls');
  // The timeline is drawn from a reload the live feed asks for: the feed announced the dial.
  await page.locator('#timeline').getByText(`call ${dialCall.reference_id} dialing`).waitFor({ timeout: 5000 });
  await dialRow.locator('.status').filter({ hasText: /^dialing$/ }).waitFor();
  expect((await apiGet(`/v1.0/conferencecalls/${dialCall.id}`)).status === 'dialing', 'the API does not show the call dialing');
  await page.evaluate(() => document.querySelector('#calls-title').scrollIntoView());
  await page.screenshot({ ...SHOT, path: join(shots, '22-dialing.png') });

  step = 'lock the room in the settings form and dial: the 409 is shown by the form, in words';
  await page.waitForFunction(() => !document.querySelector('#settings-locked').checked);
  await settings.getByLabel('Locked').check();
  await settings.getByRole('button', { name: 'Save settings' }).click();
  await page.locator('#settings-status').filter({ hasText: 'Saved: locked.' }).waitFor();
  await page.locator('#detail-locked').waitFor();
  expect((await destinationErrors.locator('li').count()) === 0, 'leaving the emptied destination shows an error');
  await destination.fill('+15550101');
  const refusedDial = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(`/v1.0/conferences/${rulesRoom}/conferencecalls`));
  await dialBox.getByRole('button', { name: 'Dial' }).click();
  const refusal = await refusedDial;
  expect(refusal.status() === 409 && (await refusal.json()).error.reason === 'CONFERENCE_LOCKED', `the dial into a locked room answered ${refusal.status()}`);
  await dialRefused.filter({ hasText: 'Not dialled: the conference is locked: no call may join. Unlock the room in its settings to dial into it.' }).waitFor();
  expect((await page.locator('#dial-status').textContent()) === '', 'the last dial is still reported');
  expect((await destination.getAttribute('aria-invalid')) === 'false', 'a refusal of the room marks the destination');
  await dialBox.screenshot({ ...SHOT, path: join(shots, '23-dial-locked.png') });

  step = 'the controls are labelled, and the list is not cut';
  const unlabeledControls = await page.evaluate(() => [...document.querySelectorAll('#detail input, #detail button')]
    .filter((e) => !e.closest('[hidden]'))
    .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
    .map((e) => e.outerHTML));
  expect(unlabeledControls.length === 0, `controls without a label: ${unlabeledControls.join(' ')}`);
  const cut = () => page.evaluate(() => ['#conferences-wrap', '#calls'].map((s) => {
    const wrap = s === '#calls' ? document.querySelector(s).parentElement : document.querySelector(s);
    return wrap.scrollWidth - wrap.clientWidth;
  }));
  const [listCut, callsCut] = await cut();
  expect(listCut <= 1 && callsCut <= 1, `cut at 1280 px: the list by ${listCut}px, the calls by ${callsCut}px`);
  // Beside the conference the list folds type and recording under the name; the rest fits.
  const headerCut = () => page.evaluate(() => {
    const wrap = document.querySelector('#conferences-wrap').getBoundingClientRect();
    return [...document.querySelectorAll('#conferences th')].filter((th) => th.offsetWidth > 0)
      .filter((th) => th.getBoundingClientRect().right > wrap.right + 1 || th.scrollWidth > th.clientWidth + 1).map((th) => th.textContent);
  });
  expect((await headerCut()).length === 0, `headers cut at 1280 px: ${await headerCut()}`);
  await page.locator(`#conferences tr[data-id="${rulesRoom}"] .sub`).filter({ hasText: /^conference$/ }).waitFor();
  await page.evaluate(() => document.querySelector('#calls-title').scrollIntoView());
  await page.screenshot({ ...SHOT, path: join(shots, '19-call-controls.png') });
  // What the author sees: the list's top (the newest, locked room) beside the room's calls.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ ...SHOT, path: join(shots, '13-room-rules.png') });
  await page.evaluate(() => document.querySelector('#settings').scrollIntoView());
  await page.screenshot({ ...SHOT, path: join(shots, '13b-room-settings.png') });

  step = 'room rules, roles and call controls in a narrow window';
  await page.setViewportSize({ width: 320, height: 800 });
  const rulesOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  const [narrowListCut, narrowCallsCut] = await cut();
  expect(narrowListCut <= 1 && narrowCallsCut <= 1, `cut at 320 px: the list by ${narrowListCut}px, the calls by ${narrowCallsCut}px`);
  expect((await headerCut()).length === 0, `headers cut at 320 px: ${await headerCut()}`);
  await page.evaluate(() => document.querySelector('#calls-title').scrollIntoView());
  await page.screenshot({ ...SHOT, path: join(shots, '14-room-rules-narrow.png') });
  await page.evaluate(() => document.querySelector('#calls tr.controls').scrollIntoView());
  await page.screenshot({ ...SHOT, path: join(shots, '20-call-controls-narrow.png') });
  await page.evaluate(() => document.querySelector('#dial').scrollIntoView());
  await page.screenshot({ ...SHOT, path: join(shots, '24-dial-narrow.png') });
  await page.evaluate(() => document.querySelector('#settings').scrollIntoView());
  await page.screenshot({ ...SHOT, path: join(shots, '15-settings-narrow.png') });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ ...SHOT, path: join(shots, '16-list-narrow.png') });
  await page.locator('#new-conference > summary').click();
  await page.evaluate(() => document.querySelector('#new-conference').scrollIntoView());
  await page.screenshot({ ...SHOT, path: join(shots, '17-create-narrow.png') });
  expect(rulesOverflow <= 1, `the room rules are ${rulesOverflow}px wider than a narrow window`);
  await page.setViewportSize({ width: 1280, height: 900 });

  step = 'a narrow window, with an error showing';
  await pre.fill('[{"type": "play", "option": {"stream_urls": ["not-a-url-at-all-and-rather-long-without-any-space-to-break"]}}]');
  await preErrors.getByText('pre_actions[0].option.stream_urls[0]: must be an http(s) URL').waitFor({ timeout: 5000 });
  await page.setViewportSize({ width: 320, height: 800 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await shot('07-narrow.png');
  expect(overflow <= 1, `the page is ${overflow}px wider than a narrow window`);

  step = 'nothing but confab was asked for';
  expect(foreign.length === 0, `requests outside confab: ${foreign.join(', ')}`);
  expect(errors.length === 0, `script errors: ${errors.join('; ')}`);
  console.log(JSON.stringify({ passed: true, screenshots: shots }));
} catch (e) {
  console.error(`console test failed at "${step}": ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
}

main();
