"""The Wazzup chat window: the iframe request for a client's card or for all chats, and the
"Wazzup chat" buttons of the inbox and the contact page clicked in a browser (the sandbox serves
the iframe)."""

import json

import pytest
import responses

from accounts.models import Role
from crm.models import Contact
from integrations.models import IntegrationAccount
from messaging.models import Channel, Conversation
from messaging.providers.base import Address
from messaging.providers.wazzup import WazzupProvider
from messaging.sandbox import wazzup as emulator
from tests.admin_browser import admin_page, screenshot
from tests.wazzup.conftest import API, WHATSAPP_CHANNEL, fixture_json, make_agent


@responses.activate
def test_the_card_request_names_the_clients_chats_and_the_active_one():
    responses.post(f"{API}/iframe", json=fixture_json("iframe_ok.json"))
    provider = WazzupProvider(
        settings={}, secrets={"api_key": "k"}, channel_config={"transport": "whatsapp"}
    )
    url = provider.chat_window_url(
        user_id="crm-user-17",
        user_name="Anna Petrova",
        chats=(Address("whatsapp", "+447700900123"), Address("whatsapp_bsuid", "US.1")),
        name="Olivia Bennett",
        channel_external_id=WHATSAPP_CHANNEL,
    )
    assert url == fixture_json("iframe_ok.json")["url"]
    sent = json.loads(responses.calls[0].request.body)
    expected = fixture_json("iframe_request.json")
    expected.pop("options")  # the window's browser events are not used: webhooks are (7.5)
    assert sent == expected


@responses.activate
def test_the_global_window_has_no_filter():
    responses.post(f"{API}/iframe", json=fixture_json("iframe_ok.json"))
    provider = WazzupProvider(settings={}, secrets={"api_key": "k"})
    provider.chat_window_url(user_id="7", user_name="Anna")
    assert json.loads(responses.calls[0].request.body) == {
        "user": {"id": "7", "name": "Anna"},
        "scope": "global",
    }


@pytest.fixture
def wazzup_world(sandbox):
    account = IntegrationAccount.objects.create(
        description="Wazzup", platform="wazzup", secrets={"api_key": "window-key"}
    )
    channel = Channel.objects.create(
        account=account,
        provider="wazzup",
        name="Wazzup WhatsApp",
        transport="whatsapp",
        external_id=emulator.WHATSAPP_CHANNEL_ID,
        config={"transport": "whatsapp", "state": "active"},
    )
    contact = Contact.objects.create(phone="+447700900123", name="Olivia Bennett")
    conversation = Conversation.objects.create(channel=channel, contact=contact)
    return channel, contact, conversation


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_inbox_buttons_open_the_window_for_the_current_user(page_for, wazzup_world):
    conversation = wazzup_world[2]
    manager = make_agent("marta", role=Role.MANAGER)
    page = page_for(manager)
    page.click("#chat-window-link:text-is('Wazzup chat')")
    frame = page.frame_locator("#chat-window")
    assert "Opened for Marta, scope global." in frame.locator("main").inner_text()

    page.goto(page.url.split("/inbox/")[0] + f"/inbox/c/{conversation.pk}/")
    page.click("#chat-window-link:text-is('Wazzup chat')")
    text = frame.locator("main").inner_text()
    assert "scope card" in text
    assert "whatsapp 447700900123 Olivia Bennett" in text
    assert page.locator("h1").inner_text() == "Wazzup chat: Olivia Bennett"
    screenshot(page, "wazzup_chat_window")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_contact_page_button_opens_the_clients_window(page_for, wazzup_world, sandbox):
    _, contact, _ = wazzup_world
    _, page = admin_page(page_for)
    page.goto(f"{sandbox}/admin/crm/contact/{contact.pk}/change/")
    page.click("#chat-window-link:text-is('Wazzup chat')")
    text = page.frame_locator("#chat-window").locator("main").inner_text()
    assert "Opened for Boss, scope card." in text
    assert "whatsapp 447700900123" in text


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_refused_window_is_said_on_the_page(page_for, wazzup_world, sandbox):
    channel, _, conversation = wazzup_world
    channel.account.secrets = {"api_key": "sidecar-key"}
    channel.account.save()
    agent = make_agent("luca", role=Role.MANAGER, channels=[channel])
    page = page_for(agent)
    page.goto(f"{sandbox}/inbox/c/{conversation.pk}/")
    page.click("#chat-window-link")
    assert "Wazzup 403" in page.inner_text("#chat-window-error")
