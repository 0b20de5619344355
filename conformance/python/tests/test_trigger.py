"""Sample events (`POST /v3/x/trigger`, what `countersign trigger` calls) as the official SDK reads them.

For each of the 23 event types the SDK's enum lists (its fax types excepted), a sample is sent to a
receiver endpoint given as `url`; every callback must parse with `EventCallbackRequest.init`, verify with
`EventCallbackHelper.is_valid` under the account's API key, and carry the object its type is about.
"""
from __future__ import annotations

import json

import pytest

from conftest import expect_raw_error

EVENT_TYPES = [
    "account_confirmed", "unknown_error", "file_error", "sign_url_invalid", "signature_request_viewed",
    "signature_request_signed", "signature_request_sent", "signature_request_all_signed",
    "signature_request_email_bounce", "signature_request_remind", "signature_request_incomplete_qes",
    "signature_request_destroyed", "signature_request_canceled", "signature_request_downloadable",
    "signature_request_declined", "signature_request_reassigned", "signature_request_invalid",
    "signature_request_prepared", "signature_request_expired", "template_created", "template_error",
    "callback_test", "signature_request_signer_removed",
]


@pytest.fixture(scope="module", autouse=True)
def every_callback_is_accepted_by_the_sdk(callback_receiver):
    yield
    callback_receiver.assert_sdk_accepts_all()


def test_a_sample_of_every_type_is_a_callback_the_sdk_accepts(server, account, callback_receiver):
    ep = callback_receiver.endpoint(account.api_key, label="samples")
    for event_type in EVENT_TYPES:
        resp = server.raw("POST", "/x/trigger", account.api_key, json={"event_type": event_type, "url": ep.url})
        assert resp.status_code == 200, resp.text
        assert resp.json()["event"]["event_type"] == event_type
    got = callback_receiver.wait_for(ep.path, len(EVENT_TYPES))
    payloads = {json.loads(r.json_text())["event"]["event_type"]: json.loads(r.json_text()) for r in got}
    assert sorted(payloads) == sorted(EVENT_TYPES)
    assert payloads["signature_request_all_signed"]["signature_request"]["is_complete"] is True
    assert payloads["signature_request_all_signed"]["signature_request"]["test_mode"] is True
    assert payloads["template_created"]["template"]["template_id"]
    assert payloads["account_confirmed"]["account"]["email_address"] == account.email_address
    assert set(payloads["callback_test"]) == {"event", "event_id"}


def test_an_unknown_type_is_refused(server, account):
    resp = server.raw("POST", "/x/trigger", account.api_key, json={"event_type": "fax_sent"})
    expect_raw_error(resp, 400, "bad_request", "event_type")
