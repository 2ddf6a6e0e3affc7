"""The widget's public URLs: the embed script and its versioned app, the configuration and the
references for allowed sites only, the QR codes, and the demo page."""

from datetime import datetime
from urllib.parse import quote

import pytest
import segno
import time_machine
from django.utils import timezone

from messaging.models import WidgetReference
from messaging.services.widgets import entry_qr, widget_embed_snippet
from messaging.widget_views import widget_app_script

from .conftest import PREFILLED, SITE

pytestmark = pytest.mark.django_db


def config(client, widget, origin=SITE, **params):
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    return client.get(f"/widget/{widget.key}/config", params, **headers)


def reference(client, widget, origin=SITE, page=f"{SITE}/shoes?email=a@b.c"):
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    return client.post(f"/widget/{widget.key}/reference", {"page": page}, **headers)


def test_the_embed_script_loads_the_versioned_app_and_is_cached_briefly(client, widget, settings):
    settings.PUBLIC_BASE_URL = "https://switchboard.example.com"
    _, version = widget_app_script()

    response = client.get(f"/widget/{widget.key}.js")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Cache-Control"] == "public, max-age=300"
    body = response.content.decode()
    assert f"https://switchboard.example.com/widget/app.{version}.js" in body
    assert widget.key in body
    assert widget_embed_snippet(widget=widget) == (
        f'<script src="https://switchboard.example.com/widget/{widget.key}.js" async></script>'
    )
    assert response.cookies == {}


def test_the_app_is_cached_for_a_year_at_its_version(client):
    text, version = widget_app_script()
    response = client.get(f"/widget/app.{version}.js")
    assert response.content.decode() == text
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    old = client.get("/widget/app.000000000000.js")
    assert old["Cache-Control"] == "public, max-age=300"


def test_the_app_travels_gzipped_in_under_four_kilobytes(client):
    """The README's figure: the widget's script as a browser downloads it."""
    _, version = widget_app_script()
    response = client.get(f"/widget/app.{version}.js", HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] == "gzip"
    assert len(response.content) < 4 * 1024
    assert "Accept-Encoding" in response["Vary"]


def test_an_unknown_or_inactive_widget_gets_nothing(client, widget):
    assert client.get("/widget/nosuchkey.js").status_code == 404
    widget.is_active = False
    widget.save()
    assert client.get(f"/widget/{widget.key}.js").status_code == 404
    assert config(client, widget).status_code == 404


def test_an_allowed_site_reads_the_config_with_cors(client, widget):
    response = config(client, widget, lang="it-IT")

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SITE
    assert "Origin" in response["Vary"]
    assert "frame-ancestors 'self' https://shop.example.com" in response["Content-Security-Policy"]
    data = response.json()
    assert data["language"] == "it"
    assert data["strings"]["open"] == "Scrivici"
    assert [(e["kind"], e["label"]) for e in data["entries"]] == [
        ("whatsapp", "WhatsApp"),
        ("telegram", "Telegram"),
    ]
    assert response.cookies == {}


@pytest.mark.parametrize("origin", ["https://evil.example.net", "http://shop.example.com", ""])
def test_another_site_gets_nothing(client, widget, origin):
    response = config(client, widget, origin=origin)
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert response.content == b""

    refused = reference(client, widget, origin=origin)
    assert refused.status_code == 403
    assert not WidgetReference.objects.exists()


def test_a_fixed_language_wins_over_the_visitors(client, widget):
    widget.language = "en"
    widget.save()
    assert config(client, widget, lang="it").json()["strings"]["open"] == "Chat with us"


def test_outside_business_hours_the_widget_says_when_the_team_answers(client, widget):
    widget.hours_days = "12345"
    widget.opens_at, widget.closes_at = (
        datetime(2026, 1, 1, 9).time(),
        datetime(2026, 1, 1, 18).time(),
    )
    widget.save()
    saturday = timezone.make_aware(datetime(2026, 12, 5, 11, 0))
    with time_machine.travel(saturday, tick=False):
        data = config(client, widget).json()
    assert data["openNow"] is False
    assert data["hours"] == "We answer Monday to Friday, 09:00-18:00."
    with time_machine.travel(saturday, tick=False):
        italian = config(client, widget, lang="it").json()["hours"]
    assert italian == "Rispondiamo da lunedì a venerdì, 09:00-18:00."
    widget.hours_days = "136"
    widget.save()
    with time_machine.travel(saturday, tick=False):
        assert config(client, widget).json()["hours"] == (
            "We answer Monday, Wednesday and Saturday, 09:00-18:00."
        )
    monday = timezone.make_aware(datetime(2026, 12, 7, 11, 0))
    with time_machine.travel(monday, tick=False):
        assert config(client, widget).json()["openNow"] is True


def test_opening_the_panel_issues_a_reference_for_the_page_and_links_that_carry_it(
    client, widget, line
):
    response = reference(client, widget)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SITE
    stored = WidgetReference.objects.get()
    assert stored.page_url == f"{SITE}/shoes"  # no query string: it may carry personal data
    data = response.json()
    assert data["reference"] == stored.code
    whatsapp, telegram = data["entries"]
    text = quote(f"{PREFILLED} [W{stored.code}]")
    assert whatsapp["app"] == f"https://wa.me/15550199234?text={text}"
    assert whatsapp["web"] == f"https://web.whatsapp.com/send?phone=15550199234&text={text}"
    assert whatsapp["qr"].endswith(
        f"/widget/{widget.key}/qr/{whatsapp['id']}.svg?ref={stored.code}"
    )
    assert telegram["app"] == f"https://t.me/helpdesk_hub_test_bot?start=widget-{stored.code}"
    assert telegram["web"] == ""


def test_a_page_of_another_site_is_not_believed(client, widget):
    reference(client, widget, page="https://elsewhere.example.net/x")
    assert WidgetReference.objects.get().page_url == ""


def test_the_qr_is_an_svg_of_the_chat_link_and_cached(client, widget):
    reference(client, widget)
    stored = WidgetReference.objects.get()
    entry = widget.entries.get(position=0)

    response = client.get(f"/widget/{widget.key}/qr/{entry.pk}.svg?ref={stored.code}")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response["Cache-Control"] == "public, max-age=86400"
    assert response.content.startswith(b"<svg")
    expected = segno.make(
        f"https://wa.me/15550199234?text={quote(f'{PREFILLED} [W{stored.code}]')}", error="m"
    )
    assert entry_qr(entry=entry, reference=stored).matrix == expected.matrix
    forged = client.get(f"/widget/{widget.key}/qr/{entry.pk}.svg?ref=ABCDEF")
    assert forged.status_code == 404


def test_an_entry_that_cannot_open_a_chat_is_left_out(client, widget, line):
    line.display_number = ""
    line.save()
    assert [e["kind"] for e in config(client, widget).json()["entries"]] == ["telegram"]


def test_the_demo_page_is_part_of_the_sandbox(client, widget, settings):
    settings.SANDBOX_ENABLED = False
    assert client.get("/widget/demo/").status_code == 404
    settings.SANDBOX_ENABLED = True
    settings.PUBLIC_BASE_URL = SITE
    page = client.get("/widget/demo/")
    assert page.status_code == 200
    assert widget_embed_snippet(widget=widget) in page.content.decode()
    settings.PUBLIC_BASE_URL = "https://not-allowed.example.com"
    assert "No active widget allows this site" in client.get("/widget/demo/").content.decode()
