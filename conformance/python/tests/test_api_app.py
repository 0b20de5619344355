"""API App endpoints through the official SDK: /v3/api_app (create, get, list, update, delete)."""
from __future__ import annotations

import uuid

import pytest
from dropbox_sign import apis, models

from conftest import CLIENT_ID_RE, PNG_1x1, expect_api_error, expect_raw_error

LOCAL_CALLBACK = "http://127.0.0.1:9/app-cb"


def _name() -> str:
    return f"Conformance App {uuid.uuid4().hex[:8]}"


def _create(client, **overrides) -> models.ApiAppResponse:
    kwargs = dict(name=_name(), domains=["example.com"])
    kwargs.update(overrides)
    info = apis.ApiAppApi(client).api_app_create_with_http_info(models.ApiAppCreateRequest(**kwargs))
    # The SDK only deserializes a 201 here; a 200 would leave the user with data=None.
    assert info.status_code == 201, f"api_app create answered {info.status_code}, the SDK expects 201"
    return info.data.api_app


@pytest.fixture
def logo_path(tmp_path):
    p = tmp_path / "logo.png"
    p.write_bytes(PNG_1x1)
    return p


def test_api_app_create_minimal(client, account):
    api = apis.ApiAppApi(client)
    name = _name()
    info = api.api_app_create_with_http_info(models.ApiAppCreateRequest(name=name, domains=["example.com"]))
    # The SDK maps only "201" to ApiAppGetResponse for this call: any other 2xx gives data=None.
    assert info.status_code == 201
    app = info.data.api_app
    assert CLIENT_ID_RE.match(app.client_id), app.client_id
    assert app.name == name
    assert app.domains == ["example.com"]
    assert isinstance(app.created_at, int)
    assert app.owner_account is not None
    assert app.owner_account.account_id == account.account_id
    assert app.owner_account.email_address == account.email_address


def test_api_app_create_all_json_fields(client):
    api = apis.ApiAppApi(client)
    req = models.ApiAppCreateRequest(
        name=_name(),
        domains=["example.com", "example.org"],
        callback_url=LOCAL_CALLBACK,
        oauth=models.SubOAuth(callback_url="https://example.com/oauth", scopes=["basic_account_info", "request_signature"]),
        options=models.SubOptions(can_insert_everywhere=True),
        white_labeling_options=models.SubWhiteLabelingOptions(primary_button_color="#00b3e6"),
    )
    app = api.api_app_create(req).api_app
    assert app.domains == ["example.com", "example.org"]
    assert app.callback_url == LOCAL_CALLBACK
    assert app.oauth is not None
    assert app.oauth.callback_url == "https://example.com/oauth"
    assert sorted(app.oauth.scopes) == ["basic_account_info", "request_signature"]
    assert app.options is not None and app.options.can_insert_everywhere is True
    assert app.white_labeling_options is not None
    assert app.white_labeling_options.primary_button_color.lower() == "#00b3e6"


def test_api_app_create_multipart_with_custom_logo(client, logo_path):
    # With custom_logo_file set the SDK switches to multipart/form-data: scalars as plain
    # text parts, `domains` / `oauth` / `options` / `white_labeling_options` as JSON strings,
    # booleans inside them as JSON true/false, the file as part "custom_logo_file".
    api = apis.ApiAppApi(client)
    name = _name()
    with open(logo_path, "rb") as f:
        info = api.api_app_create_with_http_info(
            models.ApiAppCreateRequest(
                name=name,
                domains=["example.com", "example.net"],
                callback_url=LOCAL_CALLBACK,
                custom_logo_file=f,
                oauth=models.SubOAuth(callback_url="https://example.com/oauth", scopes=["basic_account_info"]),
                options=models.SubOptions(can_insert_everywhere=True),
                white_labeling_options=models.SubWhiteLabelingOptions(link_color="#123456"),
            )
        )
    assert info.status_code == 201
    app = info.data.api_app
    assert CLIENT_ID_RE.match(app.client_id)
    assert app.name == name
    assert app.domains == ["example.com", "example.net"]
    assert app.callback_url == LOCAL_CALLBACK
    assert app.oauth is not None and app.oauth.callback_url == "https://example.com/oauth"
    assert app.options is not None and app.options.can_insert_everywhere is True
    assert app.white_labeling_options is not None
    assert app.white_labeling_options.link_color.lower() == "#123456"
    got = api.api_app_get(app.client_id).api_app
    assert got.name == name and got.domains == ["example.com", "example.net"]


def test_api_app_get(client):
    created = _create(client, callback_url=LOCAL_CALLBACK)
    info = apis.ApiAppApi(client).api_app_get_with_http_info(created.client_id)
    assert info.status_code == 200
    got = info.data.api_app
    assert got.client_id == created.client_id
    assert got.name == created.name
    assert got.domains == created.domains
    assert got.callback_url == LOCAL_CALLBACK
    assert got.created_at == created.created_at
    assert got.owner_account.account_id == created.owner_account.account_id


def test_api_app_get_unknown_is_404(client):
    expect_api_error(lambda: apis.ApiAppApi(client).api_app_get("0" * 32), 404, "not_found")


def test_api_app_list_empty(client):
    resp = apis.ApiAppApi(client).api_app_list()
    assert resp.api_apps == []
    assert resp.list_info.num_results == 0
    assert resp.list_info.page == 1


def test_api_app_list_pagination(client):
    api = apis.ApiAppApi(client)
    created = {_create(client).client_id for _ in range(3)}

    page1 = api.api_app_list(page=1, page_size=2)
    assert len(page1.api_apps) == 2
    li = page1.list_info
    assert (li.num_results, li.num_pages, li.page, li.page_size) == (3, 2, 1, 2)

    page2 = api.api_app_list(page=2, page_size=2)
    assert len(page2.api_apps) == 1
    li = page2.list_info
    assert (li.num_results, li.num_pages, li.page, li.page_size) == (3, 2, 2, 2)

    seen = [a.client_id for a in page1.api_apps + page2.api_apps]
    assert len(seen) == len(set(seen)), "an app appears on two pages"
    assert set(seen) == created

    everything = api.api_app_list()
    assert {a.client_id for a in everything.api_apps} == created
    assert everything.list_info.num_results == 3


def test_api_app_update(client):
    api = apis.ApiAppApi(client)
    created = _create(client, domains=["example.com"])
    new_name = _name()
    updated = api.api_app_update(
        created.client_id,
        models.ApiAppUpdateRequest(name=new_name, callback_url=LOCAL_CALLBACK, options=models.SubOptions(can_insert_everywhere=True)),
    ).api_app
    assert updated.client_id == created.client_id
    assert updated.name == new_name
    assert updated.callback_url == LOCAL_CALLBACK
    assert updated.options is not None and updated.options.can_insert_everywhere is True
    # fields not sent are left alone
    assert updated.domains == ["example.com"]
    got = api.api_app_get(created.client_id).api_app
    assert (got.name, got.callback_url, got.domains) == (new_name, LOCAL_CALLBACK, ["example.com"])


def test_api_app_update_domains(client):
    api = apis.ApiAppApi(client)
    created = _create(client)
    updated = api.api_app_update(created.client_id, models.ApiAppUpdateRequest(domains=["example.org", "example.net"])).api_app
    assert updated.domains == ["example.org", "example.net"]
    assert updated.name == created.name


def test_api_app_update_multipart_with_custom_logo(client, logo_path):
    api = apis.ApiAppApi(client)
    created = _create(client)
    new_name = _name()
    with open(logo_path, "rb") as f:
        updated = api.api_app_update(
            created.client_id,
            models.ApiAppUpdateRequest(name=new_name, custom_logo_file=f, options=models.SubOptions(can_insert_everywhere=True)),
        ).api_app
    assert updated.name == new_name
    assert updated.options is not None and updated.options.can_insert_everywhere is True
    assert updated.domains == created.domains


def test_api_app_delete_then_get_is_404(client):
    api = apis.ApiAppApi(client)
    created = _create(client)
    info = api.api_app_delete_with_http_info(created.client_id)
    assert info.status_code == 204
    assert info.data is None
    expect_api_error(lambda: api.api_app_get(created.client_id), 404, "not_found")
    assert created.client_id not in {a.client_id for a in api.api_app_list().api_apps}
    # deleting again: it is gone
    expect_api_error(lambda: api.api_app_delete(created.client_id), 404, "not_found")


def test_api_app_of_another_account_is_404(server, client, other_account):
    theirs = _create(server.client(other_account.api_key))
    api = apis.ApiAppApi(client)
    expect_api_error(lambda: api.api_app_get(theirs.client_id), 404, "not_found")
    expect_api_error(
        lambda: api.api_app_update(theirs.client_id, models.ApiAppUpdateRequest(name="hijacked")), 404, "not_found"
    )
    expect_api_error(lambda: api.api_app_delete(theirs.client_id), 404, "not_found")
    assert theirs.client_id not in {a.client_id for a in api.api_app_list().api_apps}
    # and it is untouched for its owner
    still = apis.ApiAppApi(server.client(other_account.api_key)).api_app_get(theirs.client_id).api_app
    assert still.name == theirs.name


# ---- missing required parameters -------------------------------------------------------
# The SDK validates ApiAppCreateRequest client-side (pydantic: `name` and `domains` are
# required, `domains` needs at least one entry), so these go out as raw HTTP requests.


def test_api_app_create_without_domains_is_400(server, account):
    r = server.raw("POST", "/api_app", account.api_key, json={"name": "No Domains"})
    expect_raw_error(r, 400, "bad_request", "domains")


def test_api_app_create_without_name_is_400(server, account):
    r = server.raw("POST", "/api_app", account.api_key, json={"domains": ["example.com"]})
    expect_raw_error(r, 400, "bad_request", "name")


def test_api_app_create_multipart_without_domains_is_400(server, account):
    r = server.raw(
        "POST",
        "/api_app",
        account.api_key,
        data={"name": "No Domains"},
        files={"custom_logo_file": ("logo.png", PNG_1x1, "image/png")},
    )
    expect_raw_error(r, 400, "bad_request", "domains")


def test_api_app_create_private_callback_refused_by_default(strict_server):
    acc = strict_server.create_account()
    api = apis.ApiAppApi(strict_server.client(acc.api_key))
    expect_api_error(
        lambda: api.api_app_create(
            models.ApiAppCreateRequest(name=_name(), domains=["example.com"], callback_url="http://127.0.0.1:9/cb")
        ),
        400,
        "bad_request",
        "callback_url",
    )
