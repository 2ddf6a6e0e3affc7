"""The widget admin without a browser: what a bad form says, the poster files, and the list's
query count."""

import pytest
from django.urls import reverse

from accounts.models import User
from messaging.models import Channel, Widget, WidgetReference

from .conftest import SITE, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(client):
    user = User.objects.create_superuser("boss", password="pw")
    client.force_login(user)
    return user


def form_data(widget, **changes):
    entries = list(widget.entries.all())
    data = {
        "name": widget.name,
        "is_active": "on",
        "service": widget.service_id,
        "allowed_origins": widget.allowed_origins,
        "greeting": widget.greeting,
        "language": widget.language,
        "color": widget.color,
        "text_color": widget.text_color,
        "position": widget.position,
        "hours_days": widget.hours_days,
        "opens_at": "",
        "closes_at": "",
        "entries-TOTAL_FORMS": str(len(entries)),
        "entries-INITIAL_FORMS": str(len(entries)),
        "entries-MIN_NUM_FORMS": "0",
        "entries-MAX_NUM_FORMS": "1000",
    }
    for n, entry in enumerate(entries):
        data.update(
            {
                f"entries-{n}-id": entry.pk,
                f"entries-{n}-widget": widget.pk,
                f"entries-{n}-position": entry.position,
                f"entries-{n}-channel": entry.channel_id,
                f"entries-{n}-label": entry.label,
                f"entries-{n}-prefilled_text": entry.prefilled_text,
            }
        )
    data.update(changes)
    return data


def change_url(widget):
    return reverse("admin:messaging_widget_change", args=[widget.pk])


def test_it_saves_a_good_form(client, boss, widget):
    response = client.post(change_url(widget), form_data(widget, greeting="Ciao!"))
    assert response.status_code == 302
    widget.refresh_from_db()
    assert widget.greeting == "Ciao!"


def test_an_origin_with_a_path_is_refused_and_nothing_is_lost(client, boss, widget):
    response = client.post(
        change_url(widget),
        form_data(widget, allowed_origins=f"{SITE}\nhttps://blog.example.com/posts", greeting="X"),
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Write each site as its origin only" in body
    assert "https://blog.example.com/posts" in body  # what was typed stays in the form
    widget.refresh_from_db()
    assert widget.greeting != "X"


def test_a_whatsapp_line_of_another_service_is_refused(client, boss, widget, wa_account):
    other = Channel.objects.create(
        name="Other line",
        account=wa_account,
        provider="whatsapp_cloud",
        external_id="555",
        display_number="+15550000000",
    )
    response = client.post(change_url(widget), form_data(widget, **{"entries-0-channel": other.pk}))
    assert response.status_code == 200
    assert "Other line is not a channel of the widget&#x27;s service." in response.content.decode()


def test_half_business_hours_are_refused(client, boss, widget):
    response = client.post(change_url(widget), form_data(widget, opens_at="09:00"))
    assert "Give both the opening and the closing time" in response.content.decode()


def test_the_posters_are_png_and_svg_of_a_reference_that_never_expires(client, boss, widget):
    entry = widget.entries.get(position=0)
    png = client.get(reverse("admin:messaging_widget_poster", args=[widget.pk, entry.pk, "png"]))
    svg = client.get(reverse("admin:messaging_widget_poster", args=[widget.pk, entry.pk, "svg"]))

    assert png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    assert "attachment" in png["Content-Disposition"]
    assert svg["Content-Type"] == "image/svg+xml"
    assert b"<svg" in svg.content
    poster = WidgetReference.objects.get()
    assert poster.is_poster and poster.page_url == "poster"
    gif = reverse("admin:messaging_widget_poster", args=[widget.pk, entry.pk, "gif"])
    assert client.get(gif).status_code == 404


def test_the_list_costs_the_same_for_many_widgets(
    client, boss, widget, line, django_assert_max_num_queries
):
    for n in range(5):
        Widget.objects.create(name=f"W{n}", service=widget.service, allowed_origins=SITE)
    receive(line, "hello")
    with django_assert_max_num_queries(8):
        response = client.get(reverse("admin:messaging_widget_changelist"))
    assert response.status_code == 200


def test_the_widget_page_costs_the_same_for_many_started_conversations(client, boss, widget, line):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from messaging.services.widget_reference import reference_text, widget_reference_issue

    def started(n):
        reference = widget_reference_issue(widget=widget, page_url=f"{SITE}/p{n}")
        receive(line, f"Hi {reference_text(code=reference.code)}", n=n, sender=f"3933300000{n:02}")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(reverse("admin:messaging_widget_change", args=[widget.pk]))
        assert response.status_code == 200
        return len(captured)

    started(0)
    one = queries()
    for n in range(1, 12):
        started(n)
    assert queries() == one
    body = client.get(reverse("admin:messaging_widget_change", args=[widget.pk])).content.decode()
    assert f"{SITE}/p11" in body
