"""Authentication and the error format as an SDK user sees them."""
from __future__ import annotations

from dropbox_sign import ApiException, apis, models
from dropbox_sign.exceptions import UnauthorizedException

from conftest import expect_api_error, expect_raw_error


def test_wrong_api_key_is_401_unauthorized(server, account):
    client = server.client("not-a-real-key-" + account.api_key[::-1])
    e = expect_api_error(lambda: apis.AccountApi(client).account_get(), 401, "unauthorized")
    assert isinstance(e, UnauthorizedException)


def test_wrong_api_key_on_api_app_calls(server):
    client = server.client("0123456789abcdef0123456789abcdef")
    api = apis.ApiAppApi(client)
    expect_api_error(lambda: api.api_app_list(), 401, "unauthorized")
    expect_api_error(
        lambda: api.api_app_create(models.ApiAppCreateRequest(name="x", domains=["example.com"])), 401, "unauthorized"
    )


def test_empty_api_key_is_401(server):
    client = server.client("")
    expect_api_error(lambda: apis.AccountApi(client).account_get(), 401, "unauthorized")


def test_missing_credentials_is_401(server):
    # Raw call: the SDK always sends an Authorization header.
    r = server.raw("GET", "/account")
    expect_raw_error(r, 401, "unauthorized")


def test_error_body_is_json_error_object(server, account):
    # Whatever the error, the SDK gets a parseable {"error": {...}} (ApiException.data is an ErrorResponse).
    api = apis.ApiAppApi(server.client(account.api_key))
    try:
        api.api_app_get("f" * 32)
    except ApiException as e:
        assert e.status == 404
        assert e.data is not None, f"error body not parsed by the SDK: {e.body!r}"
        assert e.data.error.error_name == "not_found"
    else:
        raise AssertionError("expected 404")
