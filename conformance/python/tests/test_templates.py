"""Templates through the official SDK, as a new user would drive them.

`TemplateApi` (template_create, get, list, files, files_as_data_uri, files_as_file_url, add_user,
remove_user, delete) and `SignatureRequestApi.signature_request_send_with_template` /
`signature_request_create_embedded_with_template`. A template is processed in the background: the
`template_created` (or `template_error`) callback is parsed with `EventCallbackRequest.init` and
checked with `EventCallbackHelper.is_valid`; every response is deserialized by the SDK's own models,
so a field of the wrong type fails here as it would for a user.
"""
from __future__ import annotations

import base64
import json
import re
import time

import pytest
import requests
from dropbox_sign import EventCallbackHelper, apis, models
from dropbox_sign.models import EventCallbackRequest

from conftest import CALLBACK_DEADLINE_S, expect_api_error, unique_email
from test_signature_requests import create_app, pdf, poppler, sign_through_the_page, wait_event

ACCOUNT_CALLBACK = EventCallbackHelper.EVENT_TYPE_ACCOUNT_CALLBACK


@pytest.fixture(scope="module", autouse=True)
def every_callback_is_accepted_by_the_sdk(callback_receiver):
    """After the module: the SDK accepts every callback the receiver got (late retries included)."""
    yield
    callback_receiver.assert_sdk_accepts_all()


@pytest.fixture
def account_ep(client, account, callback_receiver):
    ep = callback_receiver.endpoint(account.api_key, label="tpl-account")
    apis.AccountApi(client).account_update(models.AccountUpdateRequest(callback_url=ep.url))
    return ep


def create_template(client, name: str = "simple-two-signers.pdf", **overrides) -> str:
    """template_create with the fixture (text tags for signer1 and signer2), roles Client and Witness,
    a CC role, a text merge field placed for the sender, and one text field for the witness."""
    kwargs = dict(
        title="Consulting agreement",
        subject="Our agreement",
        message="Please sign.",
        signer_roles=[
            models.SubTemplateRole(name="Client", order=0),
            models.SubTemplateRole(name="Witness", order=1),
        ],
        cc_roles=["Accountant"],
        merge_fields=[models.SubMergeField(name="Rate", type="text")],
        form_fields_per_document=[
            models.SubFormFieldsPerDocumentTextMerge(
                document_index=0, api_id="rate", name="Rate", type="text-merge", signer="sender",
                x=300, y=700, width=150, height=18, required=True, page=1,
            ),
            models.SubFormFieldsPerDocumentText(
                document_index=0, api_id="witness_title", name="Witness title", type="text", signer="1",
                x=300, y=740, width=150, height=18, required=False, page=1,
            ),
        ],
        test_mode=True,
    )
    kwargs.update(overrides)
    with open(pdf(name), "rb") as f:
        response = apis.TemplateApi(client).template_create(models.TemplateCreateRequest(files=[f], **kwargs))
    template_id = response.template.template_id
    assert len(template_id) == 40, template_id
    return template_id


def wait_template_event(receiver, ep, template_id: str, timeout: float = CALLBACK_DEADLINE_S):
    """The first template_created / template_error callback about `template_id`, checked with the SDK."""
    deadline = time.monotonic() + timeout

    def find():
        for r in receiver.requests:
            if r.path != ep.path:
                continue
            raw = json.loads(r.json_text())
            if (raw.get("template") or {}).get("template_id") == template_id and raw["event"]["event_type"] in (
                "template_created",
                "template_error",
            ):
                return r
        return None

    with receiver.cond:
        found = find()
        while found is None and time.monotonic() < deadline:
            receiver.cond.wait(timeout=max(0.0, deadline - time.monotonic()))
            found = find()
    assert found is not None, f"no template callback for {template_id} within {timeout}s"
    text = found.json_text()
    callback = EventCallbackRequest.init(text)
    assert EventCallbackHelper.is_valid(ep.api_key, callback) is True, text
    assert EventCallbackHelper.get_callback_type(callback) == ACCOUNT_CALLBACK, text
    assert callback.template is not None and callback.template.template_id == template_id, text
    return json.loads(text), callback


def role_signers():
    return [
        models.SubSignatureRequestTemplateSigner(role="Witness", name="Wen Witness", email_address=unique_email("wit")),
        models.SubSignatureRequestTemplateSigner(role="Client", name="Cleo Client", email_address=unique_email("cli")),
    ]


def test_create_get_list_files_then_send_sign_and_seal(server, client, account, account_ep, callback_receiver, tmp_path):
    api = apis.TemplateApi(client)
    template_id = create_template(client)
    raw, callback = wait_template_event(callback_receiver, account_ep, template_id)
    assert callback.event.event_type == "template_created", raw

    template = api.template_get(template_id).template
    assert template.title == "Consulting agreement"
    assert template.is_creator is True and template.can_edit is True and template.is_locked is False
    assert [(r.name, r.order) for r in template.signer_roles] == [("Client", 0), ("Witness", 1)]
    assert [r.name for r in template.cc_roles] == ["Accountant"]
    (document,) = template.documents
    assert document.name == "simple-two-signers.pdf"
    types = sorted(f.type for f in document.form_fields)
    assert types == ["checkbox", "date_signed", "initials", "signature", "text", "text"], types
    witness_title = next(f for f in document.form_fields if f.api_id == "witness_title")
    assert witness_title.signer == "2" and witness_title.x == 300 and witness_title.y == 740
    assert [(f.name, f.type) for f in document.custom_fields] == [("Rate", "text")]
    assert [a.email_address for a in template.accounts] == [account.email_address]
    # The callback carries the same template the API shows.
    assert raw["template"] == server.raw("GET", f"/template/{template_id}", account.api_key).json()["template"]

    listed = api.template_list(page_size=10)
    assert listed.list_info.num_results == 1
    assert listed.templates[0].template_id == template_id
    assert api.template_list(query="invoice").list_info.num_results == 0

    original = open(pdf("simple-two-signers.pdf"), "rb").read()
    assert api.template_files(template_id, file_type="pdf").read() == original
    data_uri = api.template_files_as_data_uri(template_id).data_uri
    assert base64.b64decode(data_uri.split(",", 1)[1]) == original
    link = api.template_files_as_file_url(template_id)
    assert requests.get(link.file_url, timeout=30).content == original

    # Sent from the template, embedded, with the merge value; signed by both roles.
    client_id = create_app(client)
    srs = apis.SignatureRequestApi(client)
    sr = srs.signature_request_create_embedded_with_template(
        models.SignatureRequestCreateEmbeddedWithTemplateRequest(
            client_id=client_id,
            template_ids=[template_id],
            signers=role_signers(),
            ccs=[models.SubCC(role="Accountant", email_address=unique_email("acc"))],
            custom_fields=[models.SubCustomField(name="Rate", value="120 CHF/h")],
            test_mode=True,
        )
    ).signature_request
    assert sr.template_ids == [template_id]
    assert [s.signer_role for s in sr.signatures] == ["Client", "Witness"]
    assert sr.signatures[0].signer_name == "Cleo Client"
    assert any(f.name == "Rate" and f.value == "120 CHF/h" for f in sr.custom_fields)
    wait_event(callback_receiver, account_ep, "signature_request_sent", sr.signature_request_id)
    for signature in sr.signatures:
        sign_through_the_page(client, sr.signature_request_id, signature.signature_id, client_id)
    wait_event(callback_receiver, account_ep, "signature_request_downloadable", sr.signature_request_id)
    final = srs.signature_request_files(sr.signature_request_id, file_type="pdf").read()
    text = poppler("pdftotext", ["-enc", "UTF-8"], final, tmp_path)
    if text is not None:
        assert "120 CHF/h" in text, text

    # Deleted: gone, and no longer usable; the request sent from it stays.
    api.template_delete(template_id)
    expect_api_error(lambda: api.template_get(template_id), 404, "not_found")
    assert api.template_list().list_info.num_results == 0
    assert srs.signature_request_get(sr.signature_request_id).signature_request.signature_request_id


def test_send_with_template_refuses_what_does_not_fit(server, client, account, account_ep, callback_receiver):
    template_id = create_template(client)
    wait_template_event(callback_receiver, account_ep, template_id)
    srs = apis.SignatureRequestApi(client)
    ccs = [models.SubCC(role="Accountant", email_address=unique_email("acc"))]
    rate = [models.SubCustomField(name="Rate", value="1")]

    def send(**kwargs):
        return lambda: srs.signature_request_send_with_template(
            models.SignatureRequestSendWithTemplateRequest(template_ids=[template_id], test_mode=True, **kwargs)
        )

    before = srs.signature_request_list().list_info.num_results
    # A role left without a signer.
    err = expect_api_error(send(signers=role_signers()[:1], ccs=ccs, custom_fields=rate), 400, "bad_request")
    assert "Client" in err.data.error.error_msg
    # A role the template does not have.
    stranger = models.SubSignatureRequestTemplateSigner(role="Landlord", name="L", email_address=unique_email())
    err = expect_api_error(send(signers=role_signers() + [stranger], ccs=ccs, custom_fields=rate), 400, "bad_request")
    assert "Landlord" in err.data.error.error_msg
    # The required merge field without its value.
    err = expect_api_error(send(signers=role_signers(), ccs=ccs), 400, "bad_request")
    assert "Rate" in err.data.error.error_msg
    # A template id that names nothing.
    err = expect_api_error(
        lambda: srs.signature_request_send_with_template(
            models.SignatureRequestSendWithTemplateRequest(template_ids=["f" * 40], signers=role_signers())
        ),
        404,
        "not_found",
    )
    assert err.data.error.error_path == "template_ids[0]"
    assert srs.signature_request_list().list_info.num_results == before, "nothing was created"

    sent = srs.signature_request_send_with_template(
        models.SignatureRequestSendWithTemplateRequest(
            template_ids=[template_id], signers=role_signers(), ccs=ccs, custom_fields=rate, test_mode=True,
            title="From the template", metadata={"deal": "42"},
        )
    ).signature_request
    assert sent.title == "From the template" and sent.metadata == {"deal": "42"}
    assert sent.signing_url, "a non-embedded request has a signing URL"
    wait_event(callback_receiver, account_ep, "signature_request_sent", sent.signature_request_id)

    # Files sent with the template are appended; their tags for signers the template lacks are left out.
    with open(pdf("unknown-signer.pdf"), "rb") as annex:
        appended = srs.signature_request_send_with_template(
            models.SignatureRequestSendWithTemplateRequest(
                template_ids=[template_id], signers=role_signers(), ccs=ccs, custom_fields=rate, files=[annex], test_mode=True
            )
        ).signature_request
    wait_event(callback_receiver, account_ep, "signature_request_sent", appended.signature_request_id)


def test_another_account_sees_a_template_only_once_shared(server, client, account, other_account, account_ep, callback_receiver):
    template_id = create_template(client)
    wait_template_event(callback_receiver, account_ep, template_id)
    theirs = apis.TemplateApi(server.client(other_account.api_key))
    expect_api_error(lambda: theirs.template_get(template_id), 404, "not_found")
    assert theirs.template_list().list_info.num_results == 0

    shared = apis.TemplateApi(client).template_add_user(
        template_id, models.TemplateAddUserRequest(email_address=other_account.email_address, skip_notification=True)
    ).template
    assert sorted(a.email_address for a in shared.accounts) == sorted([account.email_address, other_account.email_address])
    seen = theirs.template_get(template_id).template
    assert seen.is_creator is False and seen.can_edit is False
    assert theirs.template_list().list_info.num_results == 1
    expect_api_error(lambda: theirs.template_delete(template_id), 403, "forbidden")

    apis.TemplateApi(client).template_remove_user(
        template_id, models.TemplateRemoveUserRequest(email_address=other_account.email_address)
    )
    expect_api_error(lambda: theirs.template_get(template_id), 404, "not_found")


def test_a_file_that_cannot_be_read_is_template_error(server, client, account, account_ep, callback_receiver):
    template_id = create_template(client, name="not-a-pdf.pdf")
    raw, callback = wait_template_event(callback_receiver, account_ep, template_id)
    assert callback.event.event_type == "template_error", raw
    assert "not a PDF" in raw["event"]["event_metadata"]["event_message"], raw
    template = apis.TemplateApi(client).template_get(template_id).template
    assert template.documents[0].form_fields == [], "nothing half-written"
    expect_api_error(
        lambda: apis.SignatureRequestApi(client).signature_request_send_with_template(
            models.SignatureRequestSendWithTemplateRequest(template_ids=[template_id], signers=role_signers())
        ),
        400,
        "bad_request",
    )


def test_embedded_draft_edit_url_and_the_editor_save(server, client, account, account_ep, callback_receiver):
    """template_create_embedded_draft answers with an edit_url; the editor behind it (driven here as its
    script drives it) saves the fields, and only then does template_created arrive. embedded_edit_url gives
    a fresh link, and every body is the SDK's own model, with no warnings for the SDK's defaults."""
    client_id = create_app(client)
    api = apis.TemplateApi(client)
    with open(pdf("three-pages.pdf"), "rb") as f:
        draft = api.template_create_embedded_draft(
            models.TemplateCreateEmbeddedDraftRequest(
                client_id=client_id,
                files=[f],
                title="Embedded lease",
                signer_roles=[models.SubTemplateRole(name="Tenant", order=0), models.SubTemplateRole(name="Landlord", order=1)],
                test_mode=True,
            )
        )
    assert not draft.warnings, draft.warnings
    template_id = draft.template.template_id
    assert "/editor/embeddedTemplate?" in draft.template.edit_url
    assert draft.template.expires_at > time.time()

    url = draft.template.edit_url + "&parent_url=https%3A%2F%2Fexample.com%2F&client_id=" + client_id
    deadline = time.monotonic() + CALLBACK_DEADLINE_S
    while (page := requests.get(url, timeout=30)).status_code == 409:
        assert time.monotonic() < deadline, "the draft's documents were never read"
        time.sleep(0.05)
    assert page.status_code == 200, page.text[:500]
    assert "Save template" in page.text
    config = json.loads(re.search(r'id="countersign-config">(.*?)</script>', page.text, re.S).group(1))
    assert config["roles"] == ["Tenant", "Landlord"]
    # The text tags of three-pages.pdf were placed already; the editor adds a date for the landlord.
    fields = list(config["fields"])
    assert fields, config
    assert not [r for r in callback_receiver.received(account_ep.path) if template_id in r.json_text()]
    fields.append({"type": "date_signed", "role": 1, "document_index": 0, "page": 3, "x": 400, "y": 700, "width": 100, "height": 18})
    base = client.configuration.host.rsplit("/v3", 1)[0]
    saved = requests.post(
        f"{base}/edit/{template_id}/save",
        json={"session": config["session"], "expires": config["expires"], "fields": fields},
        timeout=30,
    )
    assert saved.status_code == 200, saved.text
    raw, callback = wait_template_event(callback_receiver, account_ep, template_id)
    assert callback.event.event_type == "template_created", raw
    template = api.template_get(template_id).template
    assert template.is_embedded is True
    assert len(template.documents[0].form_fields) == len(fields)

    fresh = apis.EmbeddedApi(client).embedded_edit_url(template_id, models.EmbeddedEditUrlRequest())
    assert not fresh.warnings, fresh.warnings
    assert fresh.embedded.expires_at > time.time()
    page = requests.get(fresh.embedded.edit_url + "&parent_url=https%3A%2F%2Fexample.com%2F", timeout=30)
    assert page.status_code == 200 and "Save template" in page.text
    preview = apis.EmbeddedApi(client).embedded_edit_url(template_id, models.EmbeddedEditUrlRequest(preview_only=True))
    page = requests.get(preview.embedded.edit_url + "&parent_url=https%3A%2F%2Fexample.com%2F", timeout=30)
    assert page.status_code == 200 and "Save template" not in page.text


def accountant():
    return [models.SubCC(role="Accountant", email_address=unique_email("acc"))]


def test_edit_with_template_and_edit_embedded_with_template(server, client, account, account_ep, callback_receiver):
    """A request from files edited into one from a template (and an embedded one edited with another
    merge value): same id, the template's roles and values, processed again."""
    from test_signature_requests import send_upload, wait_sent_twice

    template_id = create_template(client)
    wait_template_event(callback_receiver, account_ep, template_id)
    srs = apis.SignatureRequestApi(client)
    sr, _ = send_upload(client)
    sr_id = sr.signature_request_id
    wait_event(callback_receiver, account_ep, "signature_request_sent", sr_id)
    edited = srs.signature_request_edit_with_template(
        sr_id,
        models.SignatureRequestEditWithTemplateRequest(
            template_ids=[template_id],
            signers=role_signers(),
            ccs=accountant(),
            custom_fields=[models.SubCustomField(name="Rate", value="95 EUR/h")],
            test_mode=True,
        ),
    ).signature_request
    assert edited.signature_request_id == sr_id
    assert edited.template_ids == [template_id]
    assert [s.signer_role for s in edited.signatures] == ["Client", "Witness"]
    wait_sent_twice(callback_receiver, account_ep, sr_id)
    assert srs.signature_request_get(sr_id).signature_request.title == "Consulting agreement"

    client_id = create_app(client)
    embedded = srs.signature_request_create_embedded_with_template(
        models.SignatureRequestCreateEmbeddedWithTemplateRequest(
            client_id=client_id, template_ids=[template_id], signers=role_signers(), ccs=accountant(),
            custom_fields=[models.SubCustomField(name="Rate", value="100 EUR/h")], test_mode=True,
        )
    ).signature_request
    wait_event(callback_receiver, account_ep, "signature_request_sent", embedded.signature_request_id)
    again = srs.signature_request_edit_embedded_with_template(
        embedded.signature_request_id,
        models.SignatureRequestEditEmbeddedWithTemplateRequest(
            client_id=client_id, template_ids=[template_id], signers=role_signers(), ccs=accountant(),
            custom_fields=[models.SubCustomField(name="Rate", value="110 EUR/h")], test_mode=True,
        ),
    ).signature_request
    assert again.signature_request_id == embedded.signature_request_id
    assert any(f.name == "Rate" and f.value == "110 EUR/h" for f in again.custom_fields)
    wait_sent_twice(callback_receiver, account_ep, embedded.signature_request_id)
    # The wrong kind of endpoint for an embedded request is refused, and nothing changes.
    expect_api_error(
        lambda: srs.signature_request_edit_with_template(
            embedded.signature_request_id,
            models.SignatureRequestEditWithTemplateRequest(
                template_ids=[template_id], signers=role_signers(), ccs=accountant(), test_mode=True,
                custom_fields=[models.SubCustomField(name="Rate", value="1 EUR/h")],
            ),
        ),
        400,
        "bad_request",
    )
    kept = srs.signature_request_get(embedded.signature_request_id).signature_request
    assert any(f.name == "Rate" and f.value == "110 EUR/h" for f in kept.custom_fields)


def test_bulk_send_json_and_csv_with_a_bad_row(server, client, account, account_ep, callback_receiver, tmp_path):
    """bulk_send_with_template with a signer_list whose second row has a bad address: the others are sent,
    the bad row is reported by BulkSendJobApi; bulk_create_embedded_with_template with a CSV signer_file."""
    template_id = create_template(client)
    wait_template_event(callback_receiver, account_ep, template_id)
    srs, jobs = apis.SignatureRequestApi(client), apis.BulkSendJobApi(client)

    def row(client_name, client_email):
        return models.SubBulkSignerList(
            signers=[
                models.SubSignatureRequestTemplateSigner(role="Client", name=client_name, email_address=client_email),
                models.SubSignatureRequestTemplateSigner(role="Witness", name="Wen", email_address=unique_email("wen")),
            ],
            custom_fields=[models.SubBulkSignerListCustomField(name="Rate", value=f"{client_name}'s rate")],
        )

    sent = srs.signature_request_bulk_send_with_template(
        models.SignatureRequestBulkSendWithTemplateRequest(
            template_ids=[template_id],
            signer_list=[row("Ann", unique_email("ann")), row("Bad", "not-an-address"), row("Cem", unique_email("cem"))],
            ccs=accountant(),
            test_mode=True,
            title="Bulk agreement",
        )
    )
    job_id = sent.bulk_send_job.bulk_send_job_id
    assert sent.bulk_send_job.total == 3 and sent.bulk_send_job.is_creator is True
    assert [w.warning_name for w in sent.warnings] == ["bulk_send_rows_invalid"]
    deadline = time.monotonic() + CALLBACK_DEADLINE_S
    while True:
        got = jobs.bulk_send_job_get(job_id)
        if len(got.signature_requests) == 2:
            break
        assert time.monotonic() < deadline, got
        time.sleep(0.1)
    assert [r.signatures[0].signer_name for r in got.signature_requests] == ["Ann", "Cem"]
    assert all(r.bulk_send_job_id == job_id for r in got.signature_requests)
    assert [w.warning_name for w in got.warnings] == ["bulk_send_row_failed"]
    assert got.warnings[0].warning_msg.startswith("Row 1:")
    for r in got.signature_requests:
        raw, _ = wait_event(callback_receiver, account_ep, "signature_request_sent", r.signature_request_id)
        assert raw["signature_request"]["bulk_send_job_id"] == job_id
    assert [j.bulk_send_job_id for j in jobs.bulk_send_job_list().bulk_send_jobs] == [job_id]

    one_role = create_template(
        client,
        name="per-glyph-runs.pdf",
        signer_roles=[models.SubTemplateRole(name="Client", order=0)],
        cc_roles=[],
        merge_fields=[],
        form_fields_per_document=[],
    )
    wait_template_event(callback_receiver, account_ep, one_role)
    csv = tmp_path / "signers.csv"
    csv.write_text(f"name,email_address\nGeorge,{unique_email('george')}\n\"Mary, Jr.\",{unique_email('mary')}\n")
    client_id = create_app(client)
    with open(csv, "rb") as f:
        embedded = srs.signature_request_bulk_create_embedded_with_template(
            models.SignatureRequestBulkCreateEmbeddedWithTemplateRequest(
                client_id=client_id, template_ids=[one_role], signer_file=f, test_mode=True
            )
        )
    assert embedded.bulk_send_job.total == 2
    deadline = time.monotonic() + CALLBACK_DEADLINE_S
    while len(jobs.bulk_send_job_get(embedded.bulk_send_job.bulk_send_job_id).signature_requests) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    names = [r.signatures[0].signer_name for r in jobs.bulk_send_job_get(embedded.bulk_send_job.bulk_send_job_id).signature_requests]
    assert names == ["George", "Mary, Jr."]
    # Broken quoting is refused whole.
    csv.write_text('name,email_address\n"Ann,ann@example.com\n')
    with open(csv, "rb") as f:
        expect_api_error(
            lambda: srs.signature_request_bulk_create_embedded_with_template(
                models.SignatureRequestBulkCreateEmbeddedWithTemplateRequest(
                    client_id=client_id, template_ids=[one_role], signer_file=f, test_mode=True
                )
            ),
            400,
            "bad_request",
            "signer_file",
        )
