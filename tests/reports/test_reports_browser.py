"""The reports page in Debian's chromium: a manager opens it from the menu, changes the filters,
sees the charts and downloads a CSV; a sales rep and quality control do not get it."""

import csv
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.models import Role
from tests.browser import ARTIFACTS
from tests.reports.conftest import conversation_at, message, named

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def yesterday_at(hour, minute=0):
    day = timezone.localdate() - timedelta(days=1)
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


@pytest.fixture
def staff(db):
    return {
        "manager": named("manager", "Maria", Role.MANAGER),
        "rep": named("rep", "Rita", Role.SALES_REP),
        "quality": named("quality", "Quinn", Role.QUALITY_CONTROL),
    }


@pytest.fixture
def yesterday(staff, channel, rr_channel):
    rep = staff["rep"]
    first = conversation_at(channel, "+393330000001", yesterday_at(10), assignee=rep)
    message(first, "in", yesterday_at(10))
    message(first, "out", yesterday_at(10, 5), by=rep)
    second = conversation_at(rr_channel, "+393330000002", yesterday_at(11), assignee=rep)
    message(second, "in", yesterday_at(11))
    message(second, "out", yesterday_at(11, 20), by=rep)
    message(second, "out", yesterday_at(12), type="template", status="failed", error_code=131026)
    return timezone.localdate() - timedelta(days=1)


def test_a_manager_reads_the_reports_filters_them_and_downloads_a_csv(
    page_for, staff, yesterday, rr_channel, tmp_path
):
    page = page_for(staff["manager"])
    page.click("#reports-link")
    page.wait_for_selector("#reports")
    assert page.locator(".flash").count() == 0
    assert page.input_value("#id_period") == "30"  # the default period, as the page says
    assert page.locator("figure.chart svg").count() >= 4
    assert page.locator("#report-first_response-agent figure svg").is_visible()
    assert "Rita" in page.inner_text("#report-first_response-agent")
    assert "131026" in page.inner_text("#report-failures")
    assert page.inner_text("#report-totals li:first-child strong") == "2"
    shot(page, "reports")

    page.select_option("#id_period", "7")
    page.click("#report-apply")
    page.wait_for_url("**/inbox/reports/?period=7*")
    first = yesterday - timedelta(days=5)
    assert page.locator("#report-conversations svg").is_visible()

    page.select_option("#id_channel", str(rr_channel.pk))
    page.click("#report-apply")
    page.wait_for_url(f"**channel={rr_channel.pk}*")
    assert page.inner_text("#report-totals li:first-child strong") == "1"

    with page.expect_download() as info:
        page.click("#report-conversations a.csv")
    download = info.value
    path = Path(tmp_path) / download.suggested_filename
    download.save_as(path)
    rows = list(csv.reader(path.open(encoding="utf-8")))
    assert rows[0][:3] == ["date", "opened", "closed"]
    assert len(rows) == 1 + 7
    by_day = {row[0]: row for row in rows[1:]}
    assert by_day[yesterday.isoformat()][1] == "1"  # one opened on the chosen channel
    assert by_day[yesterday.isoformat()][5] == "1"  # its failed template send
    assert first.isoformat() in by_day

    page.select_option("#id_period", "custom")
    page.fill("#id_start", yesterday.isoformat())
    page.fill("#id_end", (yesterday - timedelta(days=3)).isoformat())
    page.click("#report-apply")
    assert "The period ends before it starts." in page.inner_text("#report-error")
    shot(page, "reports-filtered")


@pytest.mark.parametrize("role", ["rep", "quality"])
def test_sales_reps_and_quality_control_get_no_reports(page_for, staff, sandbox, role):
    page = page_for(staff[role])
    assert page.locator("#reports-link").count() == 0
    response = page.goto(f"{sandbox}/inbox/reports/")
    assert response.status == 403
