"""Consent and GDPR over the API and the import: consent comes in with its source, roles decide
who writes it, export is a zip of what the caller may see, erasure is a manager's confirmed act."""

import io
import zipfile

import pytest
from django.core.management import call_command

from crm.models import ConsentRecord, Contact, ContactAddress

from .conftest import assert_error, key_client, token_client

pytestmark = pytest.mark.django_db


def test_a_contact_upsert_accepts_consent_with_its_source(manager):
    response = token_client(manager).post(
        "/api/v1/contacts/",
        {
            "phone": "+39 347 765 4321",
            "name": "Paolo",
            "consent": [
                {
                    "purpose": "marketing",
                    "state": "opted_in",
                    "source": "widget",
                    "text_shown": "Offers on WhatsApp",
                }
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    record = ConsentRecord.objects.get()
    assert (record.purpose, record.state, record.source) == ("marketing", "opted_in", "widget")
    assert record.text_shown == "Offers on WhatsApp"
    assert record.actor == manager
    history = token_client(manager).get(f"/api/v1/contacts/{record.contact_id}/consent/")
    assert [r["state"] for r in history.json()] == ["opted_in"]


def test_consent_for_one_transport_needs_an_address_there(manager, giulia):
    client = token_client(manager)
    url = f"/api/v1/contacts/{giulia.pk}/consent/"
    body = {"purpose": "marketing", "state": "opted_out", "transport": "telegram"}
    error = assert_error(client.post(url, body, format="json"), 400)
    assert "no telegram address" in str(error)
    ContactAddress.objects.create(contact=giulia, transport="whatsapp", address=giulia.phone)
    response = client.post(url, {**body, "transport": "whatsapp"}, format="json")
    assert response.status_code == 201
    assert response.json()[0]["transport"] == "whatsapp"
    assert response.json()[0]["source"] == "api"
    assert [r["state"] for r in client.get(url).json()] == ["opted_out"]


def test_roles_decide_who_writes_consent(quality, rep1, rep2, giulia):
    body = {"purpose": "marketing", "state": "opted_in"}
    url = f"/api/v1/contacts/{giulia.pk}/consent/"
    assert token_client(quality).get(url).status_code == 200
    assert_error(token_client(quality).post(url, body, format="json"), 403)
    assert token_client(rep2).post(url, body, format="json").status_code in (403, 404)
    assert token_client(rep1).post(url, body, format="json").status_code == 201
    assert ConsentRecord.objects.count() == 1


def test_the_export_is_a_zip_of_what_the_caller_may_see(manager, rep2, giulia):
    response = token_client(manager).get(f"/api/v1/contacts/{giulia.pk}/export/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert "contact.json" in archive.namelist()
    assert "Giulia" in archive.read("contact.json").decode()
    assert token_client(rep2).get(f"/api/v1/contacts/{giulia.pk}/export/").status_code == 404


def test_erasure_is_a_managers_confirmed_act(manager, rep1, giulia, wa_key):
    url = f"/api/v1/contacts/{giulia.pk}/erase/"
    assert_error(token_client(rep1).post(url, {"confirm": giulia.pk}, format="json"), 403)
    assert_error(key_client(wa_key).post(url, {"confirm": giulia.pk}, format="json"), 403)
    assert_error(token_client(manager).post(url, {}, format="json"), 400)
    assert_error(token_client(manager).post(url, {"confirm": giulia.pk + 1}, format="json"), 400)
    giulia.refresh_from_db()
    assert giulia.name == "Giulia"
    response = token_client(manager).post(url, {"confirm": giulia.pk}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["contact"] == giulia.pk
    giulia.refresh_from_db()
    assert (giulia.name, giulia.phone, giulia.erased_at is not None) == ("", None, True)
    assert_error(token_client(manager).post(url, {"confirm": giulia.pk}, format="json"), 400)


def test_the_import_takes_consent_with_its_source_and_reports_bad_lines(giulia, tmp_path):
    path = tmp_path / "consent.csv"
    path.write_text(
        "phone,purpose,state,text_shown\n"
        "+39 335 103 2246,marketing,opted_in,Paper form 2024\n"
        "+39 347 000 0000,marketing,opted_in,\n"
        "+39 335 103 2246,marketing,maybe,\n"
    )
    out, err = io.StringIO(), io.StringIO()
    call_command("import_consent", str(path), stdout=out, stderr=err)
    assert "1 consent record(s) imported, 2 row(s) refused" in out.getvalue()
    assert "line 3: no contact has the phone +393470000000" in err.getvalue()
    assert "line 4:" in err.getvalue() and "'maybe'" in err.getvalue()
    record = ConsentRecord.objects.get()
    assert (record.contact, record.source, record.text_shown) == (
        Contact.objects.get(pk=giulia.pk),
        "import",
        "Paper form 2024",
    )
