// The console in a real browser (headless Chromium driven by playwright-core), as a flow
// author uses it: sign in with the keyboard, watch a conference's participant count change
// when the platform posts events, edit an action list with an error and see it named at the
// field, fix and save it, run a simulation and read its trace, simulate a PIN room with the
// caller's digits (a wrong PIN, then the right one) and read its pauses, resumes and answers,
// and use it in a narrow window.
// A screenshot of each step is saved for review.
//
// Input (environment): CONFAB_URL, CONFAB_KEY, CONFAB_CONFERENCE (an empty conference named
// "Console room"; a conference "PIN room" runs the `pin` flow with PIN 4711), CONFAB_PLATFORM_SECRET (whsec_...), CHROMIUM (the browser's path),
// SCREENSHOTS (a directory). Exit 0 when every step passed; otherwise the failing step.

'use strict';
// CommonJS, so that NODE_PATH (the tests' pinned node_modules) resolves playwright-core.
const { chromium } = require('playwright-core');
const { createHmac } = require('node:crypto');
const { mkdirSync } = require('node:fs');
const { join } = require('node:path');

const base = process.env.CONFAB_URL;
const key = process.env.CONFAB_KEY;
const conference = process.env.CONFAB_CONFERENCE;
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
  const shot = (name) => page.screenshot({ path: join(shots, name), fullPage: true });

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

  step = 'page to the conference (100 newer ones are on the first page)';
  await page.locator('#conferences tbody tr').nth(99).waitFor();
  expect((await page.locator('#conferences tbody tr').count()) === 100, 'the first page is not 100 conferences');
  await page.getByRole('button', { name: 'Show more conferences' }).click();

  step = 'open the conference';
  await page.getByRole('button', { name: 'Open conference Console room' }).click();
  await page.locator('#participant-count').filter({ hasText: /^0$/ }).waitFor();
  await shot('02-conference.png');

  step = 'the participant count follows platform events (no reload)';
  await platformEvent('console-join-1', 'call_joining', { call_id: 'console-call-1', conference_id: conference, from: '+15550100' });
  await platformEvent('console-joined-1', 'call_joined', { call_id: 'console-call-1', conference_id: conference });
  await page.locator('#participant-count').filter({ hasText: /^1$/ }).waitFor({ timeout: 5000 });
  await page.locator('#timeline').getByText('call console-call-1 joined').waitFor();
  const row = page.locator(`#conferences tr[data-id="${conference}"] .participants`);
  expect((await row.textContent()) === '1', 'the list does not show 1 participant');
  await shot('03-live-participant.png');

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
  await page.locator('#simulator-panel').screenshot({ path: join(shots, '08-bad-digits.png') });

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
  await page.locator('#simulator-panel').screenshot({ path: join(shots, '09-pin-simulation.png') });

  step = 'nothing entered, then no entry left: the run ends waiting';
  await inputs.fill('-');
  await page.getByRole('button', { name: 'Run simulation' }).click();
  await page.locator('#sim-outcome').filter({ hasText: 'Ends waiting for digits at pause 2: no entry left for it.' }).waitFor();
  await trace.locator('li.resume').getByText('resumed with nothing entered (pause 1)').waitFor();
  await trace.locator('li.pause').last().getByText('waiting for digits (pause 2) after 8 steps: no digits left, the run ends here').waitFor();
  await answers.last().getByText('Answer to the digits of pause 1: nothing entered \u2014 asks for digits (pause 2)').waitFor();

  step = 'the PIN room simulated in a narrow window';
  await inputs.fill('1111, 4711');
  await page.getByRole('button', { name: 'Run simulation' }).click();
  await page.locator('#sim-outcome').filter({ hasText: 'The call joins the conference after 2 pauses.' }).waitFor();
  await page.setViewportSize({ width: 320, height: 800 });
  const narrowOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  // What a phone shows: the panel's top, then the trace's pauses and resumes.
  await page.evaluate(() => document.querySelector('#simulator-panel').scrollIntoView());
  await page.screenshot({ path: join(shots, '10-pin-narrow.png') });
  await page.evaluate(() => document.querySelector('#sim-trace li.pause').scrollIntoView());
  await page.screenshot({ path: join(shots, '11-pin-narrow-trace.png') });
  expect(narrowOverflow <= 1, `the simulation is ${narrowOverflow}px wider than a narrow window`);
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
