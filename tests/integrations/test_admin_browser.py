"""The integration pages of the admin in a real browser (Debian's chromium driven by Playwright)
against a live server: the sync jobs' actions, an account's "Verify credentials", pushing a
contact to an account, and syncing a channel's templates from the sandbox. Each is clicked as an
administrator clicks it; the test checks the message and the table the page then shows.

CRM platforms are answered by `responses`, which stands in for the network in every thread of
the process, the live server's included."""

import json
from datetime import time

import pytest
import responses
from playwright.sync_api import expect

from crm.models import Contact
from integrations.models import ExternalLink, JobRun, SyncJob
from messaging.models import Channel, MessageTemplate
from tests.admin_browser import (
    admin_messages,
    admin_page,
    cell,
    choose_action,
    form_owner_id,
    screenshot,
)
from tests.messaging import conftest as messaging_fixtures

from .crm_mocks import load, vt_account, vt_calls, vt_login, vt_logout, vt_post

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

JOBS = "/admin/integrations/syncjob/"

# The WhatsApp account and channel of the messaging tests (for the template sync).
wa_account = messaging_fixtures.wa_account
wa_channel = messaging_fixtures.wa_channel


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def jobs(db):
    return {
        "close": SyncJob.objects.create(name="close_conversations", every_seconds=300),
        "sync": SyncJob.objects.create(
            name="sync_customers", schedule_kind="daily", daily_at=time(17, 45)
        ),
    }


@pytest.fixture
def jobs_page(sandbox, page_for, jobs):
    _, page = admin_page(page_for)
    page.goto(f"{sandbox}{JOBS}")
    return page


def test_run_now_shows_the_message_and_the_rows_last_run(jobs, jobs_page):
    assert cell(jobs_page, "close_conversations", "last_run_at") == "-"
    choose_action(jobs_page, ["close_conversations"], "Run now")
    jobs_page.wait_for_selector("ul.messagelist")
    assert admin_messages(jobs_page) == [
        "Close_conversations: started; its run appears below the job."
    ]
    assert cell(jobs_page, "close_conversations", "last_run_at") != "-"
    assert cell(jobs_page, "sync_customers", "last_run_at") == "-"  # not ticked, not run
    run = JobRun.objects.get()
    assert (run.job_id, run.outcome, run.manual) == (jobs["close"].pk, "success", True)
    # The job's page lists the run with its counts.
    jobs_page.click("a:text-is('close_conversations')")
    # Retried until the page has arrived whole: read too early, the table may hold its header only.
    expect(jobs_page.locator(".field-recent_runs")).to_contain_text("conversations_closed 0")


def test_set_the_schedule_asks_for_it_then_the_row_shows_it(jobs, jobs_page):
    choose_action(jobs_page, ["close_conversations", "sync_customers"], "Set the schedule")
    jobs_page.wait_for_selector("h1:text-is('Set the schedule')")
    assert jobs_page.locator("h1").count() == 1  # the admin's title, not a second one
    jobs_page.check("input[name=kind][value=interval]")
    jobs_page.fill("input[name=every_seconds]", "900")
    jobs_page.fill("input[name=window_days]", "3")
    screenshot(jobs_page, "admin-syncjob-set-schedule")
    jobs_page.click("input[type=submit][value='Save the schedule']")
    jobs_page.wait_for_selector("ul.messagelist")
    assert sorted(admin_messages(jobs_page)) == [
        "Close_conversations: every 900 s, window 3 d.",
        "Sync_customers: every 900 s, window 3 d.",
    ]
    assert cell(jobs_page, "close_conversations", "schedule") == "every 900 s"
    assert cell(jobs_page, "sync_customers", "schedule") == "every 900 s"
    assert cell(jobs_page, "sync_customers", "window_days") == "3"


def test_a_bad_schedule_is_refused_on_its_page_and_nothing_changes(jobs, jobs_page):
    choose_action(jobs_page, ["sync_customers"], "Set the schedule")
    jobs_page.check("input[name=kind][value=daily]")
    jobs_page.fill("input[name=daily_at]", "")
    jobs_page.click("input[type=submit][value='Save the schedule']")
    jobs_page.wait_for_selector("text=A daily schedule needs a time, as HH:MM.")
    jobs["sync"].refresh_from_db()
    assert jobs["sync"].daily_at == time(17, 45)


def test_reset_attempts_starts_a_stopped_job_again(jobs, jobs_page):
    SyncJob.objects.filter(pk=jobs["sync"].pk).update(
        state="stopped", attempts=5, last_error="CRM down"
    )
    jobs_page.reload()
    assert cell(jobs_page, "sync_customers", "attempts_label") == "5 / 5"
    assert cell(jobs_page, "sync_customers", "state") == "Stopped"
    choose_action(jobs_page, ["sync_customers"], "Reset attempts (starts a stopped job again)")
    jobs_page.wait_for_selector("ul.messagelist")
    assert admin_messages(jobs_page) == ["1 job(s) reset: attempts back to 0."]
    assert cell(jobs_page, "sync_customers", "attempts_label") == "0 / 5"
    assert cell(jobs_page, "sync_customers", "state") == "Idle"
    assert cell(jobs_page, "sync_customers", "last_error_short") == "-"  # CRM down is gone


def test_verify_credentials_on_the_account_page_shows_what_the_platform_said(
    sandbox, page_for, rsps
):
    account = vt_account(description="Main CRM")
    vt_login(rsps)
    _, page = admin_page(page_for)
    page.goto(f"{sandbox}/admin/integrations/integrationaccount/{account.pk}/change/")
    button = "button:text-is('Verify credentials')"
    # Its own form, not one nested in the admin's change form.
    action = page.locator(button).evaluate("(el) => el.form && el.form.action")
    assert action.endswith(f"/integrationaccount/{account.pk}/verify/")
    assert form_owner_id(page, "input[name=_save]") == "integrationaccount_form"
    page.click(button)
    page.wait_for_selector("ul.messagelist")
    assert admin_messages(page) == [
        "Main CRM (vtenext / vtiger CRM): credentials verified. Logged in as admin (vtiger 7.5.0)"
    ]
    assert page.inner_text(".field-is_healthy img").strip() == ""  # an icon...
    assert page.get_attribute(".field-is_healthy img", "alt") == "True"  # ...saying yes

    rsps.reset()
    vt_login(rsps, "login_error_invalid_credentials")
    page.click(button)
    page.wait_for_selector("ul.messagelist li.error")
    [said] = admin_messages(page)
    assert said.startswith("Main CRM (vtenext / vtiger CRM): verification failed.")
    assert "INVALID_USER_CREDENTIALS" in page.inner_text(".field-last_error")


def test_push_to_an_account_from_the_contact_page_shows_its_new_id(sandbox, page_for, rsps):
    account = vt_account(description="Main CRM")
    contact = Contact.objects.create(phone="+393205550101", name="Sofia Romano", kind="lead")
    vt_login(rsps)
    vt_post(rsps, "create", load("vtenext", "create_lead_ok"))
    vt_logout(rsps)
    _, page = admin_page(page_for)
    page.goto(f"{sandbox}/admin/crm/contact/{contact.pk}/change/")
    page.click("text=Push it now to an account…")
    page.wait_for_selector("h1:has-text('Send contact')")
    assert page.locator("h1").count() == 1
    page.select_option("select[name=account]", label=str(account))
    page.click("input[type=submit][value='Send now']")
    page.wait_for_selector("p.success")
    assert (
        page.inner_text("p.success")
        == "Sent to Main CRM (vtenext / vtiger CRM): its id there is 10x1090."
    )
    assert "10x1090" in page.inner_text("ul")  # listed under "Already linked"
    [create] = vt_calls(rsps, "create")
    assert json.loads(create["element"])["mobile"] == "+393205550101"
    link = ExternalLink.objects.get(account=account, object_type="contact", local_id=contact.pk)
    assert link.external_id == "10x1090"
    screenshot(page, "admin-push-contact")


def test_sync_templates_on_the_channel_list_reads_the_sandboxs_templates(
    sandbox, page_for, wa_channel
):
    _, page = admin_page(page_for)
    page.goto(f"{sandbox}/admin/messaging/channel/")
    choose_action(page, ["Support line"], "Sync templates now (for the channel's account)")
    page.wait_for_selector("ul.messagelist")
    [said] = admin_messages(page)
    created = MessageTemplate.objects.filter(account=wa_channel.account).count()
    assert created > 0
    assert said.startswith(f"{wa_channel.account}: ") and f"{created} new" in said
    page.goto(f"{sandbox}/admin/messaging/messagetemplate/")
    assert page.locator("#result_list tbody tr").count() == created
    assert Channel.objects.count() == 1
