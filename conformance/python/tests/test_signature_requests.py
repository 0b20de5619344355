"""Signature requests through the official SDK, as a new user would drive them.

`SignatureRequestApi` (create_embedded, send, get, list, remind, update, files*, cancel), `EmbeddedApi`
(sign_url), `ApiAppApi` (the app whose client_id embedded requests need) and `AccountApi` (the account
callback URL). Documents are the fixture PDFs of `fixtures/pdf` (see its manifest.json), uploaded with
`files=[open(path, "rb")]` (the SDK sends multipart parts `files[0]`, …) or fetched by the server from
`file_urls` on a small HTTP server in the test process (`file_server`); the session server runs with
`COUNTERSIGN_ALLOW_PRIVATE_CALLBACKS=1`, which also allows private file URLs.

Processing is asynchronous: a create answers at once, and `signature_request_sent` (or `file_error`,
`signature_request_invalid`) arrives as a callback on the `callback_receiver`. Every callback is parsed
with `EventCallbackRequest.init` and checked with `EventCallbackHelper.is_valid`, and at the end of the
module every callback received so far must be accepted by the SDK.
"""
from __future__ import annotations

import base64
import io
import json
import os
import re
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pydantic
import pytest
import requests
from dropbox_sign import ApiException, EventCallbackHelper, apis, models
from dropbox_sign.exceptions import BadRequestException, ConflictException, NotFoundException
from dropbox_sign.models import EventCallbackRequest

from conftest import CALLBACK_DEADLINE_S, CLIENT_ID_RE, REPO, expect_api_error, expect_raw_error, unique_email

PDF_DIR = REPO / "fixtures" / "pdf"
SIGNATURE_REQUEST_ID_RE = re.compile(r"^[0-9a-f]{40}$")
SIGNATURE_ID_RE = re.compile(r"^[0-9a-f]{32}$")
ACCOUNT_CALLBACK = EventCallbackHelper.EVENT_TYPE_ACCOUNT_CALLBACK
APP_CALLBACK = EventCallbackHelper.EVENT_TYPE_APP_CALLBACK
# How long the test file server holds a "gated" download at most when the test never releases it.
GATE_MAX_S = 20.0


@pytest.fixture(scope="module", autouse=True)
def every_callback_is_accepted_by_the_sdk(callback_receiver):
    """After the module: the SDK accepts every callback the receiver got (late retries included)."""
    yield
    callback_receiver.assert_sdk_accepts_all()


# --- a file server for file_urls ------------------------------------------------------------------


@dataclass
class FileServer:
    """Serves the fixture PDFs: `/pdf/NAME`, and `/gated/TOKEN/NAME`, which answers only once the
    test calls `release(TOKEN)` (or after GATE_MAX_S), so the request stays in processing meanwhile."""

    base_url: str
    httpd: ThreadingHTTPServer
    hits: list[tuple[str, float]] = field(default_factory=list)
    gates: dict[str, threading.Event] = field(default_factory=dict)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def url(self, name: str) -> str:
        return f"{self.base_url}/pdf/{name}"

    def gated_url(self, name: str) -> tuple[str, str]:
        token = uuid.uuid4().hex
        with self.cond:
            self.gates[token] = threading.Event()
        return token, f"{self.base_url}/gated/{token}/{name}"

    def release(self, token: str) -> None:
        self.gates[token].set()

    def record(self, path: str) -> None:
        with self.cond:
            self.hits.append((path, time.time()))
            self.cond.notify_all()

    def hits_for(self, path_part: str) -> list[str]:
        with self.cond:
            return [p for p, _ in self.hits if path_part in p]

    def wait_hit(self, path_part: str, timeout: float = CALLBACK_DEADLINE_S) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not any(path_part in p for p, _ in self.hits):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"the server did not fetch {path_part} within {timeout}s (hits: {self.hits!r})"
                    )
                self.cond.wait(timeout=left)


class _FileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    files: FileServer

    def do_GET(self):  # noqa: N802 (http.server API)
        self.files.record(self.path)
        parts = self.path.split("?")[0].strip("/").split("/")
        name = None
        if len(parts) == 2 and parts[0] == "pdf":
            name = parts[1]
        elif len(parts) == 3 and parts[0] == "gated":
            gate = self.files.gates.get(parts[1])
            if gate is not None:
                gate.wait(timeout=GATE_MAX_S)
                name = parts[2]
        path = PDF_DIR / name if name and "/" not in name and ".." not in name else None
        if path is None or not path.is_file():
            body = b"not found"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
        else:
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def file_server():
    handler = type("FileHandler", (_FileHandler,), {})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    fs = FileServer(base_url=f"http://127.0.0.1:{httpd.server_address[1]}", httpd=httpd)
    handler.files = fs
    thread = threading.Thread(target=httpd.serve_forever, name="file-server", daemon=True)
    thread.start()
    yield fs
    for gate in fs.gates.values():
        gate.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


# --- helpers -----------------------------------------------------------------------------------


def pdf(name: str) -> str:
    path = PDF_DIR / name
    assert path.is_file(), path
    return str(path)


def signers(n: int = 2) -> list[models.SubSignatureRequestSigner]:
    return [
        models.SubSignatureRequestSigner(name=f"Signer {i + 1}", email_address=unique_email(f"signer{i + 1}"), order=i)
        for i in range(n)
    ]


@pytest.fixture
def account_ep(client, account, callback_receiver):
    """A fresh account callback URL on the receiver, saved with AccountApi.account_update."""
    ep = callback_receiver.endpoint(account.api_key, label="sr-account")
    resp = apis.AccountApi(client).account_update(models.AccountUpdateRequest(callback_url=ep.url))
    assert resp.account.callback_url == ep.url
    return ep


def create_app(client, callback_url: str | None = None) -> str:
    kwargs = dict(name=f"Signing App {uuid.uuid4().hex[:8]}", domains=["example.com"])
    if callback_url is not None:
        kwargs["callback_url"] = callback_url
    info = apis.ApiAppApi(client).api_app_create_with_http_info(models.ApiAppCreateRequest(**kwargs))
    assert info.status_code == 201
    assert CLIENT_ID_RE.match(info.data.api_app.client_id), info.data.api_app.client_id
    return info.data.api_app.client_id


def send_upload(client, name: str = "simple-two-signers.pdf", n_signers: int = 2, **kwargs):
    """signature_request_send with one uploaded fixture; returns (SignatureRequestResponse, signers)."""
    who = signers(n_signers)
    with open(pdf(name), "rb") as f:
        info = apis.SignatureRequestApi(client).signature_request_send_with_http_info(
            models.SignatureRequestSendRequest(
                files=[f], signers=who, use_text_tags=True, test_mode=True, **kwargs
            )
        )
    assert info.status_code == 200, info
    sr = info.data.signature_request
    assert SIGNATURE_REQUEST_ID_RE.match(sr.signature_request_id), sr.signature_request_id
    return sr, who


def create_embedded_upload(client, client_id: str, name: str = "simple-two-signers.pdf", **kwargs):
    who = signers(2)
    with open(pdf(name), "rb") as f:
        info = apis.SignatureRequestApi(client).signature_request_create_embedded_with_http_info(
            models.SignatureRequestCreateEmbeddedRequest(
                client_id=client_id, files=[f], signers=who, use_text_tags=True, test_mode=True, **kwargs
            )
        )
    assert info.status_code == 200, info
    return info.data.signature_request, who


def _callback_matches(req, event_type: str, sr_id: str) -> bool:
    raw = json.loads(req.json_text())
    return (raw.get("event") or {}).get("event_type") == event_type and (raw.get("signature_request") or {}).get(
        "signature_request_id"
    ) == sr_id


def events_for(receiver, ep, sr_id: str) -> list[str]:
    out = []
    for req in receiver.received(ep.path):
        raw = json.loads(req.json_text())
        if (raw.get("signature_request") or {}).get("signature_request_id") == sr_id:
            out.append(raw["event"]["event_type"])
    return out


def wait_event(receiver, ep, event_type: str, sr_id: str, timeout: float = CALLBACK_DEADLINE_S):
    """Wait until `ep` received an `event_type` callback about `sr_id`; check it with the SDK and
    return (raw JSON dict, EventCallbackRequest)."""
    deadline = time.monotonic() + timeout
    found = None
    with receiver.cond:
        while found is None:
            found = next(
                (r for r in receiver.requests if r.path == ep.path and _callback_matches(r, event_type, sr_id)), None
            )
            if found is not None:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            receiver.cond.wait(timeout=left)
    if found is None:
        raise AssertionError(
            f"no {event_type} callback for {sr_id} on {ep.path} within {timeout}s; "
            f"events received for it: {events_for(receiver, ep, sr_id)!r}"
        )
    text = found.json_text()
    callback = EventCallbackRequest.init(text)
    assert isinstance(callback, EventCallbackRequest), text
    assert EventCallbackHelper.is_valid(ep.api_key, callback) is True, text
    expected_type = APP_CALLBACK if ep.client_id else ACCOUNT_CALLBACK
    assert EventCallbackHelper.get_callback_type(callback) == expected_type, text
    assert callback.event.event_type == event_type, text
    assert callback.signature_request is not None, text
    assert callback.signature_request.signature_request_id == sr_id, text
    return json.loads(text), callback


def sent(receiver, ep, sr_id: str):
    return wait_event(receiver, ep, "signature_request_sent", sr_id)


# --- 1. create_embedded with an uploaded file ---------------------------------------------------


def test_create_embedded_upload_then_sent_get_and_sign_url(server, client, account, account_ep, callback_receiver):
    client_id = create_app(client)
    who = signers(2)
    metadata = {"custom_id": "1234", "nested": {"n": 1}}
    with open(pdf("simple-two-signers.pdf"), "rb") as f:
        info = apis.SignatureRequestApi(client).signature_request_create_embedded_with_http_info(
            models.SignatureRequestCreateEmbeddedRequest(
                client_id=client_id,
                files=[f],
                signers=who,
                use_text_tags=True,
                test_mode=True,
                metadata=metadata,
                title="Embedded NDA",
                subject="Please sign",
                message="Thanks!",
            )
        )
    assert info.status_code == 200
    assert isinstance(info.data, models.SignatureRequestGetResponse), info.data
    sr = info.data.signature_request
    sr_id = sr.signature_request_id
    assert SIGNATURE_REQUEST_ID_RE.match(sr_id), sr_id
    assert sr.test_mode is True
    assert sr.title == "Embedded NDA"
    assert sr.subject == "Please sign"
    assert sr.message == "Thanks!"
    assert sr.metadata == metadata
    assert sr.requester_email_address == account.email_address
    assert sr.is_complete is False and sr.is_declined is False and sr.has_error is False
    assert abs(sr.created_at - time.time()) < 300
    assert [s.signer_email_address for s in sr.signatures] == [s.email_address for s in who]
    assert [s.signer_name for s in sr.signatures] == [s.name for s in who]
    assert [s.order for s in sr.signatures] == [0, 1]
    assert [s.status_code for s in sr.signatures] == ["awaiting_signature"] * 2
    for s in sr.signatures:
        assert SIGNATURE_ID_RE.match(s.signature_id), s.signature_id
    assert len({s.signature_id for s in sr.signatures}) == 2

    raw, callback = sent(callback_receiver, account_ep, sr_id)
    assert raw["event"]["event_metadata"]["reported_for_app_id"] is None, raw
    cb_sr = callback.signature_request
    assert [s.signature_id for s in cb_sr.signatures] == [s.signature_id for s in sr.signatures]
    assert [s.status_code for s in cb_sr.signatures] == ["awaiting_signature"] * 2
    assert cb_sr.metadata == metadata

    got = apis.SignatureRequestApi(client).signature_request_get(sr_id)
    assert isinstance(got, models.SignatureRequestGetResponse), got
    g = got.signature_request
    assert g.signature_request_id == sr_id
    assert g.title == sr.title and g.metadata == metadata and g.test_mode is True
    assert g.created_at == sr.created_at
    assert [(s.signature_id, s.signer_email_address, s.status_code) for s in g.signatures] == [
        (s.signature_id, s.signer_email_address, "awaiting_signature") for s in sr.signatures
    ]

    signature_id = sr.signatures[0].signature_id
    before = int(time.time())
    url_resp = apis.EmbeddedApi(client).embedded_sign_url(signature_id)
    assert isinstance(url_resp, models.EmbeddedSignUrlResponse), url_resp
    sign_url = url_resp.embedded.sign_url
    assert "embeddedSign" in sign_url, sign_url
    assert url_resp.embedded.expires_at > before, url_resp

    page = requests.get(sign_url, timeout=30)
    assert page.status_code == 200, page.text[:500]
    assert page.headers.get("Content-Type", "").startswith("text/html"), page.headers
    assert "<html" in page.text.lower(), page.text[:500]


def test_embedded_request_also_reaches_the_app_callback(server, client, account, account_ep, callback_receiver):
    app_ep = callback_receiver.endpoint(account.api_key, label="sr-app")
    client_id = create_app(client, callback_url=app_ep.url)
    app_ep.client_id = client_id
    sr, _ = create_embedded_upload(client, client_id)
    sent(callback_receiver, account_ep, sr.signature_request_id)
    raw, callback = sent(callback_receiver, app_ep, sr.signature_request_id)
    assert callback.event.event_metadata.reported_for_app_id == client_id, raw


# --- 2. send with file_urls ---------------------------------------------------------------------


def test_send_with_file_urls_and_options(server, client, account, account_ep, callback_receiver, file_server):
    now = int(time.time())
    expires_at = now + 3 * 86400
    if expires_at % 3600 == 0:
        expires_at += 1  # make the rounding observable
    rounded = expires_at - expires_at % 3600
    who = signers(2)
    cc = [unique_email("cc1"), unique_email("cc2")]
    url = file_server.url("simple-two-signers.pdf")
    info = apis.SignatureRequestApi(client).signature_request_send_with_http_info(
        models.SignatureRequestSendRequest(
            file_urls=[url],
            signers=who,
            cc_email_addresses=cc,
            custom_fields=[models.SubCustomField(name="Cost", value="$20,000")],
            signing_redirect_url="https://example.com/after-signing",
            expires_at=expires_at,
            use_text_tags=True,
            test_mode=True,
            title="From a URL",
        )
    )
    assert info.status_code == 200
    sr = info.data.signature_request
    sr_id = sr.signature_request_id
    assert SIGNATURE_REQUEST_ID_RE.match(sr_id)
    assert sr.title == "From a URL"
    assert sr.cc_email_addresses == cc
    assert sr.signing_redirect_url == "https://example.com/after-signing"
    assert sr.expires_at == rounded, (sr.expires_at, expires_at)
    assert len(sr.custom_fields) == 1, sr.custom_fields
    cf = sr.custom_fields[0]
    assert isinstance(cf, models.SignatureRequestResponseCustomFieldText), cf
    assert (cf.name, cf.type, cf.value) == ("Cost", "text", "$20,000")
    assert [s.status_code for s in sr.signatures] == ["awaiting_signature"] * 2

    _, callback = sent(callback_receiver, account_ep, sr_id)
    assert file_server.hits_for("/pdf/simple-two-signers.pdf"), "the server never fetched the file URL"
    cb = callback.signature_request
    assert cb.expires_at == rounded
    assert cb.cc_email_addresses == cc
    assert cb.signing_redirect_url == "https://example.com/after-signing"

    g = apis.SignatureRequestApi(client).signature_request_get(sr_id).signature_request
    assert g.expires_at == rounded and g.cc_email_addresses == cc
    assert [(c.name, c.value) for c in g.custom_fields] == [("Cost", "$20,000")]


# --- 3. list ------------------------------------------------------------------------------------


def test_list_pages_and_query(server, client, account, account_ep, callback_receiver):
    word = f"needle{uuid.uuid4().hex[:8]}"
    ids = []
    for title in (f"Alpha {word}", "Beta", f"Gamma {word}"):
        sr, _ = send_upload(client, title=title)
        ids.append(sr.signature_request_id)

    api = apis.SignatureRequestApi(client)
    first = api.signature_request_list(page_size=2)
    assert isinstance(first, models.SignatureRequestListResponse), first
    li = first.list_info
    assert (li.num_results, li.num_pages, li.page, li.page_size) == (3, 2, 1, 2), li
    assert len(first.signature_requests) == 2
    second = api.signature_request_list(page=2, page_size=2)
    assert (second.list_info.page, len(second.signature_requests)) == (2, 1)
    listed = [s.signature_request_id for s in first.signature_requests + second.signature_requests]
    assert sorted(listed) == sorted(ids), listed

    found = api.signature_request_list(page_size=10, query=word)
    assert found.list_info.num_results == 2, found.list_info
    assert sorted(s.signature_request_id for s in found.signature_requests) == sorted([ids[0], ids[2]])
    assert all(word in s.title for s in found.signature_requests)

    none = api.signature_request_list(query=f"nothing{uuid.uuid4().hex}")
    assert none.signature_requests == [] and none.list_info.num_results == 0, none


def test_list_query_uses_the_dropbox_search_syntax(server, client, account):
    """`query` as documented at https://developers.hellosign.com/api/reference/search/: `field:value`
    terms (`title`, `to`, `complete`, …), and bare terms matched against to, from, title, subject,
    message, metadata and filename."""
    word = uuid.uuid4().hex[:8]
    target, who = send_upload(
        client,
        title=f"Title{word}",
        subject=f"Subject{word}",
        message=f"Message{word}",
        metadata={"ref": f"Meta{word}"},
    )
    send_upload(client, title="Unrelated")
    api = apis.SignatureRequestApi(client)
    expected = {
        f"title:Title{word}": 1,  # the documented example's form (query=title:Field+Trip+Release)
        f"to:{who[0].email_address}": 1,
        "complete:false": 2,
        f"Subject{word}": 1,
        f"Message{word}": 1,
        f"Meta{word}": 1,
        f"Title{word}": 1,  # a bare title term (the only kind that works today)
    }
    wrong = {}
    for query, count in expected.items():
        got = api.signature_request_list(page_size=100, query=query)
        ids = [s.signature_request_id for s in got.signature_requests]
        if got.list_info.num_results != count or (count == 1 and ids != [target.signature_request_id]):
            wrong[query] = (got.list_info.num_results, count)
    assert not wrong, f"query -> (num_results, expected): {wrong!r}"


# --- 4. remind ----------------------------------------------------------------------------------


def test_remind_once_then_invalid_reminder(server, client, account, account_ep, callback_receiver):
    sr, who = send_upload(client)
    sr_id = sr.signature_request_id
    sent(callback_receiver, account_ep, sr_id)
    api = apis.SignatureRequestApi(client)

    before = int(time.time())
    resp = api.signature_request_remind(sr_id, models.SignatureRequestRemindRequest(email_address=who[0].email_address))
    assert isinstance(resp, models.SignatureRequestGetResponse), resp
    assert resp.signature_request.signature_request_id == sr_id
    reminded = resp.signature_request.signatures[0]
    assert reminded.signer_email_address == who[0].email_address
    assert reminded.last_reminded_at is not None and reminded.last_reminded_at >= before - 1, reminded

    raw, callback = wait_event(callback_receiver, account_ep, "signature_request_remind", sr_id)
    assert callback.event.event_metadata.related_signature_id == sr.signatures[0].signature_id, raw

    e = expect_api_error(
        lambda: api.signature_request_remind(
            sr_id, models.SignatureRequestRemindRequest(email_address=who[0].email_address)
        ),
        400,
        error_name="invalid_reminder",
    )
    assert isinstance(e, BadRequestException)


def test_remind_embedded_request_is_invalid_reminder(server, client, account, account_ep, callback_receiver):
    sr, who = create_embedded_upload(client, create_app(client))
    sent(callback_receiver, account_ep, sr.signature_request_id)
    e = expect_api_error(
        lambda: apis.SignatureRequestApi(client).signature_request_remind(
            sr.signature_request_id, models.SignatureRequestRemindRequest(email_address=who[0].email_address)
        ),
        400,
        error_name="invalid_reminder",
    )
    assert isinstance(e, BadRequestException)


# --- 5. update ----------------------------------------------------------------------------------


def test_update_email_issues_a_new_signature_id(server, client, account, account_ep, callback_receiver):
    sr, who = send_upload(client)
    sr_id = sr.signature_request_id
    sent(callback_receiver, account_ep, sr_id)
    old_id = sr.signatures[1].signature_id
    new_email = unique_email("moved")

    resp = apis.SignatureRequestApi(client).signature_request_update(
        sr_id, models.SignatureRequestUpdateRequest(signature_id=old_id, email_address=new_email)
    )
    assert isinstance(resp, models.SignatureRequestGetResponse), resp
    sigs = resp.signature_request.signatures
    assert [s.signer_email_address for s in sigs] == [who[0].email_address, new_email]
    assert sigs[0].signature_id == sr.signatures[0].signature_id
    assert SIGNATURE_ID_RE.match(sigs[1].signature_id) and sigs[1].signature_id != old_id, sigs
    assert sigs[1].signer_name == who[1].name

    g = apis.SignatureRequestApi(client).signature_request_get(sr_id).signature_request
    assert [s.signature_id for s in g.signatures] == [s.signature_id for s in sigs]


# --- 6. files -----------------------------------------------------------------------------------


def test_files_pdf_zip_data_uri_and_file_url(server, client, account, account_ep, callback_receiver):
    sr, _ = send_upload(client, title="Files Test")
    sr_id = sr.signature_request_id
    sent(callback_receiver, account_ep, sr_id)
    api = apis.SignatureRequestApi(client)

    pdf_file = api.signature_request_files(sr_id, file_type="pdf")
    assert isinstance(pdf_file, io.IOBase), type(pdf_file)
    data = pdf_file.read()
    assert data.startswith(b"%PDF"), data[:20]

    default = api.signature_request_files(sr_id).read()
    assert default.startswith(b"%PDF"), default[:20]

    zipped = api.signature_request_files(sr_id, file_type="zip").read()
    assert zipped.startswith(b"PK"), zipped[:20]
    with zipfile.ZipFile(io.BytesIO(zipped)) as z:
        names = z.namelist()
        assert len(names) == 1, names
        assert z.read(names[0]).startswith(b"%PDF")

    uri = api.signature_request_files_as_data_uri(sr_id)
    assert isinstance(uri, models.FileResponseDataUri), uri
    prefix = "data:application/pdf;base64,"
    assert uri.data_uri.startswith(prefix), uri.data_uri[:60]
    assert base64.b64decode(uri.data_uri[len(prefix):]).startswith(b"%PDF")

    before = int(time.time())
    link = api.signature_request_files_as_file_url(sr_id)
    assert isinstance(link, models.FileResponse), link
    assert link.expires_at > before, link
    r = requests.get(link.file_url, timeout=30)  # no credentials
    assert r.status_code == 200, r.text[:300]
    assert r.headers.get("Content-Type", "").startswith("application/pdf"), r.headers
    assert r.content.startswith(b"%PDF")


# --- 7. cancel ----------------------------------------------------------------------------------


def test_cancel_then_canceled_callback_and_410(server, client, account, account_ep, callback_receiver):
    sr, _ = send_upload(client)
    sr_id = sr.signature_request_id
    sent(callback_receiver, account_ep, sr_id)
    api = apis.SignatureRequestApi(client)

    info = api.signature_request_cancel_with_http_info(sr_id)
    assert info.status_code == 200, info
    assert info.data is None

    _, callback = wait_event(callback_receiver, account_ep, "signature_request_canceled", sr_id)
    e = expect_api_error(lambda: api.signature_request_get(sr_id), 410)
    assert type(e) is ApiException, type(e)  # the SDK has no subclass for 410


# --- 8. errors as SDK users see them ------------------------------------------------------------


def test_create_embedded_client_id_errors(server, client, account):
    api = apis.SignatureRequestApi(client)
    # The SDK itself refuses a request without client_id (a required field): nothing is sent.
    with pytest.raises(pydantic.ValidationError):
        models.SignatureRequestCreateEmbeddedRequest(file_urls=["https://example.com/a.pdf"], signers=signers(1))

    for bad in ("", "0" * 32, "not-a-client-id"):
        with open(pdf("simple-two-signers.pdf"), "rb") as f:
            e = expect_api_error(
                lambda: api.signature_request_create_embedded(
                    models.SignatureRequestCreateEmbeddedRequest(client_id=bad, files=[f], signers=signers(2))
                ),
                400,
                error_path="client_id",
            )
        assert isinstance(e, BadRequestException)
        assert '"error_path"' in e.body and "client_id" in e.body, e.body

    # Raw (the SDK cannot send it): no client_id at all.
    with open(pdf("simple-two-signers.pdf"), "rb") as f:
        r = server.raw(
            "POST",
            "/signature_request/create_embedded",
            account.api_key,
            files={"files[0]": ("simple-two-signers.pdf", f, "application/pdf")},
            data={"signers": json.dumps([{"name": "A", "email_address": unique_email()}])},
        )
    expect_raw_error(r, 400, error_path="client_id")


def test_create_embedded_bad_signer_email(server, client, account):
    client_id = create_app(client)
    bad = [models.SubSignatureRequestSigner(name="Bad", email_address="not-an-email")]
    with open(pdf("simple-two-signers.pdf"), "rb") as f:
        e = expect_api_error(
            lambda: apis.SignatureRequestApi(client).signature_request_create_embedded(
                models.SignatureRequestCreateEmbeddedRequest(client_id=client_id, files=[f], signers=bad)
            ),
            400,
        )
    assert isinstance(e, BadRequestException)
    assert '"error_path"' in e.body, e.body
    assert e.data.error.error_path and "email_address" in e.data.error.error_path, e.body
    assert e.data.error.error_path.startswith("signers"), e.body


def test_get_unknown_request_is_not_found(server, client):
    api = apis.SignatureRequestApi(client)
    for unknown in (uuid.uuid4().hex + "00000000", "nope"):
        e = expect_api_error(lambda: api.signature_request_get(unknown), 404)
        assert isinstance(e, NotFoundException)


def test_another_accounts_request_is_not_found(server, client, account, other_account):
    sr, _ = send_upload(client)
    other = server.client(other_account.api_key)
    e = expect_api_error(lambda: apis.SignatureRequestApi(other).signature_request_get(sr.signature_request_id), 404)
    assert isinstance(e, NotFoundException)


def test_files_while_processing_is_409(server, client, account, account_ep, callback_receiver, file_server):
    token, url = file_server.gated_url("simple-two-signers.pdf")
    sr = (
        apis.SignatureRequestApi(client)
        .signature_request_send(
            models.SignatureRequestSendRequest(file_urls=[url], signers=signers(2), use_text_tags=True, test_mode=True)
        )
        .signature_request
    )
    sr_id = sr.signature_request_id
    api = apis.SignatureRequestApi(client)
    try:
        # The server is fetching the document and the file server holds the answer: still processing.
        file_server.wait_hit(f"/gated/{token}/")
        e = expect_api_error(lambda: api.signature_request_files(sr_id, file_type="pdf"), 409)
        assert isinstance(e, ConflictException)
        e = expect_api_error(lambda: api.signature_request_files_as_data_uri(sr_id), 409)
        assert isinstance(e, ConflictException)
        e = expect_api_error(lambda: api.signature_request_files_as_file_url(sr_id), 409)
        assert isinstance(e, ConflictException)
        assert "signature_request_sent" not in events_for(callback_receiver, account_ep, sr_id)
    finally:
        file_server.release(token)
    sent(callback_receiver, account_ep, sr_id)
    assert api.signature_request_files(sr_id, file_type="pdf").read().startswith(b"%PDF")


# --- 9. processing failures ---------------------------------------------------------------------


def test_malformed_tag_is_file_error(server, client, account, account_ep, callback_receiver):
    sr, _ = send_upload(client, name="unknown-type.pdf", n_signers=1)
    sr_id = sr.signature_request_id
    raw, callback = wait_event(callback_receiver, account_ep, "file_error", sr_id)
    assert callback.signature_request.has_error is True, raw
    assert [s.status_code for s in callback.signature_request.signatures] == ["error_file"], raw
    assert "signature_request_sent" not in events_for(callback_receiver, account_ep, sr_id)
    g = apis.SignatureRequestApi(client).signature_request_get(sr_id).signature_request
    assert g.has_error is True
    assert [s.status_code for s in g.signatures] == ["error_file"]


def test_unknown_signer_tag_is_signature_request_invalid(server, client, account, account_ep, callback_receiver):
    sr, _ = send_upload(client, name="unknown-signer.pdf", n_signers=2)
    sr_id = sr.signature_request_id
    raw, callback = wait_event(callback_receiver, account_ep, "signature_request_invalid", sr_id)
    assert callback.signature_request.has_error is True, raw
    assert [s.status_code for s in callback.signature_request.signatures] == ["error_text_tag"] * 2, raw
    assert "signature_request_sent" not in events_for(callback_receiver, account_ep, sr_id)
    g = apis.SignatureRequestApi(client).signature_request_get(sr_id).signature_request
    assert g.has_error is True
    assert [s.status_code for s in g.signatures] == ["error_text_tag"] * 2


# --- 10. the final copy ---------------------------------------------------------------------------

PNG_DATA_URI = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def poppler(tool: str, args: list[str], data: bytes, tmp_path) -> str | None:
    """A poppler tool's output on `data`, or None when poppler is missing (a failure when
    COUNTERSIGN_REQUIRE_POPPLER=1, as in CI)."""
    import os
    import shutil
    import subprocess

    exe = shutil.which(tool)
    if exe is None:
        assert os.environ.get("COUNTERSIGN_REQUIRE_POPPLER") != "1", f"{tool} is required but missing"
        print(f"NOTICE: {tool} not found; skipping its check")
        return None
    path = tmp_path / f"{uuid.uuid4().hex}.pdf"
    path.write_bytes(data)
    out = subprocess.run([exe, *args, str(path), *(["-"] if tool == "pdftotext" else [])], capture_output=True, text=True)
    return out.stdout + out.stderr


def sign_through_the_page(client, sr_id: str, signature_id: str, client_id: str) -> None:
    """What the signer page's script does: open the embedded sign URL, then post every one of this
    signer's fields with the session the page was given."""
    url = apis.EmbeddedApi(client).embedded_sign_url(signature_id).embedded.sign_url
    page = requests.get(
        url + "&parent_url=https%3A%2F%2Fapp.example.com%2F&client_id=" + client_id + "&skip_domain_verification=0",
        timeout=30,
    )
    assert page.status_code == 200, page.text[:500]
    config = json.loads(re.search(r'id="countersign-config">(.*?)</script>', page.text, re.S).group(1))
    fields = requests.get(
        f"{client.configuration.host}/signature_request/fields/{sr_id}",
        auth=(client.configuration.username, ""),
        timeout=30,
    ).json()["fields"]
    index = next(i for i, s in enumerate(apis.SignatureRequestApi(client).signature_request_get(sr_id).signature_request.signatures) if s.signature_id == signature_id)
    values, images = {}, {}
    for f in fields:
        if f["signer"] != index:
            continue
        if f["type"] in ("signature", "initials"):
            images[f["api_id"]] = PNG_DATA_URI
        elif f["type"] == "text":
            values[f["api_id"]] = "Ωμέγα Ltd"
        elif f["type"] == "checkbox":
            values[f["api_id"]] = True
    base = client.configuration.host.rsplit("/v3", 1)[0]
    r = requests.post(
        f"{base}/sign/{signature_id}/sign",
        json={"values": values, "images": images, "session": config["session"], "expires": config["expires"]},
        timeout=30,
    )
    assert r.status_code == 200, r.text


def test_the_final_copy_is_sealed_with_its_audit_trail(server, client, account, account_ep, callback_receiver, tmp_path):
    client_id = create_app(client)
    sr, _ = create_embedded_upload(client, client_id, title="Sealed agreement", hide_text_tags=True)
    sr_id = sr.signature_request_id
    sent(callback_receiver, account_ep, sr_id)
    for signature in sr.signatures:
        sign_through_the_page(client, sr_id, signature.signature_id, client_id)
    wait_event(callback_receiver, account_ep, "signature_request_all_signed", sr_id)
    wait_event(callback_receiver, account_ep, "signature_request_downloadable", sr_id)
    assert events_for(callback_receiver, account_ep, sr_id).index("signature_request_all_signed") < events_for(
        callback_receiver, account_ep, sr_id
    ).index("signature_request_downloadable")

    api = apis.SignatureRequestApi(client)
    data = api.signature_request_files(sr_id, file_type="pdf").read()
    assert data.startswith(b"%PDF")
    report = poppler("pdfsig", [], data, tmp_path)
    if report is not None:
        assert "Signature is Valid" in report and "Total document signed" in report, report
    text = poppler("pdftotext", ["-enc", "UTF-8"], data, tmp_path)
    if text is not None:
        assert "Ωμέγα Ltd" in text, text
        assert "Audit trail" in text and sr_id in text, text
        assert "|req|" not in text and "|noreq|" not in text, text
    # The same sealed bytes through the file URL, and one sealed file in the zip.
    link = api.signature_request_files_as_file_url(sr_id)
    assert requests.get(link.file_url, timeout=30).content == data
    with zipfile.ZipFile(io.BytesIO(api.signature_request_files(sr_id, file_type="zip").read())) as z:
        (name,) = z.namelist()
        assert z.read(name) == data, "one document: the zip holds the same sealed copy"
    # verify (an extension): intact, and traced to this request.
    r = requests.post(
        f"{client.configuration.host}/signature_request/verify",
        auth=(client.configuration.username, ""),
        files={"file": ("final.pdf", data, "application/pdf")},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.json()["verification"]["intact"] is True
    assert r.json()["verification"]["signature_request_id"] == sr_id
    changed = bytearray(data)
    changed[len(changed) // 3] ^= 1
    r = requests.post(
        f"{client.configuration.host}/signature_request/verify",
        auth=(client.configuration.username, ""),
        files={"file": ("final.pdf", bytes(changed), "application/pdf")},
        timeout=30,
    )
    assert r.json()["verification"]["intact"] is False


# --- 10. office documents -------------------------------------------------------------------------


def test_a_word_document_with_text_tags_becomes_fields(server, client, account, account_ep, callback_receiver):
    """Dropbox Sign's own embedded demo uploads a .docx: the server converts it (LibreOffice) and reads the
    tags Word laid out. CI requires LibreOffice; elsewhere the test is skipped when it is missing."""
    import shutil

    if not (shutil.which("soffice") or shutil.which("libreoffice")):
        assert os.environ.get("COUNTERSIGN_REQUIRE_OFFICE") != "1", "LibreOffice is required in CI"
        pytest.skip("soffice not found")
    who = signers(2)
    with open(REPO / "fixtures" / "office" / "lease.docx", "rb") as f:
        sr = apis.SignatureRequestApi(client).signature_request_send(
            models.SignatureRequestSendRequest(
                files=[f], signers=who, use_text_tags=True, hide_text_tags=True, test_mode=True,
                title="Lease (Word)",
            )
        ).signature_request
    sr_id = sr.signature_request_id
    raw, callback = wait_event(callback_receiver, account_ep, "signature_request_sent", sr_id)
    assert callback.signature_request.title == "Lease (Word)", raw
    pdf_bytes = apis.SignatureRequestApi(client).signature_request_files(sr_id, file_type="pdf").read()
    assert pdf_bytes.startswith(b"%PDF"), "the converted document is served as a PDF"
    fields = server.raw("GET", f"/signature_request/fields/{sr_id}", api_key=account.api_key).json()["fields"]
    placed = sorted((f["type"], f["signer"]) for f in fields)
    assert placed == [("date_signed", 0), ("initials", 0), ("signature", 0), ("signature", 1), ("text", 1)], fields
    assert [f["api_id"] for f in fields if f["type"] == "text"] == ["landlord_name"]


# --- 11. editing a sent request -------------------------------------------------------------------


def wait_sent_twice(receiver, ep, sr_id: str) -> None:
    """Until a second signature_request_sent (the edited version processed) reached `ep`."""
    deadline = time.monotonic() + CALLBACK_DEADLINE_S
    with receiver.cond:
        while events_for(receiver, ep, sr_id).count("signature_request_sent") < 2:
            left = deadline - time.monotonic()
            assert left > 0, events_for(receiver, ep, sr_id)
            receiver.cond.wait(timeout=left)


def test_edit_replaces_the_request_under_its_id(server, client, account, account_ep, callback_receiver):
    """signature_request_edit: the same id, new documents, signers (new signature ids), title; processed
    again, so a second signature_request_sent follows with the new content."""
    api = apis.SignatureRequestApi(client)
    sr, who = send_upload(client, title="First version")
    sr_id = sr.signature_request_id
    sent(callback_receiver, account_ep, sr_id)
    old_ids = {s.signature_id for s in api.signature_request_get(sr_id).signature_request.signatures}
    newcomer = models.SubSignatureRequestSigner(name="Nora New", email_address=unique_email("nora"), order=0)
    with open(pdf("simple-two-signers.pdf"), "rb") as f:
        edited = api.signature_request_edit(
            sr_id,
            models.SignatureRequestEditRequest(
                files=[f], signers=[newcomer, who[1]], use_text_tags=True, test_mode=True, title="Second version",
                metadata={"revision": "2"},
            ),
        ).signature_request
    assert edited.signature_request_id == sr_id
    assert edited.title == "Second version" and edited.metadata == {"revision": "2"}
    assert [s.signer_email_address for s in edited.signatures] == [newcomer.email_address, who[1].email_address]
    assert not old_ids & {s.signature_id for s in edited.signatures}, "every signer gets a new signature id"
    wait_sent_twice(callback_receiver, account_ep, sr_id)
    last = [json.loads(r.json_text()) for r in callback_receiver.received(account_ep.path)]
    last = [r for r in last if r["signature_request"]["signature_request_id"] == sr_id][-1]
    assert last["signature_request"]["title"] == "Second version", last
    got = api.signature_request_get(sr_id).signature_request
    assert got.title == "Second version" and got.signatures[0].signer_name == "Nora New"
    # The embedded endpoint is for embedded requests only; another account's request is not there.
    with open(pdf("simple-two-signers.pdf"), "rb") as f:
        expect_api_error(
            lambda: api.signature_request_edit_embedded(
                sr_id,
                models.SignatureRequestEditEmbeddedRequest(
                    client_id=create_app(client), files=[f], signers=signers(1), test_mode=True
                ),
            ),
            400,
            "bad_request",
        )


def test_edit_embedded_until_a_signer_signs(server, client, account, account_ep, callback_receiver):
    client_id = create_app(client)
    api = apis.SignatureRequestApi(client)
    sr, who = create_embedded_upload(client, client_id)
    sr_id = sr.signature_request_id
    sent(callback_receiver, account_ep, sr_id)
    with open(pdf("simple-two-signers.pdf"), "rb") as f:
        edited = api.signature_request_edit_embedded(
            sr_id,
            models.SignatureRequestEditEmbeddedRequest(
                client_id=client_id, files=[f], signers=who, use_text_tags=True, test_mode=True,
                subject="Edited subject",
            ),
        ).signature_request
    assert edited.signature_request_id == sr_id and edited.subject == "Edited subject"
    # Processed again; then the first signer signs, and the request can no longer be edited.
    wait_sent_twice(callback_receiver, account_ep, sr_id)
    sign_through_the_page(client, sr_id, edited.signatures[0].signature_id, client_id)
    wait_event(callback_receiver, account_ep, "signature_request_signed", sr_id)
    with open(pdf("simple-two-signers.pdf"), "rb") as f:
        expect_api_error(
            lambda: api.signature_request_edit_embedded(
                sr_id,
                models.SignatureRequestEditEmbeddedRequest(
                    client_id=client_id, files=[f], signers=who, use_text_tags=True, test_mode=True
                ),
            ),
            400,
            "bad_request",
        )
    # An unknown request is not found.
    expect_api_error(
        lambda: api.signature_request_edit(
            "0" * 40, models.SignatureRequestEditRequest(file_urls=["https://example.com/a.pdf"], signers=signers(1))
        ),
        404,
        "not_found",
    )
