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

// Live changes are coalesced. A burst is one reload (it starts 100 ms after the last change),
// a busy room still moves (never more than a second after the first change waiting), and one
// reload runs at a time: a change during a reload is followed by one more reload. A reload
// re-reads a conference's calls page by page, so without this a room with a long history and
// a steady stream of changes would be re-read over and over, or never once a change came
// every 100 ms.
const live = { timer: null, first: 0, running: false, again: false, all: false, conferences: new Set() };

function refresh(conferenceId) {
  if (conferenceId === null) live.all = true;
  else live.conferences.add(conferenceId);
  if (live.running) { live.again = true; return; }
  const now = Date.now();
  if (live.timer === null) live.first = now;
  clearTimeout(live.timer);
  live.timer = setTimeout(reload, Math.max(0, Math.min(100, live.first + 1000 - now)));
}

async function reload() {
  live.timer = null;
  const { all, conferences } = live;
  live.all = false;
  live.conferences = new Set();
  live.running = true;
  try {
    await loadConferences();
    if (state.selected && (all || conferences.has(state.selected))) await loadDetail(false);
    // Usage changes as calls leave and recordings end, in any conference.
    await loadUsage();
  } finally {
    live.running = false;
    if (live.again) {
      live.again = false;
      live.first = Date.now();
      live.timer = setTimeout(reload, 100);
    }
  }
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
