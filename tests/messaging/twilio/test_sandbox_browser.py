"""The sandbox's Twilio customer page in a real browser: pick the sender, type, share a location
and a photo, tap a quick reply. Each action posts a signed form webhook that Switchboard stores."""

import pytest

from messaging.models import Message
from tests.admin_browser import screenshot, settled

from .test_end_to_end import line  # noqa: F401 - a pytest fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_customer_chats_through_the_twilio_sandbox_page(sandbox, line, browser):  # noqa: F811
    from crm.models import Contact
    from crm.services_consent import consent_record
    from messaging.models import MessageTemplate
    from messaging.services import message_send_template

    context = browser.new_context(viewport={"width": 420, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15000)
    # From the Meta sandbox's page, as a new user finds it.
    page.goto(f"{sandbox}/sandbox/")
    page.click("a:text-is('The Twilio WhatsApp sandbox')")
    page.wait_for_url(f"{sandbox}/sandbox/twilio/")
    assert "TWILIO_API_BASE_URL" not in page.inner_text("main")  # Switchboard sends here
    page.select_option("select[name=channel]", line.external_id)
    page.fill("input[name=number]", "+39 333 765 4321")
    page.fill("input[name=name]", "Olivia Bennett")
    page.click("button:text-is('Open chat')")
    page.wait_for_selector("#composer")

    page.fill("#text", "Hi, my parcel is late")
    page.click("#composer button[type=submit]")
    page.wait_for_selector("#note.ok")
    assert page.inner_text("#note") == "Switchboard answered HTTP 200"
    page.click("button[data-send=location]")
    page.wait_for_selector(".msg.mine >> nth=1")
    page.click("button[data-send=image]")
    page.wait_for_selector(".msg.mine >> nth=2")
    assert settled(lambda: Message.objects.filter(direction="in").count() == 3)
    kinds = sorted(Message.objects.filter(direction="in").values_list("type", flat=True))
    assert kinds == ["image", "location", "text"]

    contact = Contact.objects.get()
    assert contact.name == "Olivia Bennett"
    welcome = MessageTemplate.objects.get(name="welcome_quick_reply")
    # A marketing template: it goes only to someone who opted in.
    consent_record(contact=contact, purpose="marketing", state="opted_in", source="widget")
    message_send_template(channel=line, contact=contact, template=welcome, body_params=["Olivia"])
    page.wait_for_selector("button:text-is('Talk to an agent')")
    page.click("button:text-is('Talk to an agent')")
    tap = settled(lambda: Message.objects.filter(direction="in", type="button").first())
    assert tap.payload == {"text": "Talk to an agent", "payload": "agent"}
    page.wait_for_selector(".msg.theirs .ticks.read")
    screenshot(page, "twilio_sandbox_chat")
    # Back to the list of senders, and from there to the Meta sandbox.
    page.click("a[aria-label=Back]")
    page.wait_for_url(f"{sandbox}/sandbox/twilio/")
    page.click("a:text-is('The WhatsApp Cloud (Meta) sandbox')")
    page.wait_for_url(f"{sandbox}/sandbox/")
    context.close()
