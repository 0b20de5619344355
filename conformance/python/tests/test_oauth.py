"""OAuth through the official SDK, as a platform acting for its users would use it.

The app's back end exchanges the code with `OAuthApi.oauth_token_generate` and refreshes with
`oauth_token_refresh` (the SDK sends those to `app.hellosign.com`; a user of Countersign points them at
the server with `Configuration(host=…/v3, ignore_operation_servers=True)`), then calls the API with
`Configuration(access_token=…)`, unchanged. The user's side, the authorization page, is driven here by
a plain HTTP client posting its form (the Node suite drives it in Chromium). Callbacks of requests sent
with a token reach the app's callback URL and must verify with the *app owner's* API key.
"""
from __future__ import annotations

import json
import re
import subprocess
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from dropbox_sign import ApiClient, Configuration, apis, models

from conftest import REPO, expect_api_error, unique_email

PDF = REPO / "fixtures" / "pdf" / "simple-two-signers.pdf"


@pytest.fixture(scope="module", autouse=True)
def every_callback_is_accepted_by_the_sdk(callback_receiver):
    yield
    callback_receiver.assert_sdk_accepts_all()


def oauth_client(server) -> ApiClient:
    """The SDK's OAuth calls pointed at this server."""
    return ApiClient(Configuration(host=server.api_url, ignore_operation_servers=True))


def token_client(server, access_token: str) -> ApiClient:
    return ApiClient(Configuration(host=server.api_url, access_token=access_token))


def make_oauth_app(client, callback_receiver, account, scopes):
    """An app with OAuth settings whose event callback URL is a receiver endpoint of the owner."""
    api = apis.ApiAppApi(client)
    created = api.api_app_create(
        models.ApiAppCreateRequest(
            name="Conformance CRM",
            domains=["example.com"],
            oauth=models.SubOAuth(callback_url="https://crm.example.com/oauth/done", scopes=scopes),
        )
    ).api_app
    ep = callback_receiver.endpoint(account.api_key, client_id=created.client_id, label="app")
    api.api_app_update(created.client_id, models.ApiAppUpdateRequest(callback_url=ep.url))
    return created.client_id, created.oauth.secret, ep


def authorize(server, client_id: str, state: str, api_key: str) -> str:
    """The user opens the authorization page, signs in with their API key and allows: the code."""
    browser = requests.Session()
    page = browser.get(
        f"{server.base_url}/oauth/authorize",
        params={"response_type": "code", "client_id": client_id, "state": state},
        timeout=30,
    )
    assert page.status_code == 200, page.text
    assert "Conformance CRM" in page.text
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)
    answer = browser.post(
        f"{server.base_url}/oauth/authorize",
        data={"response_type": "code", "client_id": client_id, "state": state, "csrf_token": csrf,
              "api_key": api_key, "decision": "allow"},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 303, answer.text
    location = urlparse(answer.headers["Location"])
    assert location.netloc == "crm.example.com"
    query = parse_qs(location.query)
    assert query["state"] == [state]
    return query["code"][0]


def test_oauth_code_flow_through_the_sdk(server, client, account, other_account, callback_receiver):
    client_id, secret, app_ep = make_oauth_app(
        client, callback_receiver, account, ["basic_account_info", "request_signature"]
    )
    code = authorize(server, client_id, "xyz-1", other_account.api_key)

    oauth = apis.OAuthApi(oauth_client(server))
    tokens = oauth.oauth_token_generate(
        models.OAuthTokenGenerateRequest(
            client_id=client_id, client_secret=secret, code=code, state="xyz-1", grant_type="authorization_code"
        )
    )
    assert tokens.token_type == "Bearer"
    assert tokens.expires_in == 3600
    assert tokens.state == "xyz-1"

    # A reused code is refused in Dropbox Sign's error shape.
    expect_api_error(
        lambda: oauth.oauth_token_generate(
            models.OAuthTokenGenerateRequest(
                client_id=client_id, client_secret=secret, code=code, state="xyz-1", grant_type="authorization_code"
            )
        ),
        400,
        "invalid_grant",
    )
    # ... and the tokens it gave are revoked: authorize again.
    code = authorize(server, client_id, "xyz-2", other_account.api_key)
    tokens = oauth.oauth_token_generate(
        models.OAuthTokenGenerateRequest(
            client_id=client_id, client_secret=secret, code=code, state="xyz-2", grant_type="authorization_code"
        )
    )

    # The SDK configured with access_token acts for the user, within the granted scopes.
    as_user = token_client(server, tokens.access_token)
    me = apis.AccountApi(as_user).account_get()
    assert me.account.email_address == other_account.email_address
    expect_api_error(lambda: apis.TemplateApi(as_user).template_list(), 403, "forbidden")

    sent = apis.SignatureRequestApi(as_user).signature_request_send(
        models.SignatureRequestSendRequest(
            title="Sent by the CRM",
            signers=[models.SubSignatureRequestSigner(name="Sam", email_address=unique_email("sam"))],
            files=[open(PDF, "rb")],
            test_mode=True,
        )
    ).signature_request
    assert sent.signature_request_id
    got = callback_receiver.wait_for(app_ep.path, 1)
    assert any(json.loads(r.json_text())["event"]["event_type"] == "signature_request_sent" for r in got)

    # Refresh gives a new pair; the spent refresh token is refused afterwards.
    refreshed = oauth.oauth_token_refresh(
        models.OAuthTokenRefreshRequest(grant_type="refresh_token", refresh_token=tokens.refresh_token)
    )
    assert refreshed.access_token != tokens.access_token
    assert apis.AccountApi(token_client(server, refreshed.access_token)).account_get().account.account_id == (
        other_account.account_id
    )
    expect_api_error(lambda: apis.AccountApi(as_user).account_get(), 401, "unauthorized")
    expect_api_error(
        lambda: oauth.oauth_token_refresh(
            models.OAuthTokenRefreshRequest(grant_type="refresh_token", refresh_token=tokens.refresh_token)
        ),
        400,
        "invalid_grant",
    )


def test_account_create_with_client_credentials(server, client, account, callback_receiver):
    client_id, secret, app_ep = make_oauth_app(client, callback_receiver, account, ["basic_account_info"])
    email = unique_email("newbie")
    created = apis.AccountApi(client).account_create(
        models.AccountCreateRequest(email_address=email, client_id=client_id, client_secret=secret)
    )
    assert created.account.email_address == email
    assert created.oauth_data is not None and created.oauth_data.token_type == "Bearer"
    # Until the owner confirms, the app cannot act for the account.
    as_new = token_client(server, created.oauth_data.access_token)
    expect_api_error(lambda: apis.AccountApi(as_new).account_get(), 403, "forbidden")
    expect_api_error(
        lambda: apis.AccountApi(client).account_create(
            models.AccountCreateRequest(email_address=unique_email(), client_id=client_id, client_secret="nope")
        ),
        401,
        "unauthorized",
    )

    # The owner confirms from the e-mail (read from the server's outbox); the app hears account_confirmed.
    link = confirm_link(server, email)
    query = urlparse(link).query
    confirmed = requests.post(f"{server.base_url}/account/confirm", data=parse_qs(query), timeout=30)
    assert confirmed.status_code == 200
    events = callback_receiver.wait_for(app_ep.path, 1)
    payloads = [json.loads(r.json_text()) for r in events]
    event = next(p for p in payloads if p["event"]["event_type"] == "account_confirmed")
    assert event["account"]["email_address"] == email
    assert apis.AccountApi(as_new).account_get().account.email_address == email


def confirm_link(server, email: str) -> str:
    """The confirmation link of the e-mail sent to `email`, read with the operator's CLI."""
    proc = subprocess.run(
        [str(server.bin), "outbox", "--account", email, "--data-dir", str(server.data_dir)],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    for line in proc.stdout.splitlines():
        body = json.loads(line).get("body", "")
        match = re.search(r"(http\S+/account/confirm\?\S+)", body)
        if match:
            return match.group(1)
    raise AssertionError(f"no confirmation e-mail for {email}: {proc.stdout}")
