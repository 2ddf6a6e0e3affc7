"""The reply box in a real browser (Debian's chromium driven by Playwright), sending through the
sandbox over real HTTP: a canned response with variables, an attachment uploaded to the
provider, a quoted message (also one that arrived after the page loaded), Ctrl+Enter, and an
internal note that never reaches the customer."""

import pytest

from accounts.models import Role
from messaging.models import Conversation, Message
from messaging.sandbox import emulator
from tests.admin_browser import business_bubbles, business_texts, screenshot, settled
from tests.inbox.conftest import make_user
from tests.inbox.test_browser_actions import png
from tests.messaging.test_end_to_end import customer_types, wait_for
from tickets.models import ConversationNote
from tickets.models_inbox import CannedResponse

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def rep(channel):
    return make_user("rep", Role.SALES_REP, channels=[channel])


def customer_conversation(sandbox, channel, text="Ciao, is my order ready?"):
    customer_types(sandbox, channel, text)
    return wait_for(lambda: Conversation.objects.filter(channel=channel).first())


def open_page(page, sandbox, conversation, text):
    page.goto(f"{sandbox}/inbox/c/{conversation.pk}/")
    page.wait_for_selector(f"text={text}")


def test_a_canned_response_fills_its_variables_asks_for_the_rest_and_reaches_the_customer(
    sandbox, channel, rep, page_for
):
    CannedResponse.objects.create(
        shortcode="ready",
        title="Order ready",
        text="Hi {{contact.first_name}}, {{agent.name}} here: {{ticket.number}} is ready, "
        "code {{order.code}}.",
    )
    CannedResponse.objects.create(shortcode="other", title="Someone else's", text="x", owner=None)
    conversation = customer_conversation(sandbox, channel)
    conversation.refresh_from_db()
    ticket_number = conversation.ticket.number
    page = page_for(rep)
    open_page(page, sandbox, conversation, "Ciao, is my order ready?")

    page.click("#reply-text")
    page.keyboard.type("/rea")
    menu = page.locator("#canned-menu")
    menu.locator("li[data-id]").first.wait_for()
    assert menu.locator("li[data-id]").count() == 1  # "/rea" matches one shortcode
    assert "/ready" in menu.inner_text()
    page.keyboard.press("Enter")
    expected_known = f"Hi Sandbox, Rep here: {ticket_number} is ready, code {{{{order.code}}}}."
    assert page.input_value("#reply-text") == expected_known
    # The one value Switchboard cannot know is asked for; sending before it is filled is held.
    assert page.is_visible("#canned-vars")
    page.keyboard.press("Control+Enter")
    assert page.is_visible("#attach-error")
    assert Message.objects.filter(direction="out").count() == 0
    page.fill("#canned-vars input[data-variable='order.code']", "A-17")
    page.click("#canned-vars-apply")
    assert page.is_hidden("#canned-vars")
    final = f"Hi Sandbox, Rep here: {ticket_number} is ready, code A-17."
    assert page.input_value("#reply-text") == final
    screenshot(page, "composer-canned")

    page.focus("#reply-text")
    page.keyboard.press("Control+Enter")  # sends without the mouse
    sent = wait_for(lambda: Message.objects.filter(direction="out").first())
    assert sent.text == final
    page.wait_for_selector(f'#m{sent.pk} .ticks[data-status="read"]')
    assert settled(lambda: final in business_texts(sandbox, channel))


def test_search_finds_canned_responses_by_title_and_text(sandbox, channel, rep, page_for):
    CannedResponse.objects.create(shortcode="hours", title="Opening hours", text="9 to 18")
    CannedResponse.objects.create(shortcode="iban", title="Bank details", text="IBAN IT60X...")
    CannedResponse.objects.create(shortcode="mine", title="Mine", text="ciao", owner=rep)
    other = make_user("other", Role.SALES_REP, channels=[channel])
    CannedResponse.objects.create(shortcode="theirs", title="Theirs", text="ciao", owner=other)
    conversation = customer_conversation(sandbox, channel)
    page = page_for(rep)
    open_page(page, sandbox, conversation, "Ciao, is my order ready?")
    page.click("#reply-text")
    page.keyboard.type("/bank")  # a word of the title
    page.wait_for_selector("#canned-menu li[data-id] >> text=/iban")
    assert page.locator("#canned-menu li[data-id]").count() == 1
    page.fill("#reply-text", "")
    page.keyboard.type("/18")  # a word of the text
    page.wait_for_selector("#canned-menu li[data-id] >> text=/hours")
    page.fill("#reply-text", "")
    page.keyboard.type("/ciao")  # personal ones: the user's own, never a colleague's
    page.wait_for_selector("#canned-menu li[data-id] >> text=/mine")
    assert page.locator("#canned-menu li[data-id]").all_inner_texts()[0].startswith("/mine")
    assert page.locator("#canned-menu li[data-id]").count() == 1
    page.click("#canned-menu li[data-id]")
    assert page.input_value("#reply-text") == "ciao"


def test_an_attachment_is_uploaded_to_the_provider_and_reaches_the_customer(
    sandbox, channel, rep, page_for, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    conversation = customer_conversation(sandbox, channel)
    page = page_for(rep)
    open_page(page, sandbox, conversation, "Ciao, is my order ready?")
    picture = png(16, 16)
    page.set_input_files(
        "#attachment", files=[{"name": "receipt.png", "mimeType": "image/png", "buffer": picture}]
    )
    assert page.inner_text("#attachment-name") == "receipt.png"
    page.fill("#reply-text", "Your receipt")
    page.click("#reply-form button[type=submit]")
    image = wait_for(lambda: Message.objects.filter(direction="out", type="image").first())
    text = Message.objects.get(direction="out", type="text")
    assert text.text == "Your receipt"
    # Uploaded to the provider (the sandbox's media store has the very bytes), sent by id.
    media_id = image.payload["media"]["id"]
    stored = emulator.get_media(media_id)
    assert stored is not None and stored.data == picture and stored.mime_type == "image/png"
    page.wait_for_selector(f'#m{image.pk} .ticks[data-status="read"]')
    # The thread may draw the message again as its ticks move: wait for that image to load.
    selector = f"#m{image.pk} img.media"
    page.wait_for_function(
        "s => { const img = document.querySelector(s); return img && img.complete; }", arg=selector
    )
    assert page.locator(selector).evaluate("img => img.naturalWidth") == 16
    bubbles = settled(
        lambda: [b for b in business_bubbles(sandbox, channel) if b["type"] == "image"]
    )
    assert bubbles and bubbles[0]["text"].startswith("📷 image")
    screenshot(page, "composer-attachment")


def test_a_file_the_channel_cannot_take_is_refused_before_upload(sandbox, channel, rep, page_for):
    conversation = customer_conversation(sandbox, channel)
    page = page_for(rep)
    open_page(page, sandbox, conversation, "Ciao, is my order ready?")
    # WhatsApp takes images up to 5 MB.
    big = b"\x89PNG" + b"\0" * (6 * 1024 * 1024)
    page.set_input_files(
        "#attachment", files=[{"name": "huge.png", "mimeType": "image/png", "buffer": big}]
    )
    assert page.is_visible("#attach-error")
    assert "at most 5 MB" in page.inner_text("#attach-error")
    assert page.evaluate("document.getElementById('attachment').files.length") == 0
    assert page.inner_text("#attachment-name") == ""


def test_quoting_a_message_also_one_that_arrived_after_the_page_loaded(
    sandbox, channel, rep, page_for
):
    conversation = customer_conversation(sandbox, channel)
    first = Message.objects.get(direction="in")
    page = page_for(rep)
    open_page(page, sandbox, conversation, "Ciao, is my order ready?")
    page.click(f"#m{first.pk} .quote-button")
    assert page.inner_text("#quote-text") == "Ciao, is my order ready?"
    page.click("#quote-cancel")
    assert page.is_hidden("#quote-preview")
    assert page.input_value("#reply-to") == ""

    customer_types(sandbox, channel, "And the invoice?")
    later = wait_for(
        lambda: Message.objects.filter(direction="in", text="And the invoice?").first()
    )
    page.wait_for_selector(f"#m{later.pk} .quote-button")
    page.click(f"#m{later.pk} .quote-button")
    assert page.inner_text("#quote-text") == "And the invoice?"
    page.fill("#reply-text", "Attached tomorrow.")
    page.click("#reply-form button[type=submit]")
    reply = wait_for(lambda: Message.objects.filter(direction="out").first())
    assert reply.reply_to_provider_id == later.provider_message_id
    page.wait_for_selector(f"#m{reply.pk} blockquote.quoted")
    assert page.inner_text(f"#m{reply.pk} blockquote.quoted") == "And the invoice?"
    quoted = settled(lambda: [b for b in business_bubbles(sandbox, channel) if b["reply_to_text"]])
    assert quoted and quoted[0]["reply_to_text"] == "And the invoice?"

    # Our own reply can be quoted once the provider has accepted it (its ticks moved on),
    # without a reload.
    page.wait_for_selector(f'#m{reply.pk} .ticks[data-status="read"]')
    page.wait_for_selector(f"#m{reply.pk} .quote-button", state="visible")
    page.click(f"#m{reply.pk} .quote-button")
    page.fill("#reply-text", "As I said above.")
    page.click("#reply-form button[type=submit]")
    again = wait_for(
        lambda: Message.objects.filter(direction="out", text="As I said above.").first()
    )
    reply.refresh_from_db()
    assert again.reply_to_provider_id == reply.provider_message_id != ""


def test_an_internal_note_shows_in_the_thread_and_never_reaches_the_customer(
    sandbox, channel, rep, page_for
):
    conversation = customer_conversation(sandbox, channel)
    page = page_for(rep)
    open_page(page, sandbox, conversation, "Ciao, is my order ready?")
    page.click("#note-box summary")
    page.fill("#note-form textarea", "VIP: call before noon")
    page.click("#note-form button[type=submit]")
    note = wait_for(lambda: ConversationNote.objects.first())
    page.wait_for_selector(f"#n{note.pk}")
    assert "VIP: call before noon" in page.inner_text(f"#n{note.pk}")
    assert "Internal note" in page.inner_text(f"#n{note.pk}")
    assert note.author == rep
    # Then a real reply goes out, so the customer's phone has certainly heard from us.
    page.fill("#reply-text", "We will call you.")
    page.click("#reply-form button[type=submit]")
    assert settled(lambda: "We will call you." in business_texts(sandbox, channel))
    assert not any("VIP" in text for text in business_texts(sandbox, channel))
    assert not Message.objects.filter(text__contains="VIP").exists()
    screenshot(page, "composer-note")
