"""Send one contact or company to a platform now, from the admin."""

import json

import pytest
import responses
from django.urls import reverse

from crm.models import Company, Contact
from integrations.models import ExternalLink

from .crm_mocks import AC_API, ac_account, load, vt_account, vt_calls, vt_login, vt_logout, vt_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


def url(object_type: str, object_id: int) -> str:
    return reverse("admin:integrations_send_record", args=[object_type, object_id])


def test_the_page_offers_the_active_accounts_that_store_that_kind_of_record(admin_client):
    vt_account(description="Main CRM")
    ac_account(description="Newsletter")
    ac_account(description="Old list", is_active=False)
    company = Company.objects.create(name="Ferrari & Figli", phone="+390514455667")
    contact = Contact.objects.create(phone="+393471234567", name="Giulia Ferrari")

    contact_page = admin_client.get(url("contact", contact.pk)).content.decode()
    assert "Main CRM" in contact_page and "Newsletter" in contact_page
    assert "Old list" not in contact_page
    company_page = admin_client.get(url("company", company.pk)).content.decode()
    assert "Main CRM" in company_page and "Newsletter" not in company_page


def test_sending_a_contact_shows_its_new_external_id(admin_client, rsps):
    account = vt_account()
    contact = Contact.objects.create(phone="+393205550101", name="Sofia Romano", kind="lead")
    vt_login(rsps)
    vt_post(rsps, "create", load("vtenext", "create_lead_ok"))
    vt_logout(rsps)

    response = admin_client.post(url("contact", contact.pk), {"account": account.pk})

    assert response.status_code == 200
    page = response.content.decode()
    assert "its id there is <code>10x1090</code>" in page
    [create] = vt_calls(rsps, "create")
    assert json.loads(create["element"])["mobile"] == "+393205550101"
    link = ExternalLink.objects.get(account=account, object_type="contact", local_id=contact.pk)
    assert link.external_id == "10x1090"


def test_a_platform_refusal_is_shown_as_it_said_it(admin_client, rsps):
    account = ac_account()
    contact = Contact.objects.create(phone="+393205550101", name="Sofia Romano")
    rsps.post(f"{AC_API}/contacts", json=load("activecampaign", "error_422_duplicate"), status=422)
    # The duplicate is looked up; when nobody there has the number, the refusal stands.
    rsps.get(f"{AC_API}/contacts", json=load("activecampaign", "contacts_list_empty"))
    response = admin_client.post(url("contact", contact.pk), {"account": account.pk})
    assert response.status_code == 200
    page = response.content.decode()
    assert "ActiveCampaign rejected the data: Email address already exists in the system" in page
    assert not ExternalLink.objects.exists()


def test_a_missing_record_or_unknown_kind_is_a_clear_page(admin_client):
    missing = admin_client.get(url("contact", 999999))
    assert missing.status_code == 200
    assert "There is no contact #999999." in missing.content.decode()
    huge = admin_client.get(url("contact", 10**20))
    assert huge.status_code == 200
    assert "There is no contact" in huge.content.decode()
    unknown = admin_client.get(url("deal", 1))
    assert unknown.status_code == 200
    assert "Only contacts and companies can be sent" in unknown.content.decode()


def test_a_company_cannot_go_to_a_platform_without_companies(admin_client):
    account = ac_account()
    company = Company.objects.create(name="Northwind", phone="+442079460000")
    response = admin_client.post(url("company", company.pk), {"account": account.pk})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_the_service_refuses_an_inactive_account_with_the_reason():
    from integrations.services import RecordSendRefused, record_send

    account = vt_account(is_active=False)
    contact = Contact.objects.create(phone="+393205550101")
    with pytest.raises(RecordSendRefused, match=r"The account 'vtenext CRM' is inactive\."):
        record_send(account=account, object_type="contact", local_id=contact.pk)
