"""A user's own language beats the browser's in the inbox, the admin and the reset e-mail; the
agents' sign-in page and the password reset by e-mail."""

import re

import pytest
from django.core import mail

from accounts.models import Role, User
from crm.models import Contact, Deal, Pipeline, Stage
from messaging.models import Conversation, Message
from tests.inbox import conftest as inbox
from tests.inbox.conftest import inbound, make_user

account, pipeline, channel = inbox.account, inbox.pipeline, inbox.channel


@pytest.fixture
def italian(db):
    user = make_user("giulia", Role.MANAGER, email="giulia@example.com")
    user.language = "it"
    user.save()
    return user


def test_the_users_language_beats_the_browsers_in_the_inbox(client, italian, channel):
    contact = Contact.objects.create(phone="+393330000001", name="Carla")
    conversation = Conversation.objects.create(channel=channel, contact=contact)
    inbound(conversation, "ciao")
    sales = Pipeline.objects.get(name="Sales")
    deal = Deal.objects.create(
        name="Pompa", pipeline=sales, stage=Stage.objects.get(pipeline=sales, name="New")
    )
    deal.contacts.add(contact)
    client.force_login(italian)
    page = client.get("/inbox/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="it">' in page
    assert ">Filtra<" in page and ">Esci<" in page and ">Report<" in page
    assert "Tutte quelle che posso vedere" in page
    page = client.get(f"/inbox/c/{conversation.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Nuova · Aperta" in page  # the deal's stage and status
    assert "aperta" in page  # the conversation's status


def test_the_admin_follows_the_users_language(client, italian):
    italian.is_superuser = True
    italian.save()
    client.force_login(italian)
    page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Console operatore" in page
    assert "Assistenza" in page and "Messaggistica" in page  # app names
    assert "Conversazioni" in page and "Trattative" in page  # model names
    ticket_list = client.get("/admin/tickets/ticket/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "In attesa di risposta" in ticket_list  # the status filter


def test_an_english_user_keeps_english_in_an_italian_browser(client, db):
    user = make_user("emma", Role.MANAGER)
    user.language = "en"
    user.save()
    client.force_login(user)
    page = client.get("/inbox/", HTTP_ACCEPT_LANGUAGE="it").content.decode()
    assert ">Filter<" in page


def test_without_a_choice_the_browser_decides(client, db):
    client.force_login(make_user("bruno", Role.SALES_REP))
    assert ">Filtra<" in client.get("/inbox/", HTTP_ACCEPT_LANGUAGE="it").content.decode()


def test_the_user_menu_saves_the_language_and_returns(client, db):
    user = make_user("rita", Role.SALES_REP)
    client.force_login(user)
    response = client.post("/inbox/language", {"language": "it", "next": "/inbox/?status=closed"})
    assert response.status_code == 302 and response["Location"] == "/inbox/?status=closed"
    assert response.cookies["django_language"].value == "it"
    user.refresh_from_db()
    assert user.language == "it"
    assert ">Filtra<" in client.get("/inbox/").content.decode()
    # Back to the browser's choice; a foreign `next` goes to the inbox instead.
    response = client.post("/inbox/language", {"language": "", "next": "https://evil.example/"})
    assert response["Location"] == "/inbox/"
    user.refresh_from_db()
    assert user.language == ""
    assert client.post("/inbox/language", {"language": "xx"}).status_code == 400
    assert client.get("/inbox/language").status_code == 405


def test_the_inbox_sends_strangers_to_its_own_sign_in_page(client, db):
    response = client.get("/inbox/")
    assert response.status_code == 302
    assert response["Location"].startswith("/inbox/login/?next=/inbox/")
    page = client.get(response["Location"]).content.decode()
    assert "Sign in to Switchboard" in page and 'href="/inbox/password-reset/"' in page


def test_an_agent_signs_in_and_out(client, db):
    make_user("rita", Role.SALES_REP)
    response = client.post("/inbox/login/", {"username": "rita", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    response = client.post(
        "/inbox/login/", {"username": "rita", "password": "pw", "next": "/inbox/reports/"}
    )
    assert response["Location"] == "/inbox/reports/"
    response = client.post("/inbox/logout/")
    assert response["Location"] == "/inbox/login/"
    assert client.get("/inbox/").status_code == 302


def reset_link(message) -> str:
    return re.search(r"http://testserver(/inbox/password-reset/\S+/)", message.body).group(1)


def test_a_password_reset_mails_a_link_in_the_users_language(client, italian):
    response = client.post(
        "/inbox/password-reset/", {"email": "giulia@example.com"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response["Location"] == "/inbox/password-reset/sent/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["giulia@example.com"]
    assert message.subject == "La tua password di Switchboard"
    assert message.body.startswith("Ciao Giulia,")

    link = reset_link(message)
    form = client.get(link, follow=True)
    assert "new_password1" in form.content.decode()
    response = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-Better-pass-42", "new_password2": "a-Better-pass-42"},
    )
    assert response["Location"] == "/inbox/password-reset/done/"
    assert client.login(username="giulia", password="a-Better-pass-42")
    client.logout()
    # The link worked once.
    assert "This link no longer works" in client.get(link, follow=True).content.decode()


def test_a_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client, db):
    response = client.post("/inbox/password-reset/", {"email": "nobody@example.com"})
    assert response["Location"] == "/inbox/password-reset/sent/"
    assert mail.outbox == []


def test_roles_and_statuses_are_translated(italian):
    from django.utils import translation

    from tickets.models import TicketStatus

    with translation.override("it"):
        assert str(Role.SALES_REP.label) == "Commerciale"
        assert str(TicketStatus.WAITING_FOR_RESPONSE.label) == "In attesa di risposta"
        assert str(Conversation.Status.OPEN.label) == "Aperta"
        assert User._meta.verbose_name == "utente"
        assert Message(type="image").get_type_display() == "Immagine"
        assert Message(status="delivered").get_status_display() == "Consegnato"


def test_an_administrator_sets_a_users_language_in_the_admin(client, db):
    admin_user = User.objects.create_superuser("root", "root@example.com", "pw")
    rep = make_user("rita", Role.SALES_REP)
    client.force_login(admin_user)
    page = client.get(f"/admin/accounts/user/{rep.pk}/change/").content.decode()
    assert 'name="language"' in page
