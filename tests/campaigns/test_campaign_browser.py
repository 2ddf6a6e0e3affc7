"""The campaign pages in Debian's chromium: create a campaign in the admin, preview it, start it,
watch the progress bar move, pause, resume to the end, read the totals and the recipient table,
download the CSV; cancel a draft. Sends go to the sandbox over real HTTP."""

import threading
from pathlib import Path

import pytest
from django.db import connection

from crm.models import Contact
from integrations.campaign_models import Campaign, CampaignRecipient
from integrations.services import campaigns as services
from messaging.models import Message, MessageTemplate
from messaging.sandbox.emulator import find_template
from tests.admin_browser import admin_messages, admin_page, screenshot, settled

from .conftest import opted_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAMES = [
    "Anna",
    "Bruno",
    "Carla",
    "Dario",
    "Elena",
    "Fabio",
    "Gina",
    "Ivo",
    "Luca",
    "Marta",
    "Nino",
    "Olga",
    "Paolo",
    "Rita",
    "Sara",
    "Tino",
]


@pytest.fixture
def cart_template(wa_account):
    sandbox = find_template("cart_reminder", "en_US")
    return MessageTemplate.objects.create(
        account=wa_account,
        external_id=sandbox["id"],
        name="cart_reminder",
        language="en_US",
        category="MARKETING",
        status="APPROVED",
        components=sandbox["components"],
        body_param_count=1,
        header_format="TEXT",
    )


@pytest.fixture
def audience(db):
    people = [
        opted_in(
            Contact.objects.create(
                phone=f"+3933312300{n:02d}", name=f"{name} Test", kind="customer"
            )
        )
        for n, name in enumerate(NAMES)
    ]
    Contact.objects.create(phone="+393331239999", name="Zeno Lead", kind="lead")
    return people


@pytest.fixture
def background_worker(monkeypatch):
    """Starting a campaign hands it to a worker, as the task cluster would: here a thread."""
    threads = []

    def enqueue(*, campaign_id):
        def work():
            try:
                services.campaign_run(campaign_id=campaign_id, concurrency=2, batch_size=4)
            finally:
                connection.close()

        thread = threading.Thread(target=work, daemon=True)
        threads.append(thread)
        thread.start()

    monkeypatch.setattr(services, "campaign_run_enqueue", enqueue)
    yield threads
    for thread in threads:
        thread.join(timeout=30)


def _create(page, base, *, throttle="1"):
    page.goto(f"{base}/admin/integrations/campaign/add/")
    page.fill("#id_name", "Cart reminder")
    page.select_option("#id_template", label="cart_reminder [en_US] (APPROVED)")
    page.fill("#id_parameters_text", "contact.first_name")
    page.select_option("#id_channel", index=1)
    page.select_option("#id_segment_kind", value="customer")
    page.fill("#id_throttle_per_second", throttle)
    page.click("input[name=_continue]")
    page.wait_for_load_state()
    return Campaign.objects.get(name="Cart reminder")


def press(page, selector: str) -> None:
    """Click a button that posts and wait for the page it leads to."""
    with page.expect_navigation():
        page.click(selector)


def _percent(page) -> int:
    return int(page.get_attribute("#campaign-progress", "aria-valuenow"))


def test_a_manager_creates_previews_runs_pauses_and_resumes_a_campaign(
    page_for, sandbox, wa_channel, cart_template, audience, background_worker
):
    _, page = admin_page(page_for)
    campaign = _create(page, sandbox)
    assert campaign.status == Campaign.Status.DRAFT
    assert campaign.parameters == ["contact.first_name"]
    assert campaign.segment == {"kind": "customer"}

    press(page, "#campaign-preview")
    result = page.locator("#campaign-preview-result")
    assert f"{len(NAMES)} contacts in the audience" in result.inner_text()
    samples = result.locator("li").all_inner_texts()
    assert samples == [
        f"{name} Test (+3933312300{n:02d}): Hi {name}, your cart is still waiting for you."
        for n, name in enumerate(NAMES[:3])
    ]
    screenshot(page, "campaign_preview")

    press(page, "#campaign-start")
    assert admin_messages(page) == ["The campaign started."]
    # One a second: the bar, empty when the page arrived, moves while the page watches it.
    assert page.get_attribute("#campaign-progress", "aria-valuenow") == "0"
    assert page.eval_on_selector("#campaign-progress .bar", "bar => bar.style.width") == "0%"
    moved = settled(lambda: _percent(page) or None, seconds=20)
    assert moved is not None and 0 < moved < 100
    width = page.eval_on_selector("#campaign-progress .bar", "bar => bar.style.width")
    assert width == f"{moved}%"
    screenshot(page, "campaign_running")

    press(page, "#campaign-pause")
    assert admin_messages(page) == ["The campaign is paused."]
    assert page.inner_text("#campaign-status") == "Paused"
    for thread in background_worker:
        thread.join(timeout=30)
    handed = CampaignRecipient.objects.filter(campaign=campaign, state="settled").count()
    assert 0 < handed < len(NAMES)
    # Nothing more goes while paused.
    assert Message.objects.filter(template=cart_template).count() == handed
    screenshot(page, "campaign_paused")

    press(page, "#campaign-resume")
    assert admin_messages(page) == ["The campaign resumed."]
    # The page reloads itself when the run ends, with the totals and the recipient table.
    page.wait_for_function(
        "document.getElementById('campaign-status').textContent === 'Finished'", timeout=60000
    )
    page.wait_for_load_state()
    assert page.get_attribute("#campaign-progress", "aria-valuenow") == "100"
    assert page.inner_text("[data-total='total']") == str(len(NAMES))
    assert page.inner_text("[data-total='failed']") == "0"
    rows = page.locator("#campaign-recipients tbody tr").all_inner_texts()
    assert len(rows) == len(NAMES)
    assert all(any(s in row for s in ("sent", "delivered", "read")) for row in rows)
    screenshot(page, "campaign_finished")

    with page.expect_download() as download:
        page.click("#campaign-csv")
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("contact_id,name,phone,status")
    assert len(lines) == 1 + len(NAMES)
    assert Message.objects.filter(template=cart_template).count() == len(NAMES)


def test_a_manager_cancels_a_draft_campaign(
    page_for, sandbox, wa_channel, cart_template, audience, background_worker
):
    _, page = admin_page(page_for)
    campaign = _create(page, sandbox)
    page.on("dialog", lambda dialog: dialog.accept())
    press(page, "#campaign-cancel")
    assert admin_messages(page) == ["The campaign is cancelled."]
    assert page.inner_text("#campaign-status") == "Cancelled"
    assert page.locator("#campaign-start").count() == 0
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED
    assert not Message.objects.filter(template=cart_template).exists()


def test_the_form_says_what_is_wrong(page_for, sandbox, wa_channel, cart_template, audience):
    _, page = admin_page(page_for)
    page.goto(f"{sandbox}/admin/integrations/campaign/add/")
    page.fill("#id_name", "Broken")
    page.select_option("#id_template", label="cart_reminder [en_US] (APPROVED)")
    page.fill("#id_parameters_text", "contact.shoe_size")
    page.select_option("#id_channel", index=1)
    page.click("input[name=_continue]")
    assert "is not a contact field" in page.inner_text(".errorlist")
    assert not Campaign.objects.exists()
