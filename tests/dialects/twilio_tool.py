"""Twilio's own Python library, driven by confab's integration tests (tests/it/support/tools.rs).

Why: the TwiML dialect must agree with what Twilio really signs and really builds, so the tests
ask twilio-python rather than a second hand-written implementation. One JSON object on stdin,
one JSON object on stdout; a bad request exits 2 with the reason on stderr.

Commands ("cmd"):
  sign      {auth_token, url, params: {name: value | [values]}} -> {"signature"}
  validate  {auth_token, url, signature, params | body}         -> {"valid"}
  hash      {body}                                              -> {"hash"}  (bodySHA256)
  twiml     {verbs: [{"verb": "say", "text": ..., ...}, ...]}   -> {"twiml"}
  rest      {account_sid, auth_token, resource: [[name, sid|null], ...], action, args: {...}}
            -> {"method", "url", "form": [[name, value], ...], "auth": [user, password]}
            the request twilio-python's REST client sends for e.g.
            client.conferences("CF..").participants("CA..").update(muted=True), recorded by
            a fake HTTP client instead of sent
"""

import json
import logging
import re
import sys
from urllib.parse import parse_qsl

import requests

from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse


class MultiParams(dict):
    """A form whose fields may repeat ({"Digits": ["1", "2"]}). RequestValidator reads
    repeated fields through getall(), as it does with Flask's MultiDict."""

    def getall(self, name):
        value = self[name]
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def snake(name):
    """statusCallbackEvent -> status_callback_event: twilio-python's keyword names (it turns
    them back into camelCase attributes itself)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# The key that holds an element's text (its body, not an attribute), per TwiML element.
TEXT_ARG = {"say": "message", "play": "url", "redirect": "url", "dial": "number", "conference": "name"}


def add_element(parent, spec):
    """Nest one element described by spec under parent with the library's own method
    (parent.say, parent.dial, dial.conference, ...). Keys with an object (or a list of objects)
    as value are nested elements; other keys are attributes, passed through as keywords so any
    verb and attribute twilio-python knows can be described from Rust."""
    spec = dict(spec)
    verb = spec.pop("verb")
    kwargs, children = {}, []
    for key, value in spec.items():
        if isinstance(value, dict):
            children.append(dict(value, verb=key))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            children.extend(dict(v, verb=key) for v in value)
        elif key == "text":
            kwargs[TEXT_ARG.get(verb, "message")] = value
        else:
            kwargs[snake(key)] = value
    method = getattr(parent, snake(verb), None)
    if method is None:
        raise ValueError(f"twilio-python has no <{verb}> under <{type(parent).__name__}>")
    element = method(**kwargs)
    for child in children:
        add_element(element, child)


class Recorder(HttpClient):
    """An HTTP client that sends nothing: it keeps the request the library made and answers
    200 with an empty resource, which the library reads as it reads any answer."""

    def __init__(self):
        super().__init__(logging.getLogger("twilio_tool"), is_async=False)
        self.requests = []

    def request(self, method, url, params=None, data=None, headers=None, auth=None,
                timeout=None, allow_redirects=False):
        self.requests.append({"method": method, "url": url, "params": params or {},
                              "data": data or {}, "auth": list(auth) if auth else None})
        return Response(200, "{}")


def rest(req):
    """One REST call made through twilio-python's own resource classes, as recorded."""
    recorder = Recorder()
    client = Client(req["account_sid"], req["auth_token"], http_client=recorder)
    target = client
    for name, sid in req["resource"]:
        # A list resource (`client.calls.create`) is named with no sid.
        target = getattr(target, name)
        if sid is not None:
            target = target(sid)
    getattr(target, req["action"])(**(req.get("args") or {}))
    if len(recorder.requests) != 1:
        raise ValueError(f"expected one request, the library made {len(recorder.requests)}")
    sent = recorder.requests[0]
    # The body as the library's HTTP client (requests) puts it on the wire: a list value is a
    # repeated field.
    body = requests.Request("POST", sent["url"], data=sent["data"]).prepare().body or ""
    form = [[k, v] for k, v in parse_qsl(body, keep_blank_values=True)]
    return {"method": sent["method"], "url": sent["url"], "form": form, "auth": sent["auth"]}


def run(req):
    cmd = req.get("cmd")
    if cmd == "sign":
        validator = RequestValidator(req["auth_token"])
        return {"signature": validator.compute_signature(req["url"], MultiParams(req.get("params") or {}))}
    if cmd == "validate":
        validator = RequestValidator(req["auth_token"])
        # A string is a JSON body (checked against bodySHA256 in the URL); else form fields.
        params = req["body"] if "body" in req else MultiParams(req.get("params") or {})
        return {"valid": bool(validator.validate(req["url"], params, req["signature"]))}
    if cmd == "hash":
        return {"hash": RequestValidator("unused").compute_hash(req["body"])}
    if cmd == "twiml":
        response = VoiceResponse()
        for spec in req["verbs"]:
            add_element(response, spec)
        return {"twiml": str(response)}
    if cmd == "rest":
        return rest(req)
    raise ValueError(f"unknown cmd {cmd!r}")


def main():
    try:
        out = run(json.load(sys.stdin))
    except Exception as e:  # any bad request: say why, exit 2 (the Rust side panics with it)
        print(f"twilio_tool: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(2)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
