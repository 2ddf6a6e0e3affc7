"""In Debian's chromium: the user menu's language switch turns the inbox and the admin Italian
(and back), the sign-in page, and the password reset from the e-mail to the new password."""

import re

import pytest
from django.core import mail

from accounts.models import Role, User
from crm.models import Contact, Deal, Pipeline, Stage
from messaging.models import Conversation
from tests.browser import ARTIFACTS
from tests.inbox import conftest as inbox
from tests.inbox.conftest import inbound, make_user
from tickets.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

account, pipeline, channel = inbox.account, inbox.pipeline, inbox.channel


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def client_with_deal(channel):
    contact = Contact.objects.create(phone="+393330000001", name="Carla")
    conversation = Conversation.objects.create(channel=channel, contact=contact)
    inbound(conversation, "ciao")
    ticket = Ticket.objects.create(number="TT7", title="t", contact=contact, channel=channel)
    Conversation.objects.filter(pk=conversation.pk).update(ticket=ticket)
    sales = Pipeline.objects.get(name="Sales")
    deal = Deal.objects.create(
        name="Pompa", pipeline=sales, stage=Stage.objects.get(pipeline=sales, name="New")
    )
    deal.contacts.add(contact)
    return conversation


def test_the_language_switch_turns_the_inbox_and_the_admin_italian(
    page_for, sandbox, client_with_deal
):
    manager = make_user("maria", Role.MANAGER)
    page = page_for(manager)
    assert page.inner_text("#filters button") == "Filter"
    page.select_option("#language-select", "it")
    page.click("#language-save")
    page.wait_for_selector("text=Filtra")
    assert page.get_attribute("html", "lang") == "it"
    assert page.inner_text("#logout-form button") == "Esci"
    assert page.inner_text("#reports-link") == "Report"
    assert page.inner_text("#language-save") == "Salva"
    assert "Tutte quelle che posso vedere" in page.inner_text("#filters select[name=box]")
    assert "Aperte" in page.inner_text("#filters select[name=status]")
    assert User.objects.get(pk=manager.pk).language == "it"

    page.goto(f"{sandbox}/inbox/c/{client_with_deal.pk}/")
    assert "Nuova · Aperta" in page.inner_text(".deals")  # stage and status of the deal
    assert "aperta" in page.inner_text(".thread-head .meta")  # the conversation
    assert "TT7 · Aperto" in page.inner_text("aside.side")  # the ticket
    assert page.inner_text("#transfer-form button") == "Trasferisci"
    shot(page, "conversation-user-italian")

    page.goto(f"{sandbox}/inbox/reports/")
    assert page.inner_text("#reports h1") == "Report"
    assert "Conversazioni aperte e chiuse al giorno" in page.inner_text("#report-conversations")

    page.click("#admin-link")
    page.wait_for_url("**/admin/")
    assert "Console operatore" in page.inner_text("#content h1")
    index = page.inner_text("#content-main").lower()  # app names are upper-cased by CSS
    assert "assistenza" in index and "personale e ruoli" in index  # app names
    assert "conversazioni" in index and "profili agente" in index  # model names
    assert "model name" not in index  # the table's hidden headings too
    page.goto(f"{sandbox}/admin/tickets/ticket/")
    assert "In attesa di risposta" in page.inner_text("#changelist-filter")
    headings = page.inner_text("#result_list thead").lower()
    assert "assegnatario" in headings and "priorità" in headings and "stato" in headings
    assert "Aperto" in page.inner_text("#result_list tbody")  # the ticket's status
    shot(page, "admin-user-italian")

    # And back: English everywhere, even in an Italian browser it would stay English.
    page.goto(f"{sandbox}/inbox/")
    page.select_option("#language-select", "en")
    page.click("#language-save")
    page.wait_for_selector("#filters button:text('Filter')")
    page.goto(f"{sandbox}/admin/")
    assert "Operator console" in page.inner_text("#content h1")


def test_an_agent_resets_a_forgotten_password_by_email(browser, sandbox, db):
    rep = make_user("rita", Role.SALES_REP, email="rita@example.com")
    context = browser.new_context(locale="en-US")
    try:
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(f"{sandbox}/inbox/")
        page.wait_for_url("**/inbox/login/?next=/inbox/")
        assert page.inner_text("#login-card h1") == "Sign in to Switchboard"
        shot(page, "login")

        page.fill("#id_username", "rita")
        page.fill("#id_password", "not-it")
        page.click("input[type=submit]")
        assert "correct username and password" in page.inner_text("#login-card .errorlist")

        page.click("#forgot-link")
        page.fill("#id_email", "rita@example.com")
        page.click("input[type=submit]")
        page.wait_for_selector("#reset-sent")
        assert len(mail.outbox) == 1
        link = re.search(r"https?://\S+/inbox/password-reset/\S+/", mail.outbox[0].body).group(0)
        path = link.split("/inbox/", 1)[1]

        page.goto(f"{sandbox}/inbox/{path}")
        page.fill("#id_new_password1", "Sunny-harbour-7")
        page.fill("#id_new_password2", "Sunny-harbour-7")
        page.click("input[type=submit]")
        page.wait_for_selector("#reset-complete")
        shot(page, "password-changed")
        page.click("#sign-in-link")
        page.fill("#id_username", "rita")
        page.fill("#id_password", "Sunny-harbour-7")
        page.click("input[type=submit]")
        page.wait_for_url(f"{sandbox}/inbox/")
        assert page.is_visible("#conversations")
        rep.refresh_from_db()
        assert rep.check_password("Sunny-harbour-7")

        # The e-mail's link worked once.
        page.goto(f"{sandbox}/inbox/{path}")
        assert page.is_visible("#link-invalid")
    finally:
        context.close()
