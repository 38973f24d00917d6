"""Schemathesis hooks: sign platform events the way the telephony platform does.

`POST /v1.0/platform/events` is authenticated with Standard Webhooks headers, an HMAC over
`{webhook-id}.{webhook-timestamp}.{body}`. The body is only final once `requests` has
serialized it, so the signature is added by a `requests` auth object, which runs on the
prepared request, i.e. on the exact bytes that go on the wire.

Only requests that carry the config's placeholder signature are signed: a case whose
credentials Schemathesis removed on purpose (negative testing, `ignored_auth` probes, which
do not pass through `before_call`) goes out unsigned or badly signed and must get a 401.
The admin route gets the admin token in place of the customer key in the same way.
"""

import base64
import hashlib
import hmac
import os
import time
import uuid

import requests
import schemathesis

PLACEHOLDER = "signed-by-hooks"


class PlatformSignature(requests.auth.AuthBase):
    def __init__(self, secret: str):
        self.key = base64.b64decode(secret.removeprefix("whsec_"))

    def __call__(self, request):
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        msg_id = f"msg_{uuid.uuid4().hex}"
        timestamp = str(int(time.time()))
        mac = hmac.new(self.key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
        request.headers["webhook-id"] = msg_id
        request.headers["webhook-timestamp"] = timestamp
        request.headers["webhook-signature"] = "v1," + base64.b64encode(mac.digest()).decode()
        return request


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers if hasattr(case.headers, "get") else {}  # case-insensitive
    if headers.get("webhook-signature") == PLACEHOLDER:
        kwargs["auth"] = PlatformSignature(os.environ["CONFAB_PLATFORM_SECRET"])
    customer = f"Bearer {os.environ.get('CONFAB_API_KEY')}"
    if case.path == "/v1.0/customers" and headers.get("Authorization") == customer:
        headers["Authorization"] = f"Bearer {os.environ['CONFAB_ADMIN_TOKEN']}"
