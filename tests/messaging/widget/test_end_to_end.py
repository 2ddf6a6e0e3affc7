"""A visitor opens the widget on the shop's site and sends its pre-filled text from the sandbox
customer's phone: the conversation lands in the widget's service with the page recorded, and
the agent reads the text without the reference."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from accounts.models import AgentProfile, Role, User
from messaging.models import Conversation, Message
from tests.admin_browser import screenshot, settled
from tests.messaging.test_end_to_end import customer_types

from .conftest import PREFILLED, SITE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_sandbox_customer_who_sends_the_widget_text_lands_in_its_service(
    sandbox, widget, line, care, page_for
):
    rep = User.objects.create_user(
        username="carla", password="pw", first_name="Carla", is_staff=True
    )
    care.agents.add(AgentProfile.objects.create(user=rep, role=Role.SALES_REP))
    # The visitor opens the panel on a product page of the shop.
    links = requests.post(
        f"{sandbox}/widget/{widget.key}/reference",
        data={"page": f"{SITE}/cakes/tiramisu?utm_source=mail"},
        headers={"Origin": SITE},
        timeout=10,
    ).json()
    chat_link = links["entries"][0]["app"]
    text = parse_qs(urlsplit(chat_link).query)["text"][0]
    assert text == f"{PREFILLED} [W{links['reference']}]"

    customer_types(sandbox, line, text)

    message = settled(lambda: Message.objects.filter(direction="in").first())
    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.widget_id == widget.pk
    assert conversation.service_id == care.pk
    assert conversation.widget_page == f"{SITE}/cakes/tiramisu"
    assert message.text == PREFILLED
    assert links["reference"] in str(message.raw)

    page = page_for(rep)
    page.goto(f"{sandbox}/inbox/c/{conversation.pk}/")
    thread = page.locator("body")
    thread.get_by_text(PREFILLED).first.wait_for()
    assert links["reference"] not in thread.inner_text()
    assert page.locator("#widget-origin").inner_text() == (
        f"started from the website widget Shop chat on {SITE}/cakes/tiramisu"
    )
    screenshot(page, "widget-agent-conversation")
