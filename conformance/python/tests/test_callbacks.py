"""Callbacks, delivered to a real receiver in the test process (the `callback_receiver` fixture).

Callback URLs are set with the official SDK (`account_update`, `api_app_create`, `api_app_update`).
The extension endpoints are called raw (the SDK has no method for them):
`POST /v3/account/callback_test`, `POST /v3/api_app/{client_id}/callback_test`, `GET /v3/events`,
`GET /v3/callback_endpoints`.

Every callback the receiver gets is checked with the official SDK's `EventCallbackRequest.init`,
`EventCallbackHelper.is_valid` and `EventCallbackHelper.get_callback_type` — at the end of each
test for everything received so far, and once more when the module finishes.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid

import pytest
from dropbox_sign import EventCallbackHelper, apis, models
from dropbox_sign.models import EventCallbackRequest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from conftest import CALLBACK_DEADLINE_S, CLIENT_ID_RE, expect_raw_error

ACCOUNT_CALLBACK = EventCallbackHelper.EVENT_TYPE_ACCOUNT_CALLBACK
APP_CALLBACK = EventCallbackHelper.EVENT_TYPE_APP_CALLBACK
USER_AGENT = "Countersign (HelloSign API compatible)"


@pytest.fixture(scope="module", autouse=True)
def every_callback_is_accepted_by_the_sdk(callback_receiver):
    """After the module: the SDK accepts every callback the receiver got (late retries included)."""
    yield
    callback_receiver.assert_sdk_accepts_all()


# --- helpers -----------------------------------------------------------------------------------


def set_account_callback(client, url: str) -> None:
    resp = apis.AccountApi(client).account_update(models.AccountUpdateRequest(callback_url=url))
    assert resp.account.callback_url == url


def create_app(client, callback_url: str | None = None) -> str:
    kwargs = dict(name=f"Callback App {uuid.uuid4().hex[:8]}", domains=["example.com"])
    if callback_url is not None:
        kwargs["callback_url"] = callback_url
    info = apis.ApiAppApi(client).api_app_create_with_http_info(models.ApiAppCreateRequest(**kwargs))
    assert info.status_code == 201
    app = info.data.api_app
    assert CLIENT_ID_RE.match(app.client_id), app.client_id
    assert app.callback_url == callback_url
    return app.client_id


def callback_test(server, api_key: str, client_id: str | None = None) -> dict:
    """POST .../callback_test (raw: an extension); assert the 200 shape; return the `event` object."""
    path = f"/api_app/{client_id}/callback_test" if client_id else "/account/callback_test"
    r = server.raw("POST", path, api_key)
    assert r.status_code == 200, f"POST /v3{path} answered {r.status_code}: {r.text}"
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers.get("Content-Type")
    event = r.json().get("event")
    assert isinstance(event, dict), r.text
    assert event.get("event_type") == "callback_test", r.text
    assert isinstance(event.get("event_id"), str) and event["event_id"], r.text
    assert isinstance(event.get("deliveries"), list), r.text
    return event


def callback_endpoints(server, api_key: str) -> list[dict]:
    r = server.raw("GET", "/callback_endpoints", api_key)
    assert r.status_code == 200, f"GET /v3/callback_endpoints answered {r.status_code}: {r.text}"
    endpoints = r.json().get("callback_endpoints")
    assert isinstance(endpoints, list), r.text
    return endpoints


def webhook_secret(server, api_key: str, url: str) -> str:
    endpoints = callback_endpoints(server, api_key)
    found = [e for e in endpoints if e.get("url") == url]
    assert len(found) == 1, f"GET /v3/callback_endpoints has {len(found)} entries for {url}: {endpoints!r}"
    secret = found[0].get("webhook_secret")
    assert isinstance(secret, str) and secret.startswith("whsec_"), found[0]
    return secret


def wait_delivered(server, api_key: str, event_id: str, timeout: float = CALLBACK_DEADLINE_S) -> dict:
    """Poll GET /v3/events until `event_id` is listed with every delivery "delivered"; return the event."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        r = server.raw("GET", "/events", api_key)
        assert r.status_code == 200, f"GET /v3/events answered {r.status_code}: {r.text}"
        events = r.json().get("events")
        assert isinstance(events, list), r.text
        found = [e for e in events if e.get("event_id") == event_id]
        assert len(found) <= 1, f"event {event_id} listed {len(found)} times: {events!r}"
        if found:
            last = found[0]
            states = [d.get("state") for d in last.get("deliveries", [])]
            if states and all(s == "delivered" for s in states):
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"event {event_id} not delivered within {timeout}s; last seen: {last!r}")
        time.sleep(0.1)  # poll interval inside the deadline loop


def one_callback(receiver, ep):
    """Wait for the callback to `ep` and return it."""
    return receiver.wait_for(ep.path, 1)[0]


def parse_callback(req) -> tuple[str, dict, EventCallbackRequest]:
    """The json text, the raw decoded JSON and the SDK model of a received callback."""
    text = req.json_text()
    raw = json.loads(text)
    callback = EventCallbackRequest.init(text)
    assert isinstance(callback, EventCallbackRequest), text
    return text, raw, callback


def assert_common_request_shape(req, ep) -> None:
    assert req.method == "POST"
    assert req.path == ep.path
    assert (req.header("Content-Type") or "").startswith("multipart/form-data; boundary="), req.headers
    assert req.header("User-Agent") == USER_AGENT, req.headers


def hex_hmac_b64(key: str, text: str, digest) -> str:
    mac = hmac.new(key.encode("utf-8"), text.encode("utf-8"), digest).hexdigest()
    return base64.b64encode(mac.encode("ascii")).decode("ascii")


# --- tests -------------------------------------------------------------------------------------


def test_account_callback_test_is_a_valid_account_callback(server, client, account, other_account, callback_receiver):
    ep = callback_receiver.endpoint(account.api_key, label="account")
    set_account_callback(client, ep.url)

    event = callback_test(server, account.api_key)
    assert [d.get("url") for d in event["deliveries"]] == [ep.url], event

    req = one_callback(callback_receiver, ep)
    assert_common_request_shape(req, ep)
    text, raw, callback = parse_callback(req)

    assert callback.event.event_type == "callback_test"
    assert isinstance(raw["event"]["event_time"], str), text  # a string on the wire, as Dropbox Sign sends it
    assert raw["event"]["event_time"].isdigit(), text
    assert abs(int(callback.event.event_time) - time.time()) < 300, text
    expected_hash = hmac.new(
        account.api_key.encode(), (callback.event.event_time + "callback_test").encode(), hashlib.sha256
    ).hexdigest()
    assert callback.event.event_hash == expected_hash, text
    assert raw["event"]["event_metadata"]["reported_for_app_id"] is None, text

    assert EventCallbackHelper.is_valid(account.api_key, callback) is True
    assert EventCallbackHelper.is_valid(other_account.api_key, callback) is False
    assert EventCallbackHelper.is_valid(account.api_key + "x", callback) is False
    assert EventCallbackHelper.get_callback_type(callback) == ACCOUNT_CALLBACK

    callback_receiver.assert_sdk_accepts_all()


def test_app_callback_test_goes_to_the_app_url_only(server, client, account, callback_receiver):
    account_ep = callback_receiver.endpoint(account.api_key, label="account")
    set_account_callback(client, account_ep.url)
    app_ep = callback_receiver.endpoint(account.api_key, label="app")
    client_id = create_app(client, callback_url=app_ep.url)
    app_ep.client_id = client_id

    event = callback_test(server, account.api_key, client_id)
    assert [d.get("url") for d in event["deliveries"]] == [app_ep.url], event

    req = one_callback(callback_receiver, app_ep)
    assert_common_request_shape(req, app_ep)
    text, raw, callback = parse_callback(req)
    assert callback.event.event_type == "callback_test"
    assert EventCallbackHelper.get_callback_type(callback) == APP_CALLBACK
    assert callback.event.event_metadata.reported_for_app_id == client_id, text
    # event_hash is keyed with the account's API key for app callbacks too.
    assert EventCallbackHelper.is_valid(account.api_key, callback) is True

    # Once the event is fully delivered, the account URL has received nothing.
    delivered = wait_delivered(server, account.api_key, event["event_id"])
    assert [d.get("url") for d in delivered["deliveries"]] == [app_ep.url], delivered
    assert callback_receiver.received(account_ep.path) == []

    # The account URL does work: an account callback_test reaches it (and only it), as an account callback.
    account_event = callback_test(server, account.api_key)
    assert [d.get("url") for d in account_event["deliveries"]] == [account_ep.url], account_event
    wait_delivered(server, account.api_key, account_event["event_id"])
    got = callback_receiver.received(account_ep.path)
    assert len(got) == 1, [r.body for r in got]
    _, _, account_callback = parse_callback(got[0])
    assert EventCallbackHelper.get_callback_type(account_callback) == ACCOUNT_CALLBACK
    assert len(callback_receiver.received(app_ep.path)) == 1

    callback_receiver.assert_sdk_accepts_all()


def test_app_callback_url_set_by_update(server, client, account, callback_receiver):
    client_id = create_app(client)
    expect_raw_error(
        server.raw("POST", f"/api_app/{client_id}/callback_test", account.api_key), 400, error_path="callback_url"
    )

    ep = callback_receiver.endpoint(account.api_key, client_id=client_id, label="app-updated")
    updated = apis.ApiAppApi(client).api_app_update(client_id, models.ApiAppUpdateRequest(callback_url=ep.url))
    assert updated.api_app.callback_url == ep.url

    callback_test(server, account.api_key, client_id)
    _, _, callback = parse_callback(one_callback(callback_receiver, ep))
    assert EventCallbackHelper.get_callback_type(callback) == APP_CALLBACK
    assert callback.event.event_metadata.reported_for_app_id == client_id

    callback_receiver.assert_sdk_accepts_all()


def test_standard_webhooks_signature_verifies(server, client, account, callback_receiver):
    ep = callback_receiver.endpoint(account.api_key, label="stdwh")
    set_account_callback(client, ep.url)
    # The endpoint (and its secret) exists as soon as the URL is saved, before any event.
    endpoints = callback_endpoints(server, account.api_key)
    entry = [e for e in endpoints if e.get("url") == ep.url]
    assert len(entry) == 1, endpoints
    assert entry[0].get("state") == "enabled", entry
    secret = webhook_secret(server, account.api_key, ep.url)

    callback_test(server, account.api_key)
    req = one_callback(callback_receiver, ep)
    headers = req.header_dict()
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        assert req.header(name), f"missing {name}: {req.headers!r}"
    assert req.header("webhook-timestamp").isdigit()
    assert abs(int(req.header("webhook-timestamp")) - time.time()) < 300

    # Verified over the raw HTTP body (the multipart bytes), not over the json field.
    # json_parse=False: the body is multipart/form-data, not JSON.
    assert Webhook(secret).verify(req.body, headers, json_parse=False) is None
    assert secret == webhook_secret(server, account.api_key, ep.url), "the secret changed after a delivery"

    tampered = req.body.replace(b"callback_test", b"callback_tesT", 1)
    assert tampered != req.body
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(req.body, {**headers, "webhook-id": req.header("webhook-id") + "x"}, json_parse=False)
    other_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other_secret).verify(req.body, headers, json_parse=False)

    callback_receiver.assert_sdk_accepts_all()


def test_content_md5_and_sha256_headers(server, client, account, callback_receiver):
    ep = callback_receiver.endpoint(account.api_key, label="digest")
    set_account_callback(client, ep.url)
    callback_test(server, account.api_key)
    req = one_callback(callback_receiver, ep)
    text = req.json_text()

    assert req.header("Content-MD5") == hex_hmac_b64(account.api_key, text, hashlib.md5), req.headers
    assert req.header("Content-Sha256") == hex_hmac_b64(account.api_key, text, hashlib.sha256), req.headers

    callback_receiver.assert_sdk_accepts_all()


def test_events_feed_shows_the_delivery_delivered(server, client, account, callback_receiver):
    ep = callback_receiver.endpoint(account.api_key, label="feed")
    set_account_callback(client, ep.url)
    event = callback_test(server, account.api_key)

    listed = wait_delivered(server, account.api_key, event["event_id"])
    assert listed["event_type"] == "callback_test", listed
    assert len(listed["deliveries"]) == 1, listed
    delivery = listed["deliveries"][0]
    assert delivery["url"] == ep.url, listed
    assert delivery["state"] == "delivered", listed
    # Delivered means the receiver acknowledged it: exactly one request, no retry.
    got = callback_receiver.received(ep.path)
    assert len(got) == 1, [r.body for r in got]

    callback_receiver.assert_sdk_accepts_all()


def test_account_callback_test_without_callback_url_is_400(server, account):
    r = server.raw("POST", "/account/callback_test", account.api_key)
    expect_raw_error(r, 400, error_path="callback_url")


def test_account_callback_test_after_removing_the_url_is_400(server, client, account, callback_receiver):
    ep = callback_receiver.endpoint(account.api_key, label="removed")
    set_account_callback(client, ep.url)
    wait_delivered(server, account.api_key, callback_test(server, account.api_key)["event_id"])
    # An empty callback_url removes it.
    resp = apis.AccountApi(client).account_update(models.AccountUpdateRequest(callback_url=""))
    assert resp.account.callback_url is None
    expect_raw_error(server.raw("POST", "/account/callback_test", account.api_key), 400, error_path="callback_url")
    assert len(callback_receiver.received(ep.path)) == 1

    callback_receiver.assert_sdk_accepts_all()


def test_app_callback_test_without_callback_url_is_400(server, client, account, callback_receiver):
    # The account has a callback URL; the app has none: still 400, nothing is sent.
    ep = callback_receiver.endpoint(account.api_key, label="account-only")
    set_account_callback(client, ep.url)
    client_id = create_app(client)
    r = server.raw("POST", f"/api_app/{client_id}/callback_test", account.api_key)
    expect_raw_error(r, 400, error_path="callback_url")
    r = server.raw("GET", "/events", account.api_key)
    assert r.status_code == 200, r.text
    assert r.json()["events"] == [], r.text
