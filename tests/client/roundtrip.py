#!/usr/bin/env python3
"""Generated-client round trip against a running confab. Generator: openapi-python-client==0.29.1

The generator version is pinned in requirements.txt beside this script (with ruff, httpx, attrs,
python-dateutil and mypy); the run refuses any other installed generator version.

Fetches BASE/openapi.json (the document the server serves), generates a Python client from it
with openapi-python-client, checks that the generated package compiles, imports and type-checks
(mypy), and then drives confab only through the generated client's typed functions and models:

  create a conference (talk pre_action) -> read it back -> rename it -> list conferences (all at
  once, then one a page following next_page_token) -> list its conferencecalls -> signed platform
  events call_joining and call_joined -> list its conferencecalls (joined), read the call back
  -> delete it -> call_left (post_actions) -> read it back (terminated) -> a late call_joining
  is refused (409 CONFERENCE_CLOSED).

Every step asserts on typed attributes of the generated models; an answer the generated models
cannot parse, or an answer carrying fields the document does not declare, fails the run with
the step, the reason and the raw answer. Exit 0 = everything passed and every one of
EXPECTED_STEPS ran; a run that stops early exits 1 naming the steps that did not run.

Usage: roundtrip.py --base-url http://127.0.0.1:18392 --api-key cfk_... --platform-secret whsec_...
"""

from __future__ import annotations

import argparse
import base64
import compileall
import datetime
import hashlib
import hmac
import importlib
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import httpx

if TYPE_CHECKING:
    from confab_client.types import Response, Unset

PACKAGE = "confab_client"
GENERATOR = "openapi-python-client"
GENERATOR_VERSION = "0.29.1"  # keep equal to the pin in requirements.txt and the docstring
NOT_SET = "9999-01-01 00:00:00.000000"
NIL_UUID = uuid.UUID(int=0)
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")
EVENTS_PATH = "/v1.0/platform/events"
# next_page_token as the document declares it: empty on the last page, else {micros}_{uuid}
PAGE_TOKEN = re.compile(r"^(|[0-9]{1,18}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")

T = TypeVar("T")


class Failure(Exception):
    pass


def fail(message: str) -> NoReturn:
    raise Failure(message)


def check(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- generation


def generator_pinned() -> None:
    """The installed generator is the pinned one: other versions name and type things differently."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version(GENERATOR)
    except PackageNotFoundError:
        fail(f"{GENERATOR} is not installed next to {sys.executable}; pip install -r requirements.txt")
    pin = f"{GENERATOR}=={GENERATOR_VERSION}"
    req = Path(__file__).resolve().with_name("requirements.txt")
    check(req.is_file() and pin in req.read_text().split(), f"{req} does not pin {pin}")
    check(installed == GENERATOR_VERSION, f"{GENERATOR} {installed} is installed, the run is pinned to {pin}")
    log(f"generator: {pin}")


def generate(base_url: str, workdir: Path, fail_on_warning: bool) -> Path:
    """Fetches the served document and generates the client package into workdir."""
    url = base_url.rstrip("/") + "/openapi.json"
    r = httpx.get(url, timeout=10)
    check(r.status_code == 200, f"GET {url}: HTTP {r.status_code}: {r.text[:300]}")
    try:
        served = json.loads(r.content)
    except ValueError as e:
        fail(f"GET {url}: not JSON: {e}")
    log(f"document: {url} ({len(r.content)} bytes, sha256 {hashlib.sha256(r.content).hexdigest()[:16]})")
    # openapi-python-client has no application/xml support, so the XML API's operations (tag
    # `xml`) are left out of what it generates; everything else is generated as served, and
    # --fail-on-warning still fails on anything it cannot generate.
    xml_paths = [p for p in served.get("paths", {}) if p.startswith("/v1/account/")]
    for path in xml_paths:
        del served["paths"][path]
    log(f"left out for the generator: {len(xml_paths)} XML API paths")
    doc = workdir / "openapi.json"
    doc.write_text(json.dumps(served))

    out = workdir / PACKAGE
    cmd = [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(doc),
           "--meta", "none", "--output-path", str(out), "--overwrite"]
    if fail_on_warning:
        cmd.append("--fail-on-warning")
    env = dict(os.environ)
    # The generator's post hooks run `ruff`, installed next to this interpreter.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    p = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
    output = (p.stdout + p.stderr).strip()
    if p.returncode != 0 or "Warning" in output or "Error" in output:
        fail(f"generator rejected or only partly generated the document (exit {p.returncode}):\n{output}")
    check((out / "__init__.py").is_file(), f"generator wrote no package at {out}:\n{output}")
    log(f"generated: {out} ({sum(1 for _ in out.rglob('*.py'))} modules)")
    return out


def compile_and_import(workdir: Path, package_dir: Path) -> None:
    check(compileall.compile_dir(str(package_dir), quiet=1, force=True),
          f"generated package does not byte-compile: {package_dir}")
    sys.path.insert(0, str(workdir))
    pkg = importlib.import_module(PACKAGE)
    count = 0
    for info in pkgutil.walk_packages(pkg.__path__, PACKAGE + "."):
        try:
            importlib.import_module(info.name)
        except Exception as e:  # noqa: BLE001 - any import failure is the finding
            fail(f"generated module {info.name} does not import: {type(e).__name__}: {e}")
        count += 1
    log(f"compiled and imported {count} generated modules")


# Errors mypy reports in the generator's fixed client.py template (its __exit__/__aexit__
# forwarding `*args: object`) do not depend on the document; everything else does.
TEMPLATE_ONLY = re.compile(rf"^{PACKAGE}/client\.py:\d+: error: Argument 1 to \"__a?exit__\"")


def type_check(workdir: Path) -> list[str]:
    """mypy over the generated package and over this script's use of it. Returns problems."""
    problems: list[str] = []
    env = dict(os.environ, MYPYPATH=str(workdir))
    base = [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", str(workdir / ".mypy"),
            "--python-version", f"{sys.version_info.major}.{sys.version_info.minor}"]

    p = subprocess.run(base + [PACKAGE], check=False, cwd=workdir, capture_output=True, text=True, env=env)
    errors = [ln for ln in p.stdout.splitlines() if ": error:" in ln]
    template = [ln for ln in errors if TEMPLATE_ONLY.match(ln)]
    document = [ln for ln in errors if not TEMPLATE_ONLY.match(ln)]
    if template:
        log(f"mypy: {len(template)} error(s) in the generator's client.py template "
            "(independent of the document), ignored")
    if document:
        problems.append("generated package does not type-check (mypy):\n  " + "\n  ".join(document))
    else:
        log("mypy: generated models and API modules type-check")

    me = Path(__file__).resolve()
    p = subprocess.run(base + ["--strict", "--follow-imports=silent", str(me)],
                       check=False, cwd=workdir, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        problems.append("this script's use of the generated client does not type-check (mypy --strict):\n  "
                        + "\n  ".join(p.stdout.strip().splitlines()))
    else:
        log("mypy --strict: roundtrip.py type-checks against the generated client")
    return problems


# --------------------------------------------------------------------------- transport


class Wire:
    """httpx event hooks: signs platform events over the exact bytes sent, keeps the last
    answer's raw bytes for error messages."""

    def __init__(self, platform_secret: str) -> None:
        secret = platform_secret.removeprefix("whsec_")
        self.key = base64.b64decode(secret)
        self.signed: list[bytes] = []
        self.sent: list[bytes] = []
        self.last_status = 0
        self.last_body = b""

    def sign(self, request: httpx.Request) -> None:
        if request.url.path != EVENTS_PATH:
            return
        body = request.content  # the bytes the generated client serialised, as they go out
        msg_id = "msg_" + uuid.uuid4().hex
        ts = str(int(time.time()))
        mac = hmac.new(self.key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
        request.headers["webhook-id"] = msg_id
        request.headers["webhook-timestamp"] = ts
        request.headers["webhook-signature"] = "v1," + base64.b64encode(mac).decode()
        # A platform has no customer API key: do not send the generated client's bearer token.
        request.headers.pop("authorization", None)
        self.signed.append(body)

    def record(self, response: httpx.Response) -> None:
        response.read()
        self.last_status = response.status_code
        self.last_body = response.content
        if response.request.url.path == EVENTS_PATH:
            self.sent.append(response.request.content)

    def hooks(self) -> dict[str, Any]:
        return {"event_hooks": {"request": [self.sign], "response": [self.record]}}


# --------------------------------------------------------------------------- typed checks


def present(value: T | Unset, what: str) -> T:
    from confab_client.types import Unset

    if isinstance(value, Unset):
        fail(f"{what} is absent from the answer (the document marks it optional; the server must always send it)")
    return value


def no_extra(obj: Any, what: str) -> None:
    """The answer has no field the document does not declare."""
    extra = getattr(obj, "additional_properties", {})
    check(not extra, f"{what} carries fields the document does not declare: {sorted(extra)}")


def timestamp(value: str, what: str, *, set_: bool | None = None) -> None:
    check(bool(TIMESTAMP.match(value)), f"{what} = {value!r} is not 'YYYY-MM-DD HH:MM:SS.ffffff'")
    if set_ is True:
        check(value != NOT_SET, f"{what} should be set, is {value!r}")
    if set_ is False:
        check(value == NOT_SET, f"{what} should be unset ({NOT_SET}), is {value!r}")


def micros(tm: str) -> int:
    """'YYYY-MM-DD HH:MM:SS.ffffff' (UTC) as microseconds since the epoch."""
    t = datetime.datetime.strptime(tm, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=datetime.UTC)
    return (t - datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)) // datetime.timedelta(microseconds=1)


def page_token(value: str, what: str) -> str:
    check(bool(PAGE_TOKEN.match(value)), f"{what} = {value!r} is not '' or '{{micros}}_{{uuid}}'")
    return value


# The steps run() must complete, in order. A run that stops early, or skips one, fails even if
# every step that did run passed.
EXPECTED_STEPS = (
    "create conference",
    "get unknown conference",
    "get conference",
    "update conference name",
    "list conferences",
    "create a second conference (paging)",
    "list conferences page by page",
    "delete the second conference",
    "list conferencecalls (empty)",
    "platform event call_joining",
    "platform event call_joining (repeat id)",
    "platform event call_joined",
    "list conferencecalls (joined)",
    "get conferencecall",
    "get conference (call joined)",
    "delete conference",
    "platform event call_left",
    "get conference (after last call left)",
    "platform event call_joining into the closed conference",
)


def run(base_url: str, api_key: str, wire: Wire, done: list[str]) -> None:
    """Drives confab through the generated client; appends each completed step's name to done."""
    from confab_client import AuthenticatedClient
    from confab_client.api.conferencecalls import (
        get_conferencecall,
        list_conferencecalls,
    )
    from confab_client.api.conferences import (
        create_conference,
        delete_conference,
        get_conference,
        list_conferences,
        update_conference,
    )
    from confab_client.api.platform import post_platform_event
    from confab_client.models import (
        CallJoinedEvent,
        CallJoinedEventData,
        CallJoinedEventType,
        CallJoiningEvent,
        CallJoiningEventData,
        CallJoiningEventType,
        CallLeftEvent,
        CallLeftEventData,
        CallLeftEventType,
        CallStatus,
        Conference,
        Conferencecall,
        ConferencecallPage,
        ConferenceChange,
        ConferenceData,
        ConferencePage,
        ConferenceStatus,
        ConferenceType,
        EmittedAction,
        EmittedActionType,
        ErrorDetail,
        ErrorResponse,
        EventAnswer,
        NewConference,
        NewConferenceDataType0,
        TalkAction,
        TalkActionOption,
        TalkActionOptionGenderType0,
        TalkActionType,
    )
    from confab_client.types import UNSET, Unset

    api = AuthenticatedClient(base_url=base_url, token=api_key, httpx_args=wire.hooks())
    # The events endpoint is declared with a security scheme, so the generator requires an
    # AuthenticatedClient; the signing hook removes the bearer header again.
    platform = AuthenticatedClient(base_url=base_url, token="unused", httpx_args=wire.hooks())

    def passed(step: str, note: str = "") -> None:
        if step not in done:
            done.append(step)
        log(f"ok  {step}{note}")

    def answer(step: str, call: Callable[[], Response[Any]], want: type[T], *,
               quiet: bool = False) -> tuple[T, Response[Any]]:
        """Runs one generated sync_detailed call; the typed answer or a loud failure."""
        try:
            resp = call()
        except Failure:
            raise
        except Exception as e:  # noqa: BLE001 - the generated from_dict raised: typed parse failed
            fail(f"{step}: the generated client could not parse the answer "
                 f"(HTTP {wire.last_status}): {type(e).__name__}: {e}\n"
                 f"  raw answer: {wire.last_body[:1500]!r}\n"
                 + "".join(traceback.format_exception(e)[-3:]))
        parsed = resp.parsed
        if resp.status_code != 200 or not isinstance(parsed, want):
            detail = ""
            if isinstance(parsed, ErrorResponse):
                detail = f" {parsed.to_dict()}"
            fail(f"{step}: expected 200 {want.__name__}, got HTTP {int(resp.status_code)}"
                 f" {type(parsed).__name__}:{detail}\n  raw answer: {resp.content[:1500]!r}")
        no_extra(parsed, f"{step}: {want.__name__}")
        if quiet:
            check(step in done, f"{step}: quiet before it passed once")
        else:
            passed(step)
        return parsed, resp

    def refused(step: str, call: Callable[[], Response[Any]], status: int, reason: str) -> ErrorDetail:
        """Runs one generated call that must be refused; checks the typed ErrorResponse."""
        try:
            resp = call()
        except Exception as e:  # noqa: BLE001 - the generated from_dict raised: typed parse failed
            fail(f"{step}: the generated client could not parse the error answer "
                 f"(HTTP {wire.last_status}): {type(e).__name__}: {e}\n  raw answer: {wire.last_body[:1500]!r}")
        parsed = resp.parsed
        if int(resp.status_code) != status or not isinstance(parsed, ErrorResponse):
            fail(f"{step}: expected HTTP {status} ErrorResponse, got {int(resp.status_code)} "
                 f"{type(parsed).__name__}: {resp.content[:500]!r}")
        no_extra(parsed, f"{step}: ErrorResponse")
        err = parsed.error
        no_extra(err, f"{step}: ErrorResponse.error")
        check(err.status == status and err.reason == reason and bool(err.message) and bool(err.request_id),
              f"{step}: ErrorResponse.error = {err.to_dict()}, want status {status} reason {reason}")
        passed(step, f" ({status} {reason})")
        return err

    def check_conference(c: Conference, what: str) -> None:
        no_extra(c, what)
        for i, a in enumerate(c.pre_actions + c.post_actions):
            no_extra(a, f"{what} action {i}")
            if isinstance(a, TalkAction):
                no_extra(a.option, f"{what} action {i} option")
        for name in ("tm_create", "tm_update", "tm_delete"):
            timestamp(getattr(c, name), f"{what}.{name}")

    def check_call(cc: Conferencecall, what: str) -> None:
        no_extra(cc, what)
        for name in ("tm_create", "tm_update", "tm_delete"):
            timestamp(getattr(cc, name), f"{what}.{name}")

    def talk_of(a: EmittedAction, what: str) -> TalkActionOption:
        """An emitted talk's option, parsed as the document's talk option (the document types
        EmittedAction.option only as an object)."""
        check(a.type_ == EmittedActionType.TALK, f"{what}: type = {a.type_}, want talk")
        try:
            opt = TalkActionOption.from_dict(a.option.to_dict())
        except Exception as e:  # noqa: BLE001 - the option is not a talk option
            fail(f"{what}: option {a.option.to_dict()} is not a TalkActionOption: {type(e).__name__}: {e}")
        no_extra(opt, f"{what}: option")
        return opt

    # 1. create
    name = f"roundtrip {uuid.uuid4().hex[:8]}"
    body = NewConference(
        type_=ConferenceType.CONFERENCE,
        name=name,
        detail="generated-client round trip",
        data=NewConferenceDataType0.from_dict({"origin": "roundtrip", "n": 1}),
        timeout=0,
        pre_actions=[TalkAction(type_=TalkActionType.TALK, option=TalkActionOption(
            text="Hello. Welcome to ${conference.name}.", gender=TalkActionOptionGenderType0.FEMALE,
            language="en-US"))],
        # Only the text goes out: the generated option would otherwise send the document's
        # defaults (gender, language) itself.
        post_actions=[TalkAction(type_=TalkActionType.TALK, option=TalkActionOption(
            text="The conference has closed. Good bye.", gender=UNSET, language=UNSET))],
    )
    conf, _ = answer("create conference", lambda: create_conference.sync_detailed(client=api, body=body), Conference)
    check_conference(conf, "created Conference")
    conf_id = conf.id
    check(conf_id != NIL_UUID, "created Conference.id is the nil UUID")
    check(conf.status == ConferenceStatus.PROGRESSING, f"created Conference.status = {conf.status}, want progressing")
    check(conf.type_ == ConferenceType.CONFERENCE, f"created Conference.type = {conf.type_}")
    check(conf.name == name, f"created Conference.name = {conf.name!r}, want {name!r}")
    check(conf.detail == "generated-client round trip", f"created Conference.detail = {conf.detail!r}")
    data = conf.data
    check(isinstance(data, ConferenceData) and data.to_dict() == {"origin": "roundtrip", "n": 1},
          f"created Conference.data = {data!r}")
    check(conf.timeout == 0, f"created Conference.timeout = {conf.timeout!r}")
    pre = conf.pre_actions
    check(len(pre) == 1, f"created Conference.pre_actions = {pre!r}")
    pre0 = pre[0]
    if not isinstance(pre0, TalkAction):
        fail(f"created Conference.pre_actions[0] is a {type(pre0).__name__}, want TalkAction: {pre0!r}")
    check(pre0.type_ == TalkActionType.TALK, f"pre_actions[0].type = {pre0.type_}")
    check(pre0.option.text == "Hello. Welcome to ${conference.name}.", f"pre_actions[0].option = {pre0.option!r}")
    check(pre0.option.gender == TalkActionOptionGenderType0.FEMALE and pre0.option.language == "en-US",
          f"pre_actions[0].option gender/language = {pre0.option.gender!r}/{pre0.option.language!r}")
    check(pre0.id == NIL_UUID and pre0.next_id == NIL_UUID,
          f"pre_actions[0] id/next_id = {pre0.id!r}/{pre0.next_id!r}, want nil UUIDs")
    post = conf.post_actions
    check(len(post) == 1 and isinstance(post[0], TalkAction)
          and post[0].option.text == "The conference has closed. Good bye.",
          f"created Conference.post_actions = {post!r}")
    check(conf.conferencecall_ids == [], f"conferencecall_ids = {conf.conferencecall_ids}")
    check(conf.recording_id == NIL_UUID, f"recording_id = {conf.recording_id}")
    check(conf.recording_ids == [], f"recording_ids = {conf.recording_ids}")
    timestamp(conf.tm_create, "Conference.tm_create", set_=True)
    timestamp(conf.tm_delete, "Conference.tm_delete", set_=False)

    refused("get unknown conference",
            lambda: get_conference.sync_detailed(uuid.uuid4(), client=api), 404, "CONFERENCE_NOT_FOUND")

    # 2. read back
    got, _ = answer("get conference", lambda: get_conference.sync_detailed(conf_id, client=api), Conference)
    check_conference(got, "read Conference")
    check(got.to_dict() == conf.to_dict(), f"read-back differs from create:\n  {got.to_dict()}\n  {conf.to_dict()}")

    # 3. rename
    new_name = name + " renamed"
    upd, _ = answer("update conference name",
                    lambda: update_conference.sync_detailed(conf_id, client=api, body=ConferenceChange(name=new_name)),
                    Conference)
    check_conference(upd, "updated Conference")
    check(upd.name == new_name, f"updated Conference.name = {upd.name!r}, want {new_name!r}")
    check(upd.id == conf_id and upd.detail == conf.detail and upd.to_dict()["pre_actions"] == conf.to_dict()["pre_actions"],
          "update changed fields it was not given")
    check(upd.tm_update >= conf.tm_update, "tm_update went backwards")

    # 4. list conferences (ours is there) and its conferencecalls (none yet)
    page, _ = answer("list conferences", lambda: list_conferences.sync_detailed(client=api, page_size=100),
                     ConferencePage)
    mine = [c for c in page.result if c.id == conf_id]
    check(len(mine) == 1 and mine[0].name == new_name, f"list conferences: ours not found once with the new name: {mine!r}")
    check_conference(mine[0], "listed Conference")
    page_token(page.next_page_token, "list conferences: next_page_token")

    # the same listing one a page, following next_page_token: with a second conference there are
    # at least two pages, and each token is the position after the page's last item,
    # {tm_create in microseconds}_{id}
    second, _ = answer("create a second conference (paging)",
                       lambda: create_conference.sync_detailed(client=api, body=NewConference(name=name + " paging")),
                       Conference)
    check_conference(second, "second Conference")
    check(second.id != conf_id and second.status == ConferenceStatus.PROGRESSING,
          f"second Conference: id {second.id} status {second.status}")
    seen: list[uuid.UUID] = []
    tokens: list[str] = []
    token: str | Unset = UNSET
    for n in range(1, 1001):
        def next_page(t: str | Unset = token) -> Response[ConferencePage | ErrorResponse]:
            return list_conferences.sync_detailed(client=api, page_size=1, page_token=t)

        one, _ = answer("list conferences page by page", next_page, ConferencePage, quiet=n > 1)
        check(len(one.result) <= 1, f"page_size=1 page {n} has {len(one.result)} items")
        for c in one.result:
            check_conference(c, f"page {n} Conference")
        seen += [c.id for c in one.result]
        nxt = page_token(one.next_page_token, f"page {n}: next_page_token")
        if nxt == "":
            break
        check(bool(one.result), f"page {n} is empty but names a next page {nxt!r}")
        last = one.result[-1]
        want = f"{micros(last.tm_create)}_{last.id}"
        check(nxt == want, f"page {n}: next_page_token = {nxt!r}, want the last item's position {want!r}")
        tokens.append(nxt)
        token = nxt
    else:
        fail("list conferences page by page: still a next_page_token after 1000 pages")
    check(len(seen) == len(set(seen)), f"paging repeated a conference: {seen}")
    check(seen.count(conf_id) == 1 and seen.count(second.id) == 1,
          f"paging one a page did not find both conferences exactly once ({len(seen)} pages)")
    check(len(tokens) >= 1, "two conferences at one a page, but no next_page_token was issued")
    log(f"    {len(seen)} page(s), {len(tokens)} next_page_token(s), each {{micros}}_{{uuid}} of the page's last item")
    gone2, _ = answer("delete the second conference",
                      lambda: delete_conference.sync_detailed(second.id, client=api), Conference)
    check_conference(gone2, "deleted second Conference")
    check(gone2.status == ConferenceStatus.TERMINATED,
          f"deleted empty Conference.status = {gone2.status}, want terminated")
    timestamp(gone2.tm_delete, "deleted second Conference.tm_delete", set_=True)

    calls, _ = answer("list conferencecalls (empty)",
                      lambda: list_conferencecalls.sync_detailed(client=api, conference_id=conf_id),
                      ConferencecallPage)
    check(calls.result == [], f"new conference already has calls: {calls.result!r}")
    check(calls.next_page_token == "", f"next_page_token = {calls.next_page_token!r}, want ''")

    # 5. platform events, signed over the bytes the generated client sends
    call_id = "call-" + uuid.uuid4().hex
    joining = CallJoiningEvent(
        id="evt-" + uuid.uuid4().hex,
        type_=CallJoiningEventType.CALL_JOINING,
        data=CallJoiningEventData(call_id=call_id, conference_id=conf_id, from_="+15550100", to="+15550199"),
    )
    ans, raw1 = answer("platform event call_joining",
                       lambda: post_platform_event.sync_detailed(client=platform, body=joining), EventAnswer)
    check(bool(wire.signed) and bool(wire.sent) and wire.signed[-1] == wire.sent[-1],
          "the signed bytes differ from the bytes sent")
    cc = present(ans.conferencecall, "EventAnswer.conferencecall")
    check_call(cc, "call_joining Conferencecall")
    cc_id = cc.id
    check(cc.status == CallStatus.JOINING, f"call_joining: status = {cc.status}, want joining")
    check(cc.conference_id == conf_id, f"call_joining: conference_id = {cc.conference_id}")
    check(cc.reference_type == "call" and cc.reference_id == call_id,
          f"call_joining: reference = {cc.reference_type}/{cc.reference_id}")
    actions = present(ans.actions, "EventAnswer.actions")
    for i, a in enumerate(actions):
        no_extra(a, f"call_joining: action {i}")
    kinds = [a.type_ for a in actions]
    check(kinds == [EmittedActionType.TALK, EmittedActionType.CONFERENCE_JOIN],
          f"call_joining: action types = {kinds}, want talk, conference_join")
    talk = talk_of(actions[0], "call_joining: action 0")
    check(talk.text == f"Hello. Welcome to {new_name}.", f"call_joining: talk not substituted: {talk.to_dict()}")
    check(talk.gender == TalkActionOptionGenderType0.FEMALE and talk.language == "en-US",
          f"call_joining: talk gender/language = {talk.gender!r}/{talk.language!r}")
    join = actions[-1].option
    # How the call joins (SPEC §14): a participant of a room without rules starts it.
    check(join.additional_keys == ["conference_id", "role", "muted", "start_on_enter",
                                   "end_on_exit", "wait_music_url"]
          and join["conference_id"] == str(conf_id) and join["role"] == "participant"
          and join["muted"] is False and join["start_on_enter"] is True
          and join["end_on_exit"] is False and join["wait_music_url"] == "",
          f"call_joining: conference_join option = {join.to_dict()}")
    check(isinstance(ans.recording, Unset), f"call_joining: unexpected recording {ans.recording!r}")

    again, raw2 = answer("platform event call_joining (repeat id)",
                         lambda: post_platform_event.sync_detailed(client=platform, body=joining), EventAnswer)
    check(raw2.content == raw1.content, "repeated event id did not return the first answer byte for byte")
    check(again.to_dict() == ans.to_dict(), "repeated event id parsed differently")

    joined = CallJoinedEvent(id="evt-" + uuid.uuid4().hex, type_=CallJoinedEventType.CALL_JOINED,
                             data=CallJoinedEventData(call_id=call_id, conference_id=conf_id))
    ans2, _ = answer("platform event call_joined",
                     lambda: post_platform_event.sync_detailed(client=platform, body=joined), EventAnswer)
    cc2 = present(ans2.conferencecall, "EventAnswer.conferencecall")
    check_call(cc2, "call_joined Conferencecall")
    check(cc2.id == cc_id and cc2.status == CallStatus.JOINED,
          f"call_joined: {cc2.id} status {cc2.status}, want {cc_id} joined")

    # 6. list conferencecalls: the call is joined
    calls, _ = answer("list conferencecalls (joined)",
                      lambda: list_conferencecalls.sync_detailed(client=api, conference_id=conf_id),
                      ConferencecallPage)
    listed = calls.result
    check(len(listed) == 1, f"list conferencecalls: {len(listed)} items, want 1")
    check_call(listed[0], "listed Conferencecall")
    check(listed[0].id == cc_id and listed[0].status == CallStatus.JOINED
          and listed[0].conference_id == conf_id and listed[0].reference_id == call_id,
          f"list conferencecalls: {listed[0].to_dict()}")
    one_call, _ = answer("get conferencecall", lambda: get_conferencecall.sync_detailed(cc_id, client=api),
                         Conferencecall)
    check_call(one_call, "read Conferencecall")
    check(one_call.to_dict() == listed[0].to_dict(),
          f"get conferencecall differs from the listing:\n  {one_call.to_dict()}\n  {listed[0].to_dict()}")
    got, _ = answer("get conference (call joined)", lambda: get_conference.sync_detailed(conf_id, client=api),
                    Conference)
    check(got.conferencecall_ids == [cc_id], f"conferencecall_ids = {got.conferencecall_ids}, want [{cc_id}]")

    # 7. delete: a call is in it, so terminating; the call leaves and post_actions run
    gone, _ = answer("delete conference", lambda: delete_conference.sync_detailed(conf_id, client=api), Conference)
    check_conference(gone, "deleted Conference")
    check(gone.status == ConferenceStatus.TERMINATING, f"deleted Conference.status = {gone.status}, want terminating")
    timestamp(gone.tm_delete, "deleted Conference.tm_delete", set_=True)

    left = CallLeftEvent(id="evt-" + uuid.uuid4().hex, type_=CallLeftEventType.CALL_LEFT,
                         data=CallLeftEventData(call_id=call_id, conference_id=conf_id))
    ans3, _ = answer("platform event call_left",
                     lambda: post_platform_event.sync_detailed(client=platform, body=left), EventAnswer)
    cc3 = present(ans3.conferencecall, "EventAnswer.conferencecall")
    check(cc3.status == CallStatus.LEAVED, f"call_left: status = {cc3.status}, want leaved")
    left_actions = present(ans3.actions, "EventAnswer.actions")
    kinds = [a.type_ for a in left_actions]
    check(kinds == [EmittedActionType.TALK], f"call_left: action types = {kinds}, want the talk post_action")
    bye = talk_of(left_actions[0], "call_left: action 0")
    check(bye.text == "The conference has closed. Good bye.", f"call_left: talk = {bye.to_dict()}")

    final, _ = answer("get conference (after last call left)",
                      lambda: get_conference.sync_detailed(conf_id, client=api), Conference)
    check(final.status == ConferenceStatus.TERMINATED, f"final Conference.status = {final.status}, want terminated")
    check(final.conferencecall_ids == [], f"final conferencecall_ids = {final.conferencecall_ids}")

    late = CallJoiningEvent(id="evt-" + uuid.uuid4().hex, type_=CallJoiningEventType.CALL_JOINING,
                            data=CallJoiningEventData(call_id="call-" + uuid.uuid4().hex, conference_id=conf_id))
    err = refused("platform event call_joining into the closed conference",
                  lambda: post_platform_event.sync_detailed(client=platform, body=late), 409, "CONFERENCE_CLOSED")
    check(err.request_id == late.id, f"refused event: request_id = {err.request_id!r}, want the event id {late.id!r}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--api-key", required=True)
    ap.add_argument("--platform-secret", required=True, help="whsec_<base64 key>")
    ap.add_argument("--keep", action="store_true", help="keep the generated client and print where")
    ap.add_argument("--skip-mypy", action="store_true", help="do not type-check (still compiles and imports)")
    args = ap.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="confab-client-"))
    problems: list[str] = []
    done: list[str] = []
    try:
        generator_pinned()
        package_dir = generate(args.base_url, workdir, fail_on_warning=True)
        compile_and_import(workdir, package_dir)
        if not args.skip_mypy:
            problems += type_check(workdir)
        run(args.base_url.rstrip("/"), args.api_key, Wire(args.platform_secret), done)
    except Failure as e:
        problems.append(str(e))
    except Exception as e:  # noqa: BLE001 - e.g. a generated name this script expects is gone
        problems.append(f"unexpected {type(e).__name__}: {e}\n" + "".join(traceback.format_exception(e)[-4:]))
    finally:
        if args.keep:
            log(f"generated client kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    missing = [s for s in EXPECTED_STEPS if s not in done]
    unknown = [s for s in done if s not in EXPECTED_STEPS]
    if missing or unknown or done != list(EXPECTED_STEPS):
        problems.append(f"only {len(done)} of the {len(EXPECTED_STEPS)} expected steps ran"
                        + (f"; not run: {', '.join(missing)}" if missing else "")
                        + (f"; not expected: {', '.join(unknown)}" if unknown else "")
                        + ("; out of order" if not missing and not unknown else ""))
    log(f"steps: {len(done)}/{len(EXPECTED_STEPS)}")
    log("round trip: " + ("FAIL" if problems else "PASS"))
    for p in problems:
        print(f"FAIL: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
