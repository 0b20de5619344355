"""Unclaimed drafts through the official SDK: `UnclaimedDraftApi.unclaimed_draft_create_embedded` and
`unclaimed_draft_create` answer with a claim_url (and no warnings for the SDK's default values); the
requester page behind it — driven here as its script drives it, with the page's session — sends the
request, whose `signature_request_sent` callback the SDK's `EventCallbackHelper` accepts."""
from __future__ import annotations

import json
import re
import time

import pytest
import requests
from dropbox_sign import apis, models

from conftest import CALLBACK_DEADLINE_S, expect_api_error, unique_email
from test_signature_requests import create_app, pdf, wait_event


@pytest.fixture(scope="module", autouse=True)
def every_callback_is_accepted_by_the_sdk(callback_receiver):
    yield
    callback_receiver.assert_sdk_accepts_all()


@pytest.fixture
def account_ep(client, account, callback_receiver):
    ep = callback_receiver.endpoint(account.api_key, label="drafts")
    apis.AccountApi(client).account_update(models.AccountUpdateRequest(callback_url=ep.url))
    return ep


def signers():
    return [
        models.SubUnclaimedDraftSigner(name="Nia Nurse", email_address=unique_email("nia"), order=0),
        models.SubUnclaimedDraftSigner(name="Dev Doctor", email_address=unique_email("dev"), order=1),
    ]


def open_page(claim_url: str, suffix: str = "") -> str:
    deadline = time.monotonic() + CALLBACK_DEADLINE_S
    while (page := requests.get(claim_url + suffix, timeout=30)).status_code == 409:
        assert time.monotonic() < deadline, "the draft's documents were never read"
        time.sleep(0.05)
    assert page.status_code == 200, page.text[:500]
    return page.text


def send_from_page(client, html: str, people: list[dict] | None = None) -> requests.Response:
    """The requester page's send: its fields as placed, or — when the requester names the signers
    (`people`, the page's Signers section) — a signature for each of them."""
    config = json.loads(re.search(r'id="countersign-config">(.*?)</script>', html, re.S).group(1))
    base = client.configuration.host.rsplit("/v3", 1)[0]
    body = {"session": config["session"], "expires": config["expires"], "fields": config["fields"]}
    if people is not None:
        assert config["edit_signers"] is True, config
        body["signers"] = people
        body["fields"] = [
            {"type": "signature", "role": i, "document_index": 0, "page": 1, "x": 72, "y": 500 + 60 * i, "width": 160, "height": 36}
            for i in range(len(people))
        ]
    return requests.post(base + config["action"], json=body, timeout=30)


def test_create_embedded_then_the_requester_page_sends(server, client, account, account_ep, callback_receiver):
    client_id = create_app(client)
    with open(pdf("simple-two-signers.pdf"), "rb") as f:
        draft = apis.UnclaimedDraftApi(client).unclaimed_draft_create_embedded(
            models.UnclaimedDraftCreateEmbeddedRequest(
                client_id=client_id,
                requester_email_address=account.email_address,
                files=[f],
                signers=signers(),
                subject="Shift agreement",
                use_text_tags=True,
                test_mode=True,
                metadata={"ward": "7"},
            )
        )
    assert not draft.warnings, draft.warnings
    assert draft.unclaimed_draft.signature_request_id is None
    assert "/editor/embeddedRequest?" in draft.unclaimed_draft.claim_url
    assert draft.unclaimed_draft.test_mode is True
    html = open_page(draft.unclaimed_draft.claim_url, "&parent_url=https%3A%2F%2Fexample.com%2F&client_id=" + client_id)
    assert "Send request" in html
    answer = send_from_page(client, html)
    assert answer.status_code == 200, answer.text
    sr_id = answer.json()["signature_request_id"]
    wait_event(callback_receiver, account_ep, "signature_request_sent", sr_id)
    sr = apis.SignatureRequestApi(client).signature_request_get(sr_id).signature_request
    assert sr.title == "Shift agreement" and sr.metadata == {"ward": "7"}
    assert [s.order for s in sr.signatures] == [0, 1]


def test_create_for_email_signing_and_what_is_refused(server, client, account, account_ep, callback_receiver):
    drafts = apis.UnclaimedDraftApi(client)
    with open(pdf("simple-two-signers.pdf"), "rb") as f:
        draft = drafts.unclaimed_draft_create(
            models.UnclaimedDraftCreateRequest(type="request_signature", files=[f], signers=signers(), use_text_tags=True, test_mode=True)
        )
    assert not draft.warnings, draft.warnings
    answer = send_from_page(client, open_page(draft.unclaimed_draft.claim_url))
    assert answer.status_code == 200, answer.text
    wait_event(callback_receiver, account_ep, "signature_request_sent", answer.json()["signature_request_id"])

    # hold_request: the claimed request is prepared, then sent by release_hold.
    client_id = create_app(client)
    with open(pdf("simple-two-signers.pdf"), "rb") as f:
        held = drafts.unclaimed_draft_create_embedded(
            models.UnclaimedDraftCreateEmbeddedRequest(
                client_id=client_id,
                requester_email_address=account.email_address,
                files=[f],
                signers=signers(),
                use_text_tags=True,
                hold_request=True,
                test_mode=True,
            )
        )
    html = open_page(held.unclaimed_draft.claim_url, "&parent_url=https%3A%2F%2Fexample.com%2F&client_id=" + client_id)
    held_id = send_from_page(client, html).json()["signature_request_id"]
    wait_event(callback_receiver, account_ep, "signature_request_prepared", held_id)
    released = apis.SignatureRequestApi(client).signature_request_release_hold(held_id)
    assert released.signature_request.signature_request_id == held_id
    wait_event(callback_receiver, account_ep, "signature_request_sent", held_id)
    expect_api_error(lambda: apis.SignatureRequestApi(client).signature_request_release_hold(held_id), 400, "bad_request")
    with open(pdf("simple-two-signers.pdf"), "rb") as f:
        expect_api_error(
            lambda: drafts.unclaimed_draft_create(models.UnclaimedDraftCreateRequest(type="request_signature", files=[f])),
            400,
            "bad_request",
            "signers",
        )


def test_create_embedded_with_template_keeps_the_templates_fields(server, client, account, account_ep, callback_receiver):
    from test_templates import create_template, role_signers, wait_template_event

    template_id = create_template(client)
    wait_template_event(callback_receiver, account_ep, template_id)
    client_id = create_app(client)
    draft = apis.UnclaimedDraftApi(client).unclaimed_draft_create_embedded_with_template(
        models.UnclaimedDraftCreateEmbeddedWithTemplateRequest(
            client_id=client_id,
            requester_email_address=account.email_address,
            template_ids=[template_id],
            signers=[
                models.SubUnclaimedDraftTemplateSigner(role=s.role, name=s.name, email_address=s.email_address)
                for s in role_signers()
            ],
            ccs=[models.SubCC(role="Accountant", email_address=unique_email("acc"))],
            custom_fields=[models.SubCustomField(name="Rate", value="95 EUR/h")],
            test_mode=True,
        )
    )
    assert not draft.warnings, draft.warnings
    html = open_page(draft.unclaimed_draft.claim_url, "&parent_url=https%3A%2F%2Fexample.com%2F&client_id=" + client_id)
    answer = send_from_page(client, html)
    assert answer.status_code == 200, answer.text
    sr_id = answer.json()["signature_request_id"]
    wait_event(callback_receiver, account_ep, "signature_request_sent", sr_id)
    sr = apis.SignatureRequestApi(client).signature_request_get(sr_id).signature_request
    assert sr.title == "Consulting agreement"
    assert [s.signer_name for s in sr.signatures] == ["Cleo Client", "Wen Witness"]


def test_create_embedded_without_signers_as_the_sdk_example_does(server, client, account, account_ep, callback_receiver):
    client_id = create_app(client)
    with open(pdf("simple-two-signers.pdf"), "rb") as f:
        draft = apis.UnclaimedDraftApi(client).unclaimed_draft_create_embedded(
            models.UnclaimedDraftCreateEmbeddedRequest(
                client_id=client_id, requester_email_address=account.email_address, files=[f], test_mode=True
            )
        )
    assert not draft.warnings, draft.warnings
    html = open_page(draft.unclaimed_draft.claim_url, "&parent_url=https%3A%2F%2Fexample.com%2F&client_id=" + client_id)
    people = [
        {"name": "Pia Patient", "email_address": unique_email("pia")},
        {"name": "Gus Guardian", "email_address": unique_email("gus")},
    ]
    answer = send_from_page(client, html, people)
    assert answer.status_code == 200, answer.text
    sr_id = answer.json()["signature_request_id"]
    wait_event(callback_receiver, account_ep, "signature_request_sent", sr_id)
    sr = apis.SignatureRequestApi(client).signature_request_get(sr_id).signature_request
    assert [(s.signer_name, s.signer_email_address) for s in sr.signatures] == [(p["name"], p["email_address"]) for p in people]


def test_edit_and_resend_replaces_the_request(server, client, account, account_ep, callback_receiver):
    from test_signature_requests import create_embedded_upload

    client_id = create_app(client)
    old, who = create_embedded_upload(client, client_id, title="Lease")
    old_id = old.signature_request_id
    wait_event(callback_receiver, account_ep, "signature_request_sent", old_id)
    drafts = apis.UnclaimedDraftApi(client)
    draft = drafts.unclaimed_draft_edit_and_resend(
        old_id,
        models.UnclaimedDraftEditAndResendRequest(
            client_id=client_id,
            is_for_embedded_signing=True,
            signing_redirect_url="https://example.com/done",
            test_mode=True,
        ),
    )
    assert not draft.warnings, draft.warnings
    assert draft.unclaimed_draft.signature_request_id is None
    assert draft.unclaimed_draft.signing_redirect_url == "https://example.com/done"
    html = open_page(draft.unclaimed_draft.claim_url, "&parent_url=https%3A%2F%2Fexample.com%2F&client_id=" + client_id)
    answer = send_from_page(client, html)
    assert answer.status_code == 200, answer.text
    new_id = answer.json()["signature_request_id"]
    wait_event(callback_receiver, account_ep, "signature_request_canceled", old_id)
    wait_event(callback_receiver, account_ep, "signature_request_sent", new_id)
    requests_api = apis.SignatureRequestApi(client)
    expect_api_error(lambda: requests_api.signature_request_get(old_id), 410)
    new = requests_api.signature_request_get(new_id).signature_request
    assert new.title == "Lease"
    assert [s.signer_email_address for s in new.signatures] == [s.email_address for s in who]

    # The replaced request is gone: it cannot be edited and resent again.
    expect_api_error(
        lambda: drafts.unclaimed_draft_edit_and_resend(old_id, models.UnclaimedDraftEditAndResendRequest(client_id=client_id)),
        410,
    )
