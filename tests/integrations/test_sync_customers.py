"""sync_customers end to end: the real job runner and connectors against the vtenext and
ActiveCampaign fixtures through `responses`."""

import json
from datetime import UTC, datetime, time

import pytest
import responses
import time_machine

from crm.models import Company, Contact
from crm.services import contact_create
from integrations.models import ExternalLink, JobRun, SyncConflict, SyncJob
from integrations.services import sync_job_run

from .crm_mocks import (
    AC_API,
    VT_ACCESS_KEY,
    ac_account,
    ac_list,
    ac_params,
    load,
    vt_account,
    vt_calls,
    vt_login,
    vt_logout,
    vt_post,
    vt_query,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 5, 6, 0, 0, tzinfo=UTC)
BEFORE_WINDOW = datetime(2024, 4, 20, 9, 0, tzinfo=UTC)
STAMP = "2024-05-01 00:00:00"  # NOW minus the 5-day window, as vtenext compares it
SINCE_ISO = "2024-05-01T00:00:00+00:00"  # the same, as ActiveCampaign gets it


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def job(db):
    return SyncJob.objects.create(
        name="sync_customers", schedule_kind="daily", daily_at=time(2, 0), window_days=5
    )


def run_job(job) -> JobRun:
    return sync_job_run(job_id=job.pk, manual=True)


def contact(phone: str) -> Contact:
    return Contact.objects.get(phone=phone)


def link_of(account, obj, object_type="contact") -> ExternalLink:
    return ExternalLink.objects.get(account=account, object_type=object_type, local_id=obj.pk)


# --- vtenext -----------------------------------------------------------------------------------


def vt_pull_mocks(rsps, *, contacts_extra=(), stamp=STAMP):
    contacts = load("vtenext", "query_contacts_page")
    contacts["result"].extend(contacts_extra)
    vt_query(rsps, "Accounts", stamp, 0, "query_accounts")
    vt_query(rsps, "Accounts", stamp, 2, "query_empty")
    vt_query(rsps, "Contacts", stamp, 0, contacts)
    vt_query(rsps, "Contacts", stamp, len(contacts["result"]), "query_empty")
    vt_query(rsps, "Leads", stamp, 0, "query_leads_page")
    vt_query(rsps, "Leads", stamp, 2, "query_empty")


NO_PHONE_ROW = {
    "firstname": "Nadia",
    "lastname": "Senza Numero",
    "mobile": "",
    "phone": "",
    "email": "nadia@example.com",
    "account_id": None,
    "modifiedtime": "2024-05-04 11:00:00",
    "id": "12x1200",
}


def test_vtenext_contacts_leads_and_companies_are_upserted_by_phone_and_ours_pushed(job, rsps):
    with time_machine.travel(BEFORE_WINDOW):
        giulia = Contact.objects.create(phone="+393471234567", name="Giulia F.", kind="lead")
    with time_machine.travel(NOW):
        luca = contact_create(phone="+39 340 111 2233", name="Luca Verdi", kind="lead")
        account = vt_account()
        vt_login(rsps)
        vt_pull_mocks(rsps, contacts_extra=[NO_PHONE_ROW])
        vt_post(rsps, "create", load("vtenext", "create_lead_ok"))
        vt_logout(rsps)

        run = run_job(job)

    assert run.outcome == JobRun.Outcome.SUCCESS, run.error
    assert run.counts["created"] == 5  # 2 companies, 1 contact, 2 leads
    assert run.counts["updated"] == 1
    # no phone at all, and +44 7700 900123 from the UK's range reserved for fiction
    assert run.counts["skipped_no_phone"] == 2
    assert run.counts["pushed"] == 1

    # an existing contact found by its phone is updated, and becomes a customer
    giulia.refresh_from_db()
    assert (giulia.name, giulia.email, giulia.kind) == (
        "Giulia Ferrari",
        "giulia.ferrari@example.com",
        "customer",
    )
    assert giulia.company.name == "Ferrari & Figli S.r.l."  # HTML entities decoded
    assert link_of(account, giulia).external_id == "12x1044"
    assert link_of(account, giulia.company, "company").external_id == "11x998"

    # new ones are created by E.164 phone; leads as leads
    marco = contact("+393389988776")
    assert (marco.name, marco.kind) == ("Marco Bianchi", "customer")
    assert not Contact.objects.filter(phone="+447700900123").exists()
    sofia = contact("+393205550101")
    assert (sofia.name, sofia.kind) == ("Sofia Romano", "lead")
    assert link_of(account, sofia).external_kind == "lead"
    assert Company.objects.get(phone="+442079460000").name == "Northwind Traders Ltd"
    assert not Contact.objects.filter(name__contains="Senza").exists()

    # ours, changed in the window and never synced, went to the CRM as a lead
    [create] = vt_calls(rsps, "create")
    assert create["elementType"] == "Leads"
    assert json.loads(create["element"]) == {
        "firstname": "Luca",
        "lastname": "Verdi",
        "mobile": "+393401112233",
        "company": "-",
        "assigned_user_id": "19x5",
    }
    luca_link = link_of(account, luca)
    assert (luca_link.external_id, luca_link.external_kind) == ("10x1090", "lead")
    # what was just pulled is not pushed back
    assert len(vt_calls(rsps, "revise")) == 0


def test_a_second_vtenext_run_with_nothing_new_changes_nothing(job, rsps):
    with time_machine.travel(NOW):
        account = vt_account()
        vt_login(rsps)
        vt_pull_mocks(rsps)
        vt_logout(rsps)
        first = run_job(job)
        links = ExternalLink.objects.filter(account=account).count()
        second = run_job(job)

    assert first.counts["created"] == 6
    assert second.outcome == JobRun.Outcome.SUCCESS
    assert second.counts["unchanged"] == 6
    assert "created" not in second.counts and "pushed" not in second.counts
    assert ExternalLink.objects.filter(account=account).count() == links
    assert Contact.objects.count() == 4


@pytest.mark.parametrize("window_days, stamp", [(1, "2024-05-05 00:00:00"), (5, STAMP)])
def test_vtenext_is_asked_for_records_modified_since_now_minus_the_window(
    job, rsps, window_days, stamp
):
    SyncJob.objects.filter(pk=job.pk).update(window_days=window_days)
    with time_machine.travel(NOW):
        vt_account()
        vt_login(rsps)
        for module in ("Accounts", "Contacts", "Leads"):
            vt_query(rsps, module, stamp, 0, "query_empty")
        vt_logout(rsps)
        run = run_job(job)

    assert run.outcome == JobRun.Outcome.SUCCESS, run.error
    queries = [call["query"] for call in vt_calls(rsps, "query")]
    assert queries == [
        f"SELECT * FROM {m} WHERE modifiedtime > '{stamp}' ORDER BY modifiedtime LIMIT 0, 100;"  # noqa: S608
        for m in ("Accounts", "Contacts", "Leads")
    ]
    assert run.counts["since"] == f"{stamp.replace(' ', 'T')}+00:00"


def test_a_vtenext_login_failure_fails_the_run_with_the_crm_error(job, rsps, caplog):
    with time_machine.travel(NOW):
        vt_account()
        vt_login(rsps, "login_error_invalid_credentials")
        run = run_job(job)
    job.refresh_from_db()
    assert run.outcome == JobRun.Outcome.FAILED
    assert "Login as 'admin' failed: INVALID_USER_CREDENTIALS" in run.error
    assert (job.state, job.attempts) == ("failed", 1)
    assert VT_ACCESS_KEY not in run.error + run.log + caplog.text


# --- ActiveCampaign ----------------------------------------------------------------------------


def ac_pull_mocks(rsps, since_iso=SINCE_ISO):
    ac_list(
        rsps,
        since_iso,
        [(0, "contacts_list_updated_after_page1"), (2, "contacts_list_updated_after_page2")],
    )


def test_activecampaign_contacts_are_upserted_by_phone_and_ours_pushed(job, rsps):
    with time_machine.travel(BEFORE_WINDOW):
        marco = Contact.objects.create(phone="+393389988776", name="Marco", kind="lead")
    with time_machine.travel(NOW):
        anna = contact_create(
            phone="+39 345 678 9012", name="Anna Neri", email="anna.neri@example.com"
        )
        paolo = contact_create(phone="333 444 5566", name="Paolo Russo")
        account = ac_account()
        ac_pull_mocks(rsps)
        rsps.post(f"{AC_API}/contact/sync", json={"contact": {"id": "2301"}}, status=201)
        rsps.post(
            f"{AC_API}/contacts",
            json=load("activecampaign", "contact_create_phone_only_created"),
            status=201,
        )

        run = run_job(job)

    assert run.outcome == JobRun.Outcome.SUCCESS, run.error
    assert (run.counts["created"], run.counts["updated"], run.counts["pushed"]) == (1, 1, 2)
    assert run.counts["skipped_no_phone"] == 1  # +447700900123 is in a range kept for fiction

    marco.refresh_from_db()  # "338 998 8776" there is +393389988776 here
    assert (marco.name, marco.email, marco.kind) == (
        "Marco Bianchi",
        "marco.bianchi@example.net",
        "lead",  # ActiveCampaign has no leads: its "contact" says nothing about being a customer
    )
    assert link_of(account, marco).external_id == "2203"
    giulia = contact("+393471234567")
    assert (giulia.email, link_of(account, giulia).external_id) == (
        "giulia.ferrari@example.com",
        "2187",
    )

    pushes = {call.request.url: json.loads(call.request.body) for call in rsps.calls[2:]}
    assert pushes[f"{AC_API}/contact/sync"] == {
        "contact": {
            "email": "anna.neri@example.com",
            "firstName": "Anna",
            "lastName": "Neri",
            "phone": "+393456789012",
        }
    }
    assert pushes[f"{AC_API}/contacts"] == {
        "contact": {
            "firstName": "Paolo",
            "lastName": "Russo",
            "phone": "+393334445566",
            "allowNullEmail": True,
        }
    }
    assert link_of(account, anna).external_id == "2301"
    assert link_of(account, paolo).external_id == "2240"


def test_a_contact_activecampaign_already_has_is_linked_and_updated_not_failed(job, rsps):
    with time_machine.travel(NOW):
        paolo = contact_create(phone="333 444 5566", name="Paolo Russo")
        account = ac_account()
        ac_list(rsps, SINCE_ISO, [(0, "contacts_list_empty")])
        rsps.post(
            f"{AC_API}/contacts", json=load("activecampaign", "error_422_duplicate"), status=422
        )
        found = load("activecampaign", "contacts_list_by_email")
        found["contacts"][0].update(id="2250", phone="+39 333 444 5566", email="")
        rsps.get(f"{AC_API}/contacts", json=found)
        rsps.put(f"{AC_API}/contacts/2250", json={"contact": {"id": "2250"}})

        run = run_job(job)

    assert run.outcome == JobRun.Outcome.SUCCESS, run.error
    assert run.counts["push_linked"] == 1
    assert "push_failed" not in run.counts and "pushed" not in run.counts
    assert link_of(account, paolo).external_id == "2250"
    [put] = [c for c in rsps.calls if c.request.method == "PUT"]
    assert json.loads(put.request.body) == {
        "contact": {"firstName": "Paolo", "lastName": "Russo", "phone": "+393334445566"}
    }


def test_activecampaign_is_asked_for_contacts_updated_since_now_minus_the_window(job, rsps):
    SyncJob.objects.filter(pk=job.pk).update(window_days=3)
    with time_machine.travel(NOW):
        ac_account()
        ac_list(rsps, "2024-05-03T00:00:00+00:00", [(0, "contacts_list_empty")])
        run = run_job(job)
    assert run.outcome == JobRun.Outcome.SUCCESS, run.error
    assert ac_params(rsps.calls[0])["filters[updated_after]"] == "2024-05-03T00:00:00+00:00"


def linked_giulia(account, *, local_changed_at, synced_at):
    """Giulia, linked to ActiveCampaign contact 2187 at `synced_at`, changed here afterwards."""
    giulia = Contact.objects.create(phone="+393471234567", name="Giulia Rossi", kind="customer")
    ExternalLink.objects.create(
        account=account,
        object_type="contact",
        local_id=giulia.pk,
        external_id="2187",
        external_kind="contact",
        remote_modified_at=synced_at,
        synced_at=synced_at,
    )
    Contact.objects.filter(pk=giulia.pk).update(updated_at=local_changed_at)
    giulia.refresh_from_db()
    return giulia


# contacts_list_updated_after_page1: 2187 changed there at 2024-05-05 08:12:44 UTC
REMOTE_CHANGED_AT = datetime(2024, 5, 5, 8, 12, 44, tzinfo=UTC)
SYNCED_AT = datetime(2024, 5, 4, 12, 0, tzinfo=UTC)


def test_when_both_sides_changed_the_newer_remote_wins_and_the_conflict_is_recorded(job, rsps):
    with time_machine.travel(NOW):
        account = ac_account()
        giulia = linked_giulia(
            account, local_changed_at=datetime(2024, 5, 5, 7, 0, tzinfo=UTC), synced_at=SYNCED_AT
        )
        ac_pull_mocks(rsps)
        run = run_job(job)

    assert run.outcome == JobRun.Outcome.SUCCESS, run.error
    giulia.refresh_from_db()
    assert giulia.name == "Giulia Ferrari"
    conflict = SyncConflict.objects.get()
    assert (conflict.winner, conflict.external_id, conflict.local_id, conflict.run) == (
        "remote",
        "2187",
        giulia.pk,
        run,
    )
    assert conflict.local_values["name"] == "Giulia Rossi"
    assert conflict.remote_values["name"] == "Giulia Ferrari"
    assert conflict.remote_modified_at == REMOTE_CHANGED_AT
    assert run.counts["conflicts_remote_won"] == 1
    # the platform's version won: nothing of ours goes back
    assert not [c for c in rsps.calls if c.request.method != "GET"]


def test_when_both_sides_changed_the_newer_local_wins_is_pushed_and_recorded(job, rsps):
    with time_machine.travel(NOW):
        account = ac_account()
        giulia = linked_giulia(
            account, local_changed_at=datetime(2024, 5, 5, 10, 0, tzinfo=UTC), synced_at=SYNCED_AT
        )
        rsps.put(f"{AC_API}/contacts/2187", json=load("activecampaign", "contact_updated"))
        ac_pull_mocks(rsps)
        run = run_job(job)

    assert run.outcome == JobRun.Outcome.SUCCESS, run.error
    giulia.refresh_from_db()
    assert giulia.name == "Giulia Rossi"
    conflict = SyncConflict.objects.get()
    assert conflict.winner == "local"
    assert run.counts["conflicts_local_won"] == 1
    [put] = [c for c in rsps.calls if c.request.method == "PUT"]
    assert json.loads(put.request.body) == {
        "contact": {"firstName": "Giulia", "lastName": "Rossi", "phone": "+393471234567"}
    }
    link = link_of(account, giulia)
    assert link.synced_at == giulia.updated_at
    assert link.remote_modified_at == REMOTE_CHANGED_AT


def test_a_change_on_one_side_only_is_no_conflict(job, rsps):
    with time_machine.travel(NOW):
        account = ac_account()
        giulia = linked_giulia(account, local_changed_at=SYNCED_AT, synced_at=SYNCED_AT)
        ac_pull_mocks(rsps)
        run = run_job(job)
    giulia.refresh_from_db()
    assert giulia.name == "Giulia Ferrari"
    assert (run.counts["updated"], run.counts["created"]) == (1, 1)  # Giulia; Marco is new
    assert not SyncConflict.objects.exists()


def test_our_change_to_a_record_the_platform_did_not_change_again_is_pushed(job, rsps):
    with time_machine.travel(NOW):
        account = ac_account()
        giulia = linked_giulia(
            account,
            local_changed_at=datetime(2024, 5, 5, 10, 0, tzinfo=UTC),
            synced_at=REMOTE_CHANGED_AT,  # 2187 in the list is the version we already synced
        )
        rsps.put(f"{AC_API}/contacts/2187", json=load("activecampaign", "contact_updated"))
        ac_pull_mocks(rsps)
        run = run_job(job)

    assert run.outcome == JobRun.Outcome.SUCCESS, run.error
    giulia.refresh_from_db()
    assert giulia.name == "Giulia Rossi"
    assert not SyncConflict.objects.exists()
    [put] = [c for c in rsps.calls if c.request.method == "PUT"]
    assert json.loads(put.request.body)["contact"]["lastName"] == "Rossi"
    assert link_of(account, giulia).synced_at == giulia.updated_at


# --- inactive accounts, Clerk.io ----------------------------------------------------------------


def test_an_inactive_account_is_skipped_with_the_reason_in_the_run(job, rsps):
    account = vt_account(is_active=False)
    run = run_job(job)  # no HTTP mock registered: any call would fail the test
    assert run.outcome == JobRun.Outcome.SKIPPED
    assert "vtenext CRM (vtenext / vtiger CRM): skipped, the account is inactive." in run.log
    assert run.counts["accounts"] == {"vtenext CRM": {"skipped": "inactive"}}
    account.refresh_from_db()
    assert account.settings == {"url": "https://crm.example.com/vtenext", "username": "admin"}
    assert account.secrets == {"access_key": VT_ACCESS_KEY}


def test_clerk_receives_our_customers_and_no_leads(job, rsps):
    from integrations.models import IntegrationAccount

    with time_machine.travel(NOW):
        account = IntegrationAccount.objects.create(
            description="Shop search",
            platform="clerk",
            secrets={"public_key": "pub-123", "private_key": "priv-456"},
        )
        customer = contact_create(
            phone="+39 345 678 9012", name="Anna Neri", email="anna@example.com", kind="customer"
        )
        contact_create(phone="333 444 5566", name="Paolo Russo", kind="lead")
        rsps.post("https://api.clerk.io/v2/customers", json={"status": "ok"})
        run = run_job(job)

    assert run.outcome == JobRun.Outcome.SUCCESS, run.error
    [call] = rsps.calls
    assert json.loads(call.request.body) == {
        "key": "pub-123",
        "private_key": "priv-456",
        "customers": [
            {
                "id": str(customer.pk),
                "name": "Anna Neri",
                "email": "anna@example.com",
                "phone": "+393456789012",
            }
        ],
    }
    assert link_of(account, customer).external_id == str(customer.pk)
