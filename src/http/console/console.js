// confab console: talks only to the confab that served it, with the API key kept in this
// tab's session storage and sent in the Authorization header (never in a URL).
'use strict';

const $ = (id) => document.getElementById(id);
const NIL = '00000000-0000-0000-0000-000000000000';
const state = { key: sessionStorage.getItem('confab.key'), selected: null, stream: null, dirty: {}, pages: 1, touched: new Set(), shown: null };

async function api(method, path, body) {
  const headers = { Authorization: 'Bearer ' + state.key };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
  return { status: res.status, ok: res.ok, json };
}

function notice(text) {
  $('notice').textContent = text || '';
  $('notice').hidden = !text;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'text') e.textContent = v; else if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

// ---- sign in ----------------------------------------------------------------------------

async function signIn(key) {
  state.key = key;
  const me = await api('GET', '/v1.0/customer');
  if (!me.ok) {
    state.key = null;
    sessionStorage.removeItem('confab.key');
    notice(me.status === 401 ? 'That API key is not valid.' : 'Sign-in failed (' + me.status + ').');
    return;
  }
  sessionStorage.setItem('confab.key', key);
  notice('');
  $('signin').hidden = true;
  $('session').hidden = false;
  $('whoami').textContent = 'Signed in as ' + me.json.name;
  offerDialects(me.json);
  $('app').hidden = false;
  defaultUsageRange();
  await Promise.all([loadConferences(), loadFlows(), loadUsage(usageQuery())]);
  listen();
  state.poll = setInterval(() => refresh(null), 10000);
}

function signOut() {
  sessionStorage.removeItem('confab.key');
  if (state.stream) state.stream.abort();
  clearInterval(state.poll);
  location.reload();
}

// ---- conferences ------------------------------------------------------------------------

async function loadConferences() {
  // As many pages as the author has asked to see, so a live reload keeps what is shown.
  const items = [];
  let token = '';
  let more = false;
  for (let page = 0; page < state.pages; page++) {
    const query = '/v1.0/conferences?page_size=100' + (token ? '&page_token=' + encodeURIComponent(token) : '');
    const r = await api('GET', query);
    if (!r.ok) return notice('Could not list conferences: ' + (r.json?.error?.message || r.status));
    items.push(...r.json.result);
    token = r.json.next_page_token;
    more = token !== '';
    if (!more) break;
  }
  const body = $('conferences').querySelector('tbody');
  body.replaceChildren(...items.map((c) => {
    const open = el('button', { type: 'button', class: 'link', text: c.name || c.id, 'aria-label': 'Open conference ' + (c.name || c.id), onclick: () => select(c.id) });
    const status = el('td', { text: c.status });
    if (c.locked) status.append(' ', badge('locked', 'locked'));
    const recording = c.recording_id !== NIL;
    // In a narrow list the type and recording columns give way to a line under the name
    // (console.css); only one of the two is ever shown, so it is read once.
    const sub = el('span', { class: 'sub', text: c.type + (recording ? ', recording' : '') });
    const row = el('tr', { 'data-id': c.id, 'aria-selected': String(c.id === state.selected) },
      el('td', { class: 'name' }, open, sub), status, el('td', { class: 'type', text: c.type }),
      participants(c),
      el('td', { class: 'recording', text: recording ? 'recording' : '—' }));
    row.addEventListener('click', (e) => { if (e.target === row || e.target.tagName === 'TD') select(c.id); });
    return row;
  }));
  $('more-conferences').hidden = !more;
}

// The calls joined, and the room's limit when it has one: "1 / 10", read as "1 of at most 10".
function participants(c) {
  const cell = el('td', { class: 'participants', text: String(c.conferencecall_ids.length) });
  if (c.max_participants) {
    cell.append(el('span', { class: 'limit' }, el('span', { 'aria-hidden': 'true', text: ' / ' }),
      el('span', { class: 'visually-hidden', text: ' of at most ' }), String(c.max_participants)));
  }
  return cell;
}

async function select(id) {
  if (id !== state.selected) {
    $('say-room-text').value = '';
    setMessage($('say-room-errors'), '', $('say-room-text'));
    setMessage($('say-room-status'), '');
    clearDial();
  }
  state.selected = id;
  state.dirty = {};
  state.touched.clear();
  $('settings-status').textContent = '';
  for (const f of ['name', ...RULES.map((r) => r.name)]) showFieldErrors('settings', f, []);
  for (const row of document.querySelectorAll('#conferences tbody tr')) row.setAttribute('aria-selected', String(row.dataset.id === id));
  $('detail').hidden = false;
  await loadDetail(true);
  $('detail-title').focus?.();
}

async function loadDetail(fillEditor) {
  const id = state.selected;
  if (!id) return;
  // All of its calls (leaved ones too, every page): the participants chart needs each stay.
  const [conf, calls, recs, hooks, summary] = await Promise.all([
    api('GET', '/v1.0/conferences/' + id),
    allCalls(id),
    api('GET', '/v1.0/recordings?page_size=100&conference_id=' + id),
    api('GET', '/v1.0/webhook_deliveries?page_size=100&conference_id=' + id),
    api('GET', '/v1.0/conferences/' + id + '/summary'),
  ]);
  if (id !== state.selected) return; // another conference was opened meanwhile
  if (!conf.ok) return notice('Could not read the conference: ' + (conf.json?.error?.message || conf.status));
  const c = conf.json;
  $('detail-title').textContent = 'Conference ' + (c.name || c.id);
  $('detail-status').textContent = c.status;
  $('detail-locked').hidden = !c.locked;
  $('participant-count').textContent = String(c.conferencecall_ids.length);
  $('recording-count').textContent = String(c.recording_ids.length);
  for (const list of ['pre_actions', 'post_actions']) {
    const area = $(list.replace('_', '-'));
    if (fillEditor || !state.dirty[list]) area.value = JSON.stringify(c[list], null, 2);
  }
  fillSettings(c);
  showRoomSay(c);
  showDial(c);
  // The list and the timeline show the newest 100 calls, as they did before the chart needed
  // more of them.
  renderCalls(calls.calls.slice(0, 100));
  renderTimeline(calls.calls.slice(0, 100), recs.json?.result || [], hooks.json?.result || []);
  renderParticipants(calls.calls, confabNow(summary.ok ? summary.json : null));
  $('participants-cut').hidden = !calls.more;
  renderSummary(summary.ok ? summary.json : null);
}

function badge(kind, text) {
  return el('span', { class: 'badge ' + kind, text });
}

// ---- calls in the room: their state, live, and a joined call's controls (SPEC §15) ------

// The calls shown, by conferencecall id: { call, row, controls }. Rows are updated in place,
// so a live update keeps the focus, a half-typed text and a message shown beside a control.
const shownCalls = new Map();
const MAX_TALK_CHARS = 5000;

// The calls now in the room (joining, joined or leaving), each with its role, muting and
// hold; redrawn with the rest of the detail on every change the live feed reports.
function renderCalls(calls) {
  const body = $('calls').querySelector('tbody');
  const inRoom = calls.filter((call) => call.status !== 'leaved');
  const ids = new Set(inRoom.map((call) => call.id));
  for (const [id, shown] of shownCalls) {
    if (ids.has(id)) continue;
    shown.row.remove();
    shown.controls?.row.remove();
    shownCalls.delete(id);
  }
  if (!inRoom.length) {
    body.replaceChildren(el('tr', { class: 'empty' }, el('td', { colspan: '3', text: 'No calls in the room.' })));
    return;
  }
  body.querySelector('tr.empty')?.remove();
  const order = [];
  for (const call of inRoom) {
    const shown = showCall(call);
    order.push(shown.row);
    if (shown.controls) order.push(shown.controls.row);
  }
  // Only a row out of place moves: moving a row takes the focus from its controls.
  order.forEach((row, i) => { if (body.children[i] !== row) body.insertBefore(row, body.children[i] || null); });
}

/** Shows a call as read (from a list or a request's answer); a read older than the one shown
 * is ignored. Answers the call's entry in `shownCalls`. */
function showCall(call) {
  let shown = shownCalls.get(call.id);
  if (!shown) {
    const row = el('tr', { 'data-call': call.reference_id, 'data-id': call.id },
      el('td', { class: 'call', text: call.reference_id }), el('td', { class: 'status' }), el('td', { class: 'role' }));
    shown = { call, row, controls: null };
    shownCalls.set(call.id, shown);
  } else if (call.tm_update < shown.call.tm_update) {
    return shown;
  }
  // A message beside Mute or Hold is about an attempt that the state has since overtaken.
  if (shown.controls && call.muted !== shown.call.muted) setMessage(shown.controls.muteError, '');
  if (shown.controls && call.hold !== shown.call.hold) setMessage(shown.controls.holdError, '', shown.controls.music);
  shown.call = call;
  const [, status, role] = shown.row.children;
  status.textContent = call.status;
  const badges = [badge('role-' + call.role, call.role)];
  if (call.muted) badges.push(' ', badge('muted', 'muted'));
  if (call.hold) badges.push(' ', badge('hold', 'on hold'));
  role.replaceChildren(...badges);
  // Controls only for a joined call: confab refuses the others (409).
  if (call.status === 'joined') {
    shown.controls ||= callControls(shown);
    shown.controls.mute.setAttribute('aria-pressed', String(call.muted));
    shown.controls.hold.setAttribute('aria-pressed', String(call.hold));
  } else if (shown.controls) {
    shown.controls.row.remove();
    shown.controls = null;
  }
  return shown;
}

/** A call as a request about it answered: shown at once, before the live feed says so. */
function answered(call) {
  const shown = showCall(call);
  if (shown.controls && !shown.controls.row.isConnected && shown.row.isConnected) shown.row.after(shown.controls.row);
}

// The row under a joined call's row: Mute and Hold (toggles, aria-pressed), the hold music,
// and a text said to this call only. Each control has its message beside it.
function callControls(shown) {
  const ref = shown.call.reference_id;
  const id = 'cc-' + shown.call.id;
  const message = (name, kind) => el('p', { id: id + '-' + name, class: kind, 'aria-live': 'polite' });
  const c = {
    mute: el('button', { type: 'button', class: 'toggle', 'aria-pressed': 'false', 'aria-label': 'Mute ' + ref, 'aria-describedby': id + '-mute-error' }, 'Mute'),
    muteError: message('mute-error', 'error'),
    hold: el('button', { type: 'button', class: 'toggle', 'aria-pressed': 'false', 'aria-label': 'Hold ' + ref, 'aria-describedby': id + '-hold-error' }, 'Hold'),
    music: el('input', { id: id + '-music', type: 'url', inputmode: 'url', autocomplete: 'off', spellcheck: 'false', maxlength: String(MAX_URL_CHARS), 'aria-describedby': id + '-hold-error' }),
    holdError: message('hold-error', 'error'),
    text: el('input', { id: id + '-say', type: 'text', autocomplete: 'off', maxlength: String(MAX_TALK_CHARS), 'aria-describedby': id + '-say-error ' + id + '-said' }),
    say: el('button', { type: 'submit', 'aria-label': 'Say to ' + ref }, 'Say'),
    sayError: message('say-error', 'error'),
    said: message('said', 'done'),
  };
  c.mute.addEventListener('click', () => toggleMute(shown));
  c.hold.addEventListener('click', () => toggleHold(shown));
  // Enter in the music field puts the call on hold (and does nothing when it is held).
  c.music.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); if (!shown.call.hold) toggleHold(shown); } });
  const hidden = (text) => el('span', { class: 'visually-hidden', text });
  const sayForm = el('form', { class: 'ctl say', novalidate: '' },
    el('label', { for: c.text.id }, 'Say to this call', hidden(' (' + ref + ')')),
    el('div', { class: 'say-row' }, c.text, c.say), c.sayError, c.said);
  sayForm.addEventListener('submit', (e) => { e.preventDefault(); sayToCall(shown); });
  const group = el('div', { class: 'call-controls', role: 'group', 'aria-label': 'Controls for call ' + ref },
    el('div', { class: 'ctl mute' }, el('span', { class: 'label-space', 'aria-hidden': 'true', text: '\u00a0' }), c.mute, c.muteError),
    el('div', { class: 'ctl hold' },
      el('label', { for: c.music.id }, 'Hold music URL', hidden(' for ' + ref), el('span', { class: 'optional', text: ' (optional)' })),
      el('div', { class: 'say-row' }, c.music, c.hold), c.holdError),
    sayForm);
  c.row = el('tr', { class: 'controls', 'data-controls-for': ref }, el('td', { colspan: '3' }, group));
  return c;
}

/** A request from a control, which is marked busy (not disabled: it keeps the focus) until
 * the answer; a second press meanwhile is ignored. No answer at all is status 0. */
async function send(button, method, path, body) {
  if (button.getAttribute('aria-disabled') === 'true') return null;
  button.setAttribute('aria-disabled', 'true');
  try {
    return await api(method, path, body);
  } catch (_) {
    return { status: 0, ok: false, json: null };
  } finally {
    button.removeAttribute('aria-disabled');
  }
}

/** Why confab refused, in its words, as a sentence. */
function reason(r) {
  const message = r.json?.error?.message || (r.status ? 'confab answered ' + r.status : 'confab could not be reached');
  return /[.!?]$/.test(message) ? message : message + '.';
}

function setMessage(node, text, input) {
  node.textContent = text;
  if (input) input.setAttribute('aria-invalid', String(Boolean(text)));
}

async function toggleMute(shown) {
  const c = shown.controls;
  const on = !shown.call.muted;
  const r = await send(c.mute, on ? 'POST' : 'DELETE', '/v1.0/conferencecalls/' + shown.call.id + '/mute');
  if (!r) return;
  if (r.ok) { setMessage(c.muteError, ''); answered(r.json); } else setMessage(c.muteError, (on ? 'Not muted: ' : 'Not unmuted: ') + reason(r));
}

/** What is wrong with a hold music URL: '' when nothing (empty is the platform's music). */
function musicError(url) {
  const fine = url === '' || (/^https?:\/\/[^/\s][^\s]*$/.test(url) && [...url].length <= MAX_URL_CHARS && !CONTROL.test(url));
  return fine ? '' : 'Not held: the hold music must be empty or an http(s) URL without spaces, of at most ' + MAX_URL_CHARS + ' characters.';
}

async function toggleHold(shown) {
  const c = shown.controls;
  const on = !shown.call.hold;
  let body;
  if (on) {
    const url = c.music.value.trim();
    const bad = musicError(url);
    if (bad) { setMessage(c.holdError, bad, c.music); c.music.focus(); return; }
    if (url) body = { music_url: url };
  }
  const r = await send(c.hold, on ? 'POST' : 'DELETE', '/v1.0/conferencecalls/' + shown.call.id + '/hold', body);
  if (!r) return;
  if (r.ok) { setMessage(c.holdError, '', c.music); answered(r.json); return; }
  // A 400 names the field it refuses: the music is the only one.
  const music = r.status === 400 && /^music_url\b/.test(r.json?.error?.message || '');
  setMessage(c.holdError, (on ? 'Not held: ' : 'Not resumed: ') + (music ? 'confab refused the music URL: ' : '') + reason(r), music ? c.music : null);
  if (music) c.music.focus();
}

/** What is wrong with a text to say: '' when nothing. */
function talkError(text) {
  if (!text.trim()) return 'Write what to say first.';
  if ([...text].length > MAX_TALK_CHARS) return 'At most ' + MAX_TALK_CHARS + ' characters can be said at once.';
  return '';
}

/** Says `text` (a talk action) at `path`; shows what happened in `error`/`done`. */
async function say(path, input, button, error, done, to) {
  setMessage(done, '');
  const text = input.value;
  const bad = talkError(text);
  if (bad) { setMessage(error, 'Not said: ' + bad, input); input.focus(); return null; }
  const r = await send(button, 'POST', path, { actions: [{ type: 'talk', option: { text } }] });
  if (!r) return null;
  if (!r.ok) {
    // A 400 names the action's field (`actions[0].option.text: ...`): the text is at fault.
    setMessage(error, 'Not said: ' + reason(r), r.status === 400 ? input : null);
    return null;
  }
  setMessage(error, '', input);
  input.value = '';
  setMessage(done, 'Said to ' + to + ': \u201c' + text + '\u201d');
  return r.json;
}

async function sayToCall(shown) {
  const c = shown.controls;
  const call = await say('/v1.0/conferencecalls/' + shown.call.id + '/actions', c.text, c.say, c.sayError, c.said, 'this call');
  if (call) answered(call);
}

async function sayToRoom(event) {
  event.preventDefault();
  const form = $('say-room');
  const conf = await say('/v1.0/conferences/' + state.selected + '/actions', $('say-room-text'), form.querySelector('button'),
    $('say-room-errors'), $('say-room-status'), 'the room');
  if (conf) {
    const n = conf.conferencecall_ids.length;
    $('say-room-status').append(' (' + n + (n === 1 ? ' joined call' : ' joined calls') + ').');
  }
}

/** The room box: for a room that can still be spoken to (starting or progressing). */
function showRoomSay(c) {
  const open = c.status === 'starting' || c.status === 'progressing';
  if (!open && !$('say-room').hidden) { setMessage($('say-room-errors'), '', $('say-room-text')); setMessage($('say-room-status'), ''); }
  $('say-room').hidden = !open;
}

// ---- dial-out: call someone into the conference (§15, issue 27) -------------------------

// The dial's fields as the API names them; each input is `dial-{name}`.
const DIAL_FIELDS = ['destination', 'from', 'dialect', 'timeout'];
const E164 = /^\+[1-9][0-9]{1,14}$/;
const MAX_SIP_CHARS = 256;
const DIAL_TIMEOUT = { min: 5, max: 120, default: 30 };

/** native always (whether confab has a --platform-url is not the console's to know); twilio
 * and jambonz when the customer has their connection (GET /v1.0/customer shows it, masked). */
function offerDialects(customer) {
  const names = ['native', ...['twilio', 'jambonz'].filter((n) => customer[n])];
  $('dial-dialect').replaceChildren(...names.map((n) => el('option', { value: n, text: n })));
}

function dialValue(name) {
  const input = $(fieldId('dial', name));
  return name === 'dialect' ? input.value : input.value.trim();
}

/** What is wrong with a dial field, named as confab names it; [] when nothing. */
function dialErrors(name) {
  const value = dialValue(name);
  if (name === 'destination' || name === 'from') {
    if (value === '') return [name + ': is required'];
    const sip = /^sip:\S+$/.test(value) && [...value].length <= MAX_SIP_CHARS && !CONTROL.test(value);
    if (E164.test(value) || sip) return [];
    return [name + ': must be an E.164 number (+ and 2 to 15 digits, such as +15550100) or a sip: URI of at most ' + MAX_SIP_CHARS + ' characters, without spaces'];
  }
  if (name === 'timeout') {
    if (value === '' && !$('dial-timeout').validity.badInput) return [];
    const n = Number(value);
    return Number.isInteger(n) && n >= DIAL_TIMEOUT.min && n <= DIAL_TIMEOUT.max ? []
      : ['timeout: must be ' + DIAL_TIMEOUT.min + ' to ' + DIAL_TIMEOUT.max + ' seconds, or empty for ' + DIAL_TIMEOUT.default];
  }
  return [];
}

/** What the author can do about a refusal of the room or of the customer's dials. */
function dialAdvice(r) {
  switch (r.json?.error?.reason) {
    case 'CONFERENCE_LOCKED': return ' Unlock the room in its settings to dial into it.';
    case 'CONFERENCE_FULL': return ' Calls still being dialled count in the room.';
    case 'DIAL_LIMIT': return ' Dial again once one of your calls being dialled answers or ends.';
    default: return '';
  }
}

function clearDial() {
  for (const name of DIAL_FIELDS) showFieldErrors('dial', name, []);
  setMessage($('dial-status'), '');
  setMessage($('dial-refused'), '');
}

/** The dial box: only a progressing room dials (confab refuses the others, 409). */
function showDial(c) {
  const open = c.status === 'progressing';
  if (!open && !$('dial').hidden) clearDial();
  $('dial').hidden = !open;
  $('dial-closed').textContent = open ? '' : 'Only a progressing room dials calls in; this one is ' + c.status + '.';
  $('dial-closed').hidden = open;
}

async function dialOut(event) {
  event.preventDefault();
  setMessage($('dial-status'), '');
  setMessage($('dial-refused'), '');
  let first = null;
  for (const name of DIAL_FIELDS) {
    const errors = dialErrors(name);
    showFieldErrors('dial', name, errors);
    if (errors.length && !first) first = $(fieldId('dial', name));
  }
  if (first) { setMessage($('dial-refused'), 'Not dialled: fix the errors first.'); first.focus(); return; }
  const body = { destination: dialValue('destination'), from: dialValue('from'), dialect: dialValue('dialect') };
  if (dialValue('timeout') !== '') body.timeout = Number(dialValue('timeout'));
  const conference = state.selected;
  const r = await send($('dial').querySelector('button[type="submit"]'), 'POST', '/v1.0/conferences/' + conference + '/conferencecalls', body);
  if (!r || conference !== state.selected) return;
  if (!r.ok) {
    // A 400 names the field it refuses (`destination: must be ...`): shown there.
    const named = /^([a-z_]+):/.exec(r.json?.error?.message || '')?.[1];
    if (r.status === 400 && DIAL_FIELDS.includes(named)) {
      showFieldErrors('dial', named, ['Refused by confab: ' + r.json.error.message]);
      $(fieldId('dial', named)).focus();
      setMessage($('dial-refused'), 'Not dialled: confab refused ' + named + '.');
      return;
    }
    setMessage($('dial-refused'), 'Not dialled: ' + reason(r) + dialAdvice(r));
    return;
  }
  $('dial-destination').value = '';
  setMessage($('dial-status'), 'Dialling ' + body.destination + ' from ' + body.from + ': the call is ' + r.json.status + ' in the room above.');
  // Shown at once; the live feed's change then redraws the table in the list's order.
  const shown = showCall(r.json);
  const tbody = $('calls').querySelector('tbody');
  if (!shown.row.isConnected) { tbody.querySelector('tr.empty')?.remove(); tbody.append(shown.row); }
}

function watchDial() {
  for (const name of DIAL_FIELDS) {
    const input = $(fieldId('dial', name));
    const check = () => showFieldErrors('dial', name, dialErrors(name));
    // As the settings form: checked on leaving the field (not for its own submit button),
    // then at every change once marked. A field left empty is only called required by the
    // submit: the destination is emptied after each dial, and the focus leaves it after.
    input.addEventListener('focusout', (e) => {
      const to = e.relatedTarget;
      if (to && to.type === 'submit' && to.form === input.form) return;
      if (input.value.trim() === '' && input.getAttribute('aria-invalid') !== 'true' && !input.validity?.badInput) return;
      check();
    });
    input.addEventListener('input', () => { if (input.getAttribute('aria-invalid') === 'true') check(); });
  }
}

function renderTimeline(calls, recordings, deliveries) {
  const items = [];
  // A call's list entry holds when it came (joining) and where it is now.
  for (const call of calls) {
    const first = call.status === 'dialing' ? 'dialing' : 'joining';
    items.push({ at: call.tm_create, text: 'call ' + call.reference_id + ' ' + first });
    if (call.status !== first) items.push({ at: call.tm_update, text: 'call ' + call.reference_id + ' ' + call.status });
  }
  for (const r of recordings) items.push({ at: r.tm_create, text: 'recording ' + r.id.slice(0, 8) + ' ' + r.status + (r.media_url ? ' ' + r.media_url : '') });
  for (const d of deliveries) {
    const retry = d.status === 'failed'
      ? el('button', { type: 'button', text: 'Retry', 'aria-label': 'Retry webhook ' + d.event_type, onclick: () => retryDelivery(d.id) })
      : null;
    items.push({ at: d.tm_create, text: 'webhook ' + d.event_type + ': ' + d.status + ' (' + d.attempts + ' attempts' + (d.last_status ? ', last ' + d.last_status : '') + ')', extra: retry });
  }
  items.sort((a, b) => (a.at < b.at ? 1 : -1));
  $('timeline').replaceChildren(...items.map((i) => {
    const li = el('li', {}, el('time', { text: i.at }), ' ' + i.text);
    if (i.extra) li.append(' ', i.extra);
    return li;
  }));
  if (!items.length) $('timeline').replaceChildren(el('li', { text: 'Nothing yet.' }));
}

async function retryDelivery(id) {
  const r = await api('POST', '/v1.0/webhook_deliveries/' + id + '/retry');
  notice(r.ok ? '' : 'Retry refused: ' + (r.json?.error?.message || r.status));
  await loadDetail(false);
}

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

// ---- editor: validated as you type, saved with PUT -------------------------------------

const timers = {};

function listOf(area) { return area.id.replace('-', '_'); }

function showErrors(list, messages) {
  const area = $(list.replace('_', '-'));
  area.setAttribute('aria-invalid', String(messages.length > 0));
  $(list.replace('_', '-') + '-errors').replaceChildren(...messages.map((m) => el('li', { text: m })));
}

function parseList(list) {
  const text = $(list.replace('_', '-')).value;
  try {
    const value = JSON.parse(text || '[]');
    if (!Array.isArray(value)) return { error: list + ': must be a JSON array of actions' };
    return { value };
  } catch (e) {
    return { error: list + ': not valid JSON (' + e.message + ')' };
  }
}

async function validate(list) {
  const parsed = parseList(list);
  if (parsed.error) return showErrors(list, [parsed.error]);
  // The simulation endpoint checks a list exactly as a write does, and changes nothing.
  const event = list === 'pre_actions' ? 'join' : 'leave';
  const r = await api('POST', '/v1.0/simulations', { actions: parsed.value, event });
  if (r.ok) return showErrors(list, []);
  const message = (r.json?.error?.message || 'refused (' + r.status + ')').replace(/^actions/, list);
  showErrors(list, [message]);
}

function onEdit(event) {
  const list = listOf(event.target);
  state.dirty[list] = true;
  clearTimeout(timers[list]);
  timers[list] = setTimeout(() => validate(list), 300);
}

async function save(event) {
  event.preventDefault();
  const body = {};
  for (const list of ['pre_actions', 'post_actions']) {
    const parsed = parseList(list);
    if (parsed.error) { showErrors(list, [parsed.error]); $('save-status').textContent = 'Not saved: fix the errors first.'; return; }
    body[list] = parsed.value;
  }
  const r = await api('PUT', '/v1.0/conferences/' + state.selected, body);
  if (r.ok) {
    state.dirty = {};
    showErrors('pre_actions', []);
    showErrors('post_actions', []);
    $('save-status').textContent = 'Saved.';
    await loadDetail(true);
    return;
  }
  const message = r.json?.error?.message || 'refused (' + r.status + ')';
  const list = message.startsWith('post_actions') ? 'post_actions' : 'pre_actions';
  showErrors(list, [message]);
  $('save-status').textContent = 'Not saved.';
}

// ---- conference settings: created with POST, changed with PUT (only what changed) ------

// The room rules (SPEC §14), as the create form and the settings form both show them.
const RULES = [
  { name: 'max_participants', kind: 'number', label: 'Max participants',
    hint: '0 = no limit; otherwise 1 to 1000 calls, joining or joined. A call past the limit is refused (CONFERENCE_FULL).' },
  { name: 'locked', kind: 'checkbox', label: 'Locked',
    hint: 'Every new call is refused (CONFERENCE_LOCKED); calls already in stay.' },
  { name: 'wait_for_moderator', kind: 'checkbox', label: 'Wait for a moderator',
    hint: 'Only a moderator starts the room; the others hear the wait music until one joins.' },
  { name: 'end_on_moderator_exit', kind: 'checkbox', label: 'End when the last moderator leaves',
    hint: 'When the last joined moderator leaves, confab removes the other calls (the conference stays open).' },
  { name: 'wait_music_url', kind: 'url', label: 'Wait music URL',
    hint: 'What callers waiting for a moderator hear: an http(s) URL, or empty for silence.' },
];
const MAX_PARTICIPANTS = 1000;
const MAX_NAME_CHARS = 255;
const MAX_URL_CHARS = 2048;
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
const FIELDS = ['name', 'type', ...RULES.map((r) => r.name)];

const fieldId = (form, name) => form + '-' + name;

function ruleFields(form) {
  return RULES.map((r) => {
    const id = fieldId(form, r.name);
    const described = id + '-hint ' + id + '-errors';
    // The API's name beside the label, as the errors name the field; not read out twice.
    const label = el('label', { for: id }, r.label + ' ', el('code', { 'aria-hidden': 'true', text: r.name }));
    const hint = el('p', { id: id + '-hint', class: 'hint', text: r.hint });
    const errors = el('ul', { id: id + '-errors', class: 'errors', 'aria-live': 'polite' });
    if (r.kind === 'checkbox') {
      const input = el('input', { id, type: 'checkbox', 'aria-describedby': described });
      return el('div', { class: 'field check' }, el('div', { class: 'check-row' }, input, label), hint, errors);
    }
    const attrs = r.kind === 'number'
      ? { id, type: 'number', min: '0', max: String(MAX_PARTICIPANTS), step: '1', inputmode: 'numeric', value: '0' }
      : { id, type: 'url', inputmode: 'url', autocomplete: 'off', spellcheck: 'false' };
    return el('div', { class: 'field ' + r.kind }, label, el('input', { ...attrs, 'aria-describedby': described }), hint, errors);
  });
}

/** The value a field holds, as the API takes it. */
function fieldValue(form, name) {
  const input = $(fieldId(form, name));
  if (!input) return undefined;
  if (input.type === 'checkbox') return input.checked;
  if (name === 'max_participants') return input.value.trim() === '' ? NaN : Number(input.value);
  if (name === 'wait_music_url') return input.value.trim();
  return input.value;
}

/** What is wrong with a field's value, named as confab names it; [] when nothing. */
function fieldErrors(form, name) {
  const input = $(fieldId(form, name));
  const value = fieldValue(form, name);
  if (name === 'max_participants') {
    const whole = !input.validity.badInput && Number.isInteger(value);
    return whole && value >= 0 && value <= MAX_PARTICIPANTS ? [] : ['max_participants: must be 0 (no limit) or 1 to ' + MAX_PARTICIPANTS];
  }
  if (name === 'wait_music_url') {
    const fine = value === '' || (/^https?:\/\/[^/\s][^\s]*$/.test(value) && [...value].length <= MAX_URL_CHARS && !CONTROL.test(value));
    return fine ? [] : ['wait_music_url: must be empty or an http(s) URL without spaces, of at most ' + MAX_URL_CHARS + ' characters'];
  }
  if (name === 'name') {
    if ([...value].length > MAX_NAME_CHARS) return ['name: must be at most ' + MAX_NAME_CHARS + ' characters'];
    if (CONTROL.test(value)) return ['name: must not contain control characters'];
  }
  return [];
}

function showFieldErrors(form, name, messages) {
  const input = $(fieldId(form, name));
  if (!input) return;
  input.setAttribute('aria-invalid', String(messages.length > 0));
  $(fieldId(form, name) + '-errors').replaceChildren(...messages.map((m) => el('li', { text: m })));
}

/** Checks every field of a form, showing each one's errors; the first bad field, or null. */
function checkForm(form) {
  let first = null;
  for (const name of FIELDS) {
    if (!$(fieldId(form, name))) continue;
    const errors = fieldErrors(form, name);
    showFieldErrors(form, name, errors);
    if (errors.length && !first) first = $(fieldId(form, name));
  }
  return first;
}

/** A refusal from confab, shown at the field its message names (or in the form's status). */
function showRefusal(form, r, what) {
  const message = r.json?.error?.message || 'refused (' + r.status + ')';
  const named = /^([a-z_]+)\b/.exec(message)?.[1];
  if (r.status === 400 && FIELDS.includes(named) && $(fieldId(form, named))) {
    showFieldErrors(form, named, ['Refused by confab: ' + message]);
    $(fieldId(form, named)).focus();
    $(form + '-status').textContent = what + ': confab refused ' + named + '.';
  } else {
    $(form + '-status').textContent = what + ': ' + message;
  }
}

// Checked when the author leaves a field (not at every key); once marked, every change
// re-checks it, so a fixed value clears at once. Leaving it for the form's submit button is
// left to the submit, which checks every field: an error appearing as the button is pressed
// would move the button from under the pointer, and the click would be lost.
function watchFields(form, onChange) {
  for (const name of FIELDS) {
    const input = $(fieldId(form, name));
    if (!input) continue;
    const check = () => showFieldErrors(form, name, fieldErrors(form, name));
    input.addEventListener('change', () => onChange?.(name));
    input.addEventListener('focusout', (e) => {
      const to = e.relatedTarget;
      if (!(to && to.type === 'submit' && to.form === input.form)) check();
    });
    input.addEventListener('input', () => { onChange?.(name); if (input.getAttribute('aria-invalid') === 'true') check(); });
  }
}

async function createConference(event) {
  event.preventDefault();
  $('create-status').textContent = '';
  $('created').textContent = '';
  const bad = checkForm('create');
  if (bad) { $('create-status').textContent = 'Not created: fix the errors first.'; bad.focus(); return; }
  const body = {};
  for (const name of FIELDS) body[name] = fieldValue('create', name);
  const r = await api('POST', '/v1.0/conferences', body);
  if (!r.ok) return showRefusal('create', r, 'Not created');
  $('create').reset();
  $('new-conference').open = false;
  $('created').textContent = 'Created ' + (r.json.name || r.json.id) + '.';
  await loadConferences();
  await select(r.json.id);
}

/** Fills the settings form from the conference as stored, except fields being edited. */
function fillSettings(c) {
  state.shown = c;
  for (const name of FIELDS) {
    const input = $(fieldId('settings', name));
    if (!input || state.touched.has(name)) continue;
    if (input.type === 'checkbox') input.checked = Boolean(c[name]); else input.value = String(c[name] ?? '');
  }
}

async function saveSettings(event) {
  event.preventDefault();
  $('settings-status').textContent = '';
  const bad = checkForm('settings');
  if (bad) { $('settings-status').textContent = 'Not saved: fix the errors first.'; bad.focus(); return; }
  // PUT is partial: only the fields that differ from the conference as last read.
  const body = {};
  for (const name of FIELDS) {
    if (!$(fieldId('settings', name))) continue;
    const value = fieldValue('settings', name);
    if (value !== state.shown[name]) body[name] = value;
  }
  if (!Object.keys(body).length) { state.touched.clear(); $('settings-status').textContent = 'Nothing changed.'; return; }
  const r = await api('PUT', '/v1.0/conferences/' + state.selected, body);
  if (!r.ok) return showRefusal('settings', r, 'Not saved');
  state.touched.clear();
  $('settings-status').textContent = 'Saved: ' + Object.keys(body).join(', ') + '.';
  fillSettings(r.json);
  await loadDetail(false);
}

// ---- simulator --------------------------------------------------------------------------

// The caller's digits for each pause, as the simulation takes them (`inputs`): entered
// comma-separated, `-` for a pause where the caller enters nothing (sent as "").
const MAX_INPUTS = 20;
const MAX_KEYS = 128;
const KEYPAD = /^[0-9*#A-Da-d]*$/;

function parseInputs(text) {
  if (!text.trim()) return { value: [], errors: [] };
  const entries = text.split(',').map((e) => e.trim());
  const errors = [];
  if (entries.length > MAX_INPUTS) errors.push(entries.length + ' entries: at most ' + MAX_INPUTS + ' (a run pauses at most ' + MAX_INPUTS + ' times).');
  const value = entries.map((entry, i) => {
    const n = 'Entry ' + (i + 1);
    if (entry === '-') return '';
    if (entry === '') errors.push(n + ' is empty: write - for a pause where the caller enters nothing.');
    else if (!KEYPAD.test(entry)) errors.push(n + ' ("' + entry + '"): only the keypad keys 0-9, *, # and A-D.');
    else if (entry.length > MAX_KEYS) errors.push(n + ' is ' + entry.length + ' keys long: at most ' + MAX_KEYS + '.');
    return entry;
  });
  return { value, errors };
}

function showInputErrors(messages) {
  $('sim-inputs').setAttribute('aria-invalid', String(messages.length > 0));
  $('sim-inputs-errors').replaceChildren(...messages.map((m) => el('li', { text: m })));
}

// The server names a refused entry `inputs[i]`; the field shows it as the author counts it.
function serverInputError(message) {
  const m = /^inputs\[(\d+)\]/.exec(message);
  return m ? 'Entry ' + (Number(m[1]) + 1) + ' refused by confab: ' + message : 'Refused by confab: ' + message;
}

function clearResult(outcome) {
  $('sim-outcome').textContent = outcome;
  $('sim-outcome').className = outcome ? 'refused' : '';
  $('sim-answers').replaceChildren();
  $('sim-trace').replaceChildren();
  $('sim-detail').hidden = true;
}

async function simulate(event) {
  event.preventDefault();
  const variables = {};
  for (const line of $('sim-vars').value.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) variables[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  const inputs = parseInputs($('sim-inputs').value);
  showInputErrors(inputs.errors);
  if (inputs.errors.length) { clearResult('Not run: fix the digits first.'); $('sim-inputs').focus(); return; }
  const which = $('sim-event').value;
  const body = { conference_id: state.selected, event: which, dialect: $('sim-dialect').value, variables, inputs: inputs.value };
  // An edited list is tried as it stands in the editor, before it is saved.
  const list = which === 'join' ? 'pre_actions' : 'post_actions';
  if (state.dirty[list]) {
    const parsed = parseList(list);
    if (parsed.error) return clearResult('Not run: ' + parsed.error);
    body.actions = parsed.value;
  }
  const r = await api('POST', '/v1.0/simulations', body);
  if (!r.ok) {
    const message = r.json?.error?.message || 'refused (' + r.status + ')';
    if (message.startsWith('inputs')) {
      showInputErrors([serverInputError(message)]);
      return clearResult('Not run: confab refused the digits.');
    }
    return clearResult('Not run: ' + message);
  }
  renderSimulation(r.json, which, inputs.value.length);
}

function renderSimulation(s, which, given) {
  const resumes = s.trace.filter((t) => t.resume).map((t) => t.resume);
  const pauses = s.answers.length - (s.waiting ? 0 : 1);
  $('sim-detail').hidden = false;
  $('sim-outcome').className = s.error ? 'refused' : '';
  $('sim-outcome').textContent = outcome(s, which, pauses, given - resumes.length);
  $('sim-answers').replaceChildren(...s.answers.map((a, i) => {
    const to = i === 0 ? 'the call\u2019s ' + which + ' event' : 'the digits of pause ' + i + ': ' + shownDigits(resumes[i - 1]?.digits);
    const last = i === s.answers.length - 1;
    let ends;
    if (!last || s.waiting) ends = 'asks for digits (pause ' + (i + 1) + ')';
    else if (s.hangup) ends = 'ends with hangup';
    else if (s.error) ends = 'stopped early';
    else ends = which === 'join' ? 'ends with conference_join' : 'ends the list';
    return el('li', { class: 'answer' },
      el('p', { class: 'answer-title', text: 'Answer to ' + to + ' \u2014 ' + ends }),
      el('pre', { text: typeof a === 'string' ? a : JSON.stringify(a, null, 2) }));
  }));
  let pause = 0;
  $('sim-trace').replaceChildren(...s.trace.map((t, i) => {
    if (t.paused) pause = t.paused.pause;
    if (t.resume) {
      return el('li', { class: 'resume' }, el('span', { class: 'icon', 'aria-hidden': 'true' }),
        'resumed with ' + shownDigits(t.resume.digits) + ' (pause ' + t.resume.pause + ')');
    }
    if (t.end === 'pause') {
      const more = i < s.trace.length - 1 ? '' : ': no digits left, the run ends here';
      return el('li', { class: 'pause' }, el('span', { class: 'icon', 'aria-hidden': 'true' }),
        'waiting for digits (pause ' + pause + ') after ' + t.steps + ' steps' + more);
    }
    return el('li', { text: describe(t) });
  }));
}

function shownDigits(digits) {
  return digits ? digits : 'nothing entered';
}

function outcome(s, which, pauses, unused) {
  const asked = pauses === 0 ? '' : ' after ' + pauses + (pauses === 1 ? ' pause' : ' pauses');
  let text;
  if (s.waiting) text = 'Ends waiting for digits at pause ' + pauses + ': no entry left for it.';
  else if (s.error) text = 'Stopped early' + asked + ': ' + s.error;
  else if (s.hangup) text = 'The call is hung up' + asked + '.';
  else text = (which === 'join' ? 'The call joins the conference' : 'The list runs to its end') + asked + '.';
  if (unused > 0) text += ' ' + unused + (unused === 1 ? ' entry was' : ' entries were') + ' not used.';
  return text;
}

function describe(t) {
  if (t.end) return 'ended: ' + t.end + ' after ' + t.steps + ' steps';
  const parts = ['step ' + t.step + ' ' + t.type];
  if (t.emitted) parts.push('emitted ' + t.emitted.type + (t.emitted.option?.text ? ' "' + t.emitted.option.text + '"' : ''));
  if (t.emitted?.type === 'digits_receive') parts.push(askFor(t.emitted.option));
  if (t.set) parts.push('set ' + Object.entries(t.set).map(([k, v]) => k + '=' + v).join(', '));
  if (t.goto) parts.push(t.goto.jumped ? 'jumped (' + t.goto.jumps_taken + ' of ' + t.goto.loop_count + ')' : 'fell through after ' + t.goto.loop_count + ' jumps');
  if (t.branch) parts.push(t.branch.variable + '="' + t.branch.value + '" chose by ' + t.branch.by);
  if (t.condition) parts.push(t.condition.variable + '="' + t.condition.value + '" ' + (t.condition.held ? 'held' : 'did not hold'));
  if (t.effect) parts.push('would ' + t.effect.type + (t.effect.uri ? ' ' + t.effect.uri : ''));
  if (t.paused) parts.push('pause ' + t.paused.pause + ' → resumes at ' + (t.paused.resumes_at === null ? 'the end' : 'step ' + t.paused.resumes_at));
  else if (t.paused === false) parts.push('not paused: the pause limit → end');
  else parts.push(t.next === null ? '→ end' : '→ step ' + t.next);
  return parts.join(': ');
}

function askFor(o) {
  if (!o) return 'asks for digits';
  return 'asks for up to ' + o.length + (o.length === 1 ? ' key' : ' keys') + (o.key ? ', ending on ' + o.key : '') + ', waiting ' + o.duration / 1000 + ' s';
}

// ---- flows ------------------------------------------------------------------------------

async function loadFlows() {
  const r = await api('GET', '/v1.0/flows');
  if (!r.ok) return;
  $('flow-problems').replaceChildren(...(r.json.problems || []).map((p) => el('li', { text: p })));
  $('flows').replaceChildren(...r.json.result.map((f) => el('details', {},
    el('summary', { text: f.name + ' — ' + f.description }),
    el('pre', { text: JSON.stringify(f.actions, null, 2) }))));
}

// ---- live updates -----------------------------------------------------------------------

function setLive(on) {
  $('live').textContent = on ? 'live' : 'reconnecting';
  $('live').dataset.state = on ? 'live' : 'off';
}

let refreshTimer = null;
function refresh(conferenceId) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    await loadConferences();
    if (state.selected && (conferenceId === null || conferenceId === state.selected)) await loadDetail(false);
    // Usage changes as calls leave and recordings end, in any conference.
    await loadUsage();
  }, 100);
}

function handleBlock(block) {
  let event = 'message';
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data += line.slice(5).trim();
  }
  if (event === 'change') {
    try { refresh(JSON.parse(data).conference_id); } catch (_) { refresh(null); }
  } else if (event === 'resync') {
    refresh(null);
  }
}

async function listen() {
  const ctrl = new AbortController();
  state.stream = ctrl;
  while (!ctrl.signal.aborted) {
    try {
      // fetch, not EventSource: EventSource cannot send the Authorization header.
      const res = await fetch('/console/events', { headers: { Authorization: 'Bearer ' + state.key }, signal: ctrl.signal });
      if (!res.ok) throw new Error('stream ' + res.status);
      setLive(true);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          handleBlock(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (_) {
      if (ctrl.signal.aborted) return;
    }
    setLive(false);
    await new Promise((r) => setTimeout(r, 2000));
    refresh(null);
  }
}

// ---- wiring -----------------------------------------------------------------------------

$('signin').addEventListener('submit', (e) => { e.preventDefault(); signIn($('api-key').value.trim()); });
$('signout').addEventListener('click', signOut);
$('more-conferences').addEventListener('click', () => { state.pages += 1; loadConferences(); });
$('pre-actions').addEventListener('input', onEdit);
$('post-actions').addEventListener('input', onEdit);
$('editor').addEventListener('submit', save);
$('create-rules').append(...ruleFields('create'));
$('settings-rules').append(...ruleFields('settings'));
$('create').addEventListener('submit', createConference);
$('settings').addEventListener('submit', saveSettings);
watchFields('create');
watchFields('settings', (name) => state.touched.add(name));
$('simulator').addEventListener('submit', simulate);
$('say-room').addEventListener('submit', sayToRoom);
$('dial').addEventListener('submit', dialOut);
$('usage-form').addEventListener('submit', (e) => { e.preventDefault(); loadUsage(usageQuery()); });
// The day/month switch shows at once; the dates, when the author asks (a date is typed in parts).
$('usage-granularity').addEventListener('change', () => loadUsage(usageQuery()));
watchDial();
// Checked when the author leaves the field (not at every key, mid-entry); once marked, every
// key re-checks it, so a fixed entry clears at once.
const checkInputs = () => showInputErrors(parseInputs($('sim-inputs').value).errors);
$('sim-inputs').addEventListener('change', checkInputs);
$('sim-inputs').addEventListener('input', () => { if ($('sim-inputs').getAttribute('aria-invalid') === 'true') checkInputs(); });
$('detail-title').setAttribute('tabindex', '-1');
if (state.key) signIn(state.key);
