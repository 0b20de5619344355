#!/usr/bin/env python3
"""Show exactly what the official `dropbox-sign` Python SDK puts on the wire.

Starts a tiny recording HTTP server on 127.0.0.1 (random free port), points the
unchanged SDK at it, makes the Account and ApiApp calls, and prints for each
call: method, path, query, Content-Type, Authorization and the raw body (for
multipart bodies: each part's name, filename, content type and value).

It then probes how the SDK handles responses: error bodies (ApiException
.status/.body/.data), unknown extra JSON keys, a 204 with an empty body, and a
`warnings` array.

Run:  .venv/bin/python tools/sdk_wire_dump.py  [--json]
Nothing here talks to anything but the loopback recorder it starts itself.
"""
from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from urllib.parse import urlsplit

import dropbox_sign
from dropbox_sign import ApiClient, ApiException, Configuration, models, apis

API_KEY = "test-api-key-0123456789"
ACCOUNT_ID = "a" * 40
CLIENT_ID = "c" * 32

# A 1x1 transparent PNG, used as the custom logo.
PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

ACCOUNT = {
    "account_id": ACCOUNT_ID,
    "email_address": "me@example.com",
    "is_locked": False,
    "is_paid_hs": False,
    "is_paid_hf": False,
    "callback_url": None,
    "role_code": None,
    "locale": "en-US",
}
API_APP = {
    "client_id": CLIENT_ID,
    "name": "My App",
    "domains": ["example.com"],
    "callback_url": None,
    "created_at": 1700000000,
    "is_approved": False,
    "owner_account": {"account_id": ACCOUNT_ID, "email_address": "me@example.com"},
    "options": {"can_insert_everywhere": False},
    "oauth": None,
    "white_labeling_options": None,
}


class Recorder:
    """Holds the captured requests and the next canned response."""

    def __init__(self):
        self.requests: list[dict] = []
        # (status, body-bytes-or-None, content-type-or-None); None → default by path
        self.next_response: tuple[int, bytes | None, str | None] | None = None
        self.lock = threading.Lock()


REC = Recorder()


def default_response(method: str, path: str) -> tuple[int, bytes, str]:
    def j(obj, status=200):
        return status, json.dumps(obj).encode(), "application/json"

    if path.endswith("/account/verify"):
        return j({"account": {"email_address": "me@example.com"}})
    if path.endswith("/account/create"):
        return j({"account": ACCOUNT})
    if path.endswith("/account"):
        return j({"account": ACCOUNT})
    if path.endswith("/api_app/list"):
        return j({"api_apps": [API_APP], "list_info": {"num_pages": 1, "num_results": 1, "page": 1, "page_size": 2}})
    if path.endswith("/api_app") and method == "POST":
        return j({"api_app": API_APP}, 201)
    if "/api_app/" in path and method == "DELETE":
        return 204, b"", None
    if "/api_app/" in path:
        return j({"api_app": API_APP})
    return j({"error": {"error_msg": "Not found", "error_name": "not_found"}}, 404)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep stdout for the report
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        with REC.lock:
            REC.requests.append(
                {
                    "method": self.command,
                    "path": parts.path,
                    "query": parts.query,
                    "content_type": self.headers.get("Content-Type"),
                    "authorization": self.headers.get("Authorization"),
                    "accept": self.headers.get("Accept"),
                    "user_agent": self.headers.get("User-Agent"),
                    "body": body,
                }
            )
            canned = REC.next_response
            REC.next_response = None
        status, rbody, ctype = canned if canned else default_response(self.command, parts.path)
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        if status != 204:
            self.send_header("Content-Length", str(len(rbody or b"")))
        self.end_headers()
        if rbody and status != 204:
            self.wfile.write(rbody)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


def decode_multipart(content_type: str, body: bytes) -> list[dict]:
    raw = b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    out = []
    for part in msg.iter_parts():
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        out.append(
            {
                "name": part.get_param("name", header="content-disposition"),
                "filename": filename,
                "content_type": part.get_content_type() if part.get("Content-Type") else None,
                "value": (f"<{len(payload)} bytes>" if filename else payload.decode("utf-8", "replace")),
            }
        )
    return out


def describe(req: dict) -> dict:
    d = {k: v for k, v in req.items() if k != "body"}
    ct = req["content_type"] or ""
    if ct.startswith("multipart/form-data"):
        d["multipart_parts"] = decode_multipart(ct, req["body"])
        d["content_type"] = "multipart/form-data; boundary=..."
    else:
        d["body"] = req["body"].decode("utf-8", "replace")
    return d


def make_client(port: int, api_key: str = API_KEY) -> ApiClient:
    cfg = Configuration(username=api_key, host=f"http://127.0.0.1:{port}/v3")
    return ApiClient(cfg)


def capture(label: str, fn):
    """Run fn(); return the description of the single request it made and the result/exception."""
    start = len(REC.requests)
    result, err = None, None
    try:
        result = fn()
    except Exception as e:  # noqa: BLE001 - we report everything
        err = e
    reqs = [describe(r) for r in REC.requests[start:]]
    out = {"call": label, "requests": reqs}
    if err is not None:
        out["exception"] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        if isinstance(err, ApiException):
            out["exception_status"] = err.status
            out["exception_body"] = err.body
            out["exception_data"] = repr(err.data)
    else:
        out["result_type"] = type(result).__name__
        out["result"] = result.to_dict() if hasattr(result, "to_dict") else repr(result)
    return out


def main() -> int:
    as_json = "--json" in sys.argv
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()

    client = make_client(port)
    account = apis.AccountApi(client)
    api_app = apis.ApiAppApi(client)

    results = []
    results.append(capture("account_get()", lambda: account.account_get()))
    results.append(capture("account_get(account_id=...)", lambda: account.account_get(account_id=ACCOUNT_ID)))
    results.append(capture("account_get(email_address=...)", lambda: account.account_get(email_address="me+x@example.com")))
    results.append(
        capture(
            "account_update(callback_url, locale)",
            lambda: account.account_update(
                models.AccountUpdateRequest(callback_url="https://example.com/cb", locale="fr-FR")
            ),
        )
    )
    results.append(
        capture(
            "account_verify(email_address)",
            lambda: account.account_verify(models.AccountVerifyRequest(email_address="me@example.com")),
        )
    )
    results.append(
        capture(
            "account_create(email_address)",
            lambda: account.account_create(models.AccountCreateRequest(email_address="new@example.com")),
        )
    )

    full_create = dict(
        name="My App",
        domains=["example.com", "example.org"],
        callback_url="https://example.com/cb",
        oauth=models.SubOAuth(callback_url="https://example.com/oauth", scopes=["basic_account_info", "request_signature"]),
        options=models.SubOptions(can_insert_everywhere=True),
        white_labeling_options=models.SubWhiteLabelingOptions(primary_button_color="#00b3e6", reset_to_default=False),
    )
    results.append(
        capture("api_app_create(json, all fields)", lambda: api_app.api_app_create(models.ApiAppCreateRequest(**full_create)))
    )
    logo_path = "/tmp/countersign_logo_probe.png"
    with open(logo_path, "wb") as f:
        f.write(PNG_1x1)
    results.append(
        capture(
            "api_app_create(multipart, all fields, custom_logo_file=open(path,'rb'))",
            lambda: api_app.api_app_create(
                models.ApiAppCreateRequest(**full_create, custom_logo_file=open(logo_path, "rb"))
            ),
        )
    )
    results.append(
        capture(
            "api_app_create(multipart, custom_logo_file=raw bytes)",
            lambda: api_app.api_app_create(
                models.ApiAppCreateRequest(name="Logo App", domains=["example.com"], custom_logo_file=PNG_1x1)
            ),
        )
    )
    results.append(
        capture(
            "api_app_create(multipart, custom_logo_file=path str)",
            lambda: api_app.api_app_create(
                models.ApiAppCreateRequest(name="Logo App", domains=["example.com"], custom_logo_file=logo_path)
            ),
        )
    )
    results.append(
        capture(
            "api_app_create(multipart, custom_logo_file=BytesIO without .name)",
            lambda: api_app.api_app_create(
                models.ApiAppCreateRequest(name="Logo App", domains=["example.com"], custom_logo_file=io.BytesIO(PNG_1x1))
            ),
        )
    )
    results.append(capture("api_app_get(client_id)", lambda: api_app.api_app_get(CLIENT_ID)))
    results.append(
        capture(
            "api_app_update(client_id, name, domains, options)",
            lambda: api_app.api_app_update(
                CLIENT_ID,
                models.ApiAppUpdateRequest(
                    name="Renamed", domains=["example.net"], options=models.SubOptions(can_insert_everywhere=False)
                ),
            ),
        )
    )
    results.append(
        capture(
            "api_app_update(multipart: custom_logo_file + white_labeling_options)",
            lambda: api_app.api_app_update(
                CLIENT_ID,
                models.ApiAppUpdateRequest(
                    custom_logo_file=open(logo_path, "rb"),
                    options=models.SubOptions(can_insert_everywhere=False),
                    white_labeling_options=models.SubWhiteLabelingOptions(reset_to_default=True),
                ),
            ),
        )
    )
    results.append(capture("api_app_delete(client_id) [204 empty]", lambda: api_app.api_app_delete(CLIENT_ID)))
    results.append(capture("api_app_list(page=1,page_size=2)", lambda: api_app.api_app_list(page=1, page_size=2)))

    # ---- beyond Account/ApiApp: how top-level booleans, ints, dicts and file lists go multipart ----
    sr_api = apis.SignatureRequestApi(client)
    REC.next_response = (200, json.dumps({"signature_request": {"signature_request_id": "f" * 40}}).encode(), "application/json")
    results.append(
        capture(
            "signature_request_send(multipart: 2 files, test_mode=True, expires_at=int, metadata, signers)",
            lambda: sr_api.signature_request_send(
                models.SignatureRequestSendRequest(
                    files=[open(logo_path, "rb"), open(logo_path, "rb")],
                    signers=[models.SubSignatureRequestSigner(name="Jack", email_address="jack@example.com", order=0)],
                    test_mode=True,
                    allow_decline=False,
                    expires_at=1900000000,
                    metadata={"k": "v", "n": 1},
                    cc_email_addresses=["cc@example.com"],
                    title="T",
                )
            ),
        )
    )
    REC.next_response = (200, json.dumps({"signature_request": {"signature_request_id": "f" * 40}}).encode(), "application/json")
    results.append(
        capture(
            "signature_request_send(json: file_urls, test_mode=True)",
            lambda: sr_api.signature_request_send(
                models.SignatureRequestSendRequest(
                    file_urls=["https://example.com/a.pdf"],
                    signers=[models.SubSignatureRequestSigner(name="Jack", email_address="jack@example.com")],
                    test_mode=True,
                )
            ),
        )
    )

    # ---- client-side validation probes (no request expected) ----
    results.append(capture("ApiAppCreateRequest(name only) [client-side?]", lambda: models.ApiAppCreateRequest(name="x")))
    results.append(
        capture("ApiAppCreateRequest(domains=[]) [client-side?]", lambda: models.ApiAppCreateRequest(name="x", domains=[]))
    )
    results.append(capture("api_app_list(page_size=500) [client-side?]", lambda: api_app.api_app_list(page_size=500)))

    # ---- response handling probes ----
    def canned(status, obj, ctype="application/json"):
        REC.next_response = (status, None if obj is None else (obj if isinstance(obj, bytes) else json.dumps(obj).encode()), ctype)

    canned(401, {"error": {"error_msg": "Unauthorized api key", "error_name": "unauthorized"}})
    results.append(capture("error 401 {error:{...}}", lambda: account.account_get()))
    canned(400, {"error": {"error_msg": "Missing parameter: domains", "error_name": "bad_request", "error_path": "domains"}})
    results.append(capture("error 400 with error_path", lambda: api_app.api_app_get(CLIENT_ID)))
    canned(404, {"error": {"error_msg": "Not found", "error_name": "not_found", "extra": 1}})
    results.append(capture("error 404 with extra key in error", lambda: api_app.api_app_get(CLIENT_ID)))
    canned(400, {"message": "not the dropbox error shape"})
    results.append(capture("error 400 with non-ErrorResponse JSON", lambda: api_app.api_app_get(CLIENT_ID)))
    canned(500, {"error": {"error_msg": "boom", "error_name": "internal"}})
    results.append(capture("error 500 {error:{...}}", lambda: api_app.api_app_get(CLIENT_ID)))
    canned(401, b"Unauthorized", "text/plain")
    results.append(capture("error 401 text/plain", lambda: account.account_get()))

    canned(200, {"account": dict(ACCOUNT, brand_new_field={"x": 1}), "top_level_extra": True})
    results.append(capture("200 with unknown extra keys", lambda: account.account_get()))
    canned(200, {"account": ACCOUNT, "warnings": [{"warning_msg": "Heads up", "warning_name": "some_warning"}]})
    results.append(capture("200 with warnings", lambda: account.account_get()))
    canned(200, {"account": ACCOUNT, "warnings": [{"warning_msg": "no name"}]})
    results.append(capture("200 with malformed warning (no warning_name)", lambda: account.account_get()))
    canned(200, {"account": dict(ACCOUNT, is_locked="false")})
    results.append(capture("200 with wrong type (is_locked='false')", lambda: account.account_get()))
    canned(200, {"api_app": dict(API_APP, created_at="1700000000")})
    results.append(capture("200 api_app_get with created_at as string", lambda: api_app.api_app_get(CLIENT_ID)))
    canned(200, {"api_app": API_APP})
    results.append(capture("api_app_get answered 200 (expected)", lambda: api_app.api_app_get(CLIENT_ID)))
    canned(201, {"api_app": API_APP})
    results.append(capture("api_app_get answered 201 (not declared)", lambda: api_app.api_app_get(CLIENT_ID)))
    canned(200, {"api_app": API_APP})
    results.append(capture("api_app_create answered 200 (declared 201)", lambda: api_app.api_app_create(models.ApiAppCreateRequest(name="a", domains=["example.com"]))))
    canned(200, {})
    results.append(capture("account_get answered {} (account required)", lambda: account.account_get()))
    canned(200, {})
    results.append(capture("account_verify answered {}", lambda: account.account_verify(models.AccountVerifyRequest(email_address="nobody@example.com"))))
    canned(200, {"api_apps": [], "list_info": {"num_pages": 0, "num_results": 0, "page": 1, "page_size": 20}})
    results.append(capture("api_app_list empty", lambda: api_app.api_app_list()))
    canned(200, b"", "application/json")
    results.append(capture("api_app_delete answered 200 empty", lambda: api_app.api_app_delete(CLIENT_ID)))
    canned(200, {"ok": True})
    results.append(capture("api_app_delete answered 200 JSON", lambda: api_app.api_app_delete(CLIENT_ID)))
    canned(204, b"", "application/json")
    results.append(capture("api_app_delete answered 204 with Content-Type json", lambda: api_app.api_app_delete(CLIENT_ID)))

    server.shutdown()

    if as_json:
        print(json.dumps({"dropbox_sign_version": metadata.version("dropbox-sign"), "results": results}, indent=2, default=str))
        return 0

    print(f"dropbox-sign {metadata.version('dropbox-sign')} (module {dropbox_sign.__version__})")
    for r in results:
        print("=" * 78)
        print(r["call"])
        for req in r["requests"]:
            q = f"?{req['query']}" if req["query"] else ""
            print(f"  {req['method']} {req['path']}{q}")
            print(f"  Content-Type: {req['content_type']}")
            print(f"  Authorization: {req['authorization']}  Accept: {req['accept']}  UA: {req['user_agent']}")
            if "multipart_parts" in req:
                for p in req["multipart_parts"]:
                    fn = f" filename={p['filename']!r}" if p["filename"] else ""
                    ct = f" [{p['content_type']}]" if p["content_type"] else ""
                    print(f"    part {p['name']!r}{fn}{ct}: {p['value']}")
            else:
                print(f"  body: {req['body']!r}")
        if not r["requests"]:
            print("  (no request sent)")
        if "exception" in r:
            print(f"  -> raised {r['exception']}")
            if "exception_status" in r:
                print(f"     .status={r['exception_status']!r} .body={r['exception_body']!r}")
                print(f"     .data={r['exception_data']}")
        else:
            print(f"  -> returned {r['result_type']}: {r['result']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
