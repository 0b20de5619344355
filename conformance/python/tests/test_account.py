"""Account endpoints through the official SDK: GET/PUT /v3/account, /account/verify, /account/create."""
from __future__ import annotations

from dropbox_sign import apis, models

from conftest import ACCOUNT_ID_RE, expect_api_error, expect_raw_error, unique_email

# Loopback callback URL: allowed because the session server runs with
# COUNTERSIGN_ALLOW_PRIVATE_CALLBACKS=1. Port 9 (discard) — nothing listens there.
LOCAL_CALLBACK = "http://127.0.0.1:9/cb"


def test_account_get_returns_own_account(client, account):
    resp = apis.AccountApi(client).account_get()
    acc = resp.account
    assert ACCOUNT_ID_RE.match(acc.account_id), acc.account_id
    assert acc.account_id == account.account_id
    assert acc.email_address == account.email_address
    assert acc.callback_url is None


def test_account_get_by_own_account_id_and_email(client, account):
    api = apis.AccountApi(client)
    assert api.account_get(account_id=account.account_id).account.account_id == account.account_id
    assert api.account_get(email_address=account.email_address).account.account_id == account.account_id


def test_account_get_status_is_200(client):
    info = apis.AccountApi(client).account_get_with_http_info()
    assert info.status_code == 200


def test_account_update_callback_url(client, account):
    api = apis.AccountApi(client)
    resp = api.account_update(models.AccountUpdateRequest(callback_url=LOCAL_CALLBACK))
    assert resp.account.callback_url == LOCAL_CALLBACK
    assert resp.account.account_id == account.account_id
    # persisted
    assert api.account_get().account.callback_url == LOCAL_CALLBACK


def test_account_update_locale(client):
    api = apis.AccountApi(client)
    resp = api.account_update(models.AccountUpdateRequest(locale="fr-FR"))
    assert resp.account.locale == "fr-FR"
    assert api.account_get().account.locale == "fr-FR"


def test_account_update_callback_url_and_locale_together(client):
    api = apis.AccountApi(client)
    resp = api.account_update(models.AccountUpdateRequest(callback_url=LOCAL_CALLBACK, locale="de-DE"))
    assert resp.account.callback_url == LOCAL_CALLBACK
    assert resp.account.locale == "de-DE"


def test_account_update_via_post_form(server, account):
    # Raw call: the SDK always sends PUT with JSON; the old v3 reference documents
    # POST /v3/account with a form field, which the compat spec says to accept too.
    r = server.raw("POST", "/account", account.api_key, data={"callback_url": LOCAL_CALLBACK})
    assert r.status_code == 200, r.text
    assert r.json()["account"]["callback_url"] == LOCAL_CALLBACK
    client = server.client(account.api_key)
    assert apis.AccountApi(client).account_get().account.callback_url == LOCAL_CALLBACK


def test_account_update_refuses_private_callback_by_default(strict_server):
    # Separate server without COUNTERSIGN_ALLOW_PRIVATE_CALLBACKS: http:// and loopback are refused.
    acc = strict_server.create_account()
    api = apis.AccountApi(strict_server.client(acc.api_key))
    for url in (LOCAL_CALLBACK, "https://127.0.0.1/cb"):
        expect_api_error(
            lambda: api.account_update(models.AccountUpdateRequest(callback_url=url)),
            400,
            "bad_request",
            "callback_url",
        )
    assert api.account_get().account.callback_url is None


def test_account_verify_existing(server, client):
    other = server.create_account()
    resp = apis.AccountApi(client).account_verify(models.AccountVerifyRequest(email_address=other.email_address))
    assert resp.account is not None
    assert resp.account.email_address == other.email_address


def test_account_verify_nonexistent(client):
    info = apis.AccountApi(client).account_verify_with_http_info(
        models.AccountVerifyRequest(email_address=unique_email("nobody"))
    )
    assert info.status_code == 200
    assert info.data.account is None
    assert info.data.to_dict() == {}


def test_account_create_new_account(client):
    email = unique_email("created")
    api = apis.AccountApi(client)
    resp = api.account_create(models.AccountCreateRequest(email_address=email))
    assert resp.account.email_address == email
    assert ACCOUNT_ID_RE.match(resp.account.account_id), resp.account.account_id
    # now it exists
    verified = api.account_verify(models.AccountVerifyRequest(email_address=email))
    assert verified.account is not None and verified.account.email_address == email


def test_account_create_duplicate_email_is_400(client, other_account):
    api = apis.AccountApi(client)
    expect_api_error(
        lambda: api.account_create(models.AccountCreateRequest(email_address=other_account.email_address)),
        400,
        "bad_request",
    )


def test_account_create_missing_email_is_400(server, account):
    # Raw call: the SDK's AccountCreateRequest refuses to be built without email_address.
    r = server.raw("POST", "/account/create", account.api_key, json={})
    expect_raw_error(r, 400, "bad_request", "email_address")
