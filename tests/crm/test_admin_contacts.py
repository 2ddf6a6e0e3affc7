from datetime import timedelta

import pytest
from django.utils import timezone

from crm.admin_sections import SECTION_LIMIT, admin_url
from crm.models import Company, Contact, ContactKind
from crm.services import contact_create, deal_close, deal_create
from messaging.models import Conversation, Message
from tickets.models import Ticket, TicketStatus

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/crm/contact/"


def listed(response, *names):
    assert response.status_code == 200
    page = response.content.decode()
    return {name for name in names if f">{name}</a>" in page}


def test_it_filters_contacts_by_kind_responsible_and_company(admin_client, giulia, rep1):
    acme = Company.objects.create(name="Acme")
    contact_create(phone="+34612345678", name="Lucía", kind=ContactKind.CUSTOMER, company=acme)
    Contact.objects.filter(pk=giulia.pk).update(responsible=rep1)
    names = ("Giulia Conti", "Lucía")
    assert listed(admin_client.get(CHANGELIST, {"kind__exact": "lead"}), *names) == {"Giulia Conti"}
    assert listed(admin_client.get(CHANGELIST, {"responsible__id__exact": rep1.pk}), *names) == {
        "Giulia Conti"
    }
    assert listed(admin_client.get(CHANGELIST, {"company__id__exact": acme.pk}), *names) == {
        "Lucía"
    }


@pytest.mark.parametrize("term", ["+39 333 123 4567", "0039 333 1234567", "333 1234567"])
def test_it_finds_a_contact_by_phone_in_several_formats(admin_client, giulia, term):
    contact_create(phone="+393331234567", name="Marco Neri")
    assert listed(admin_client.get(CHANGELIST, {"q": term}), "Marco Neri", "Giulia Conti") == {
        "Marco Neri"
    }


def test_the_list_counts_open_deals(admin_client, giulia, sales):
    deal_create(name="Fleet", pipeline=sales, contacts=[giulia])
    closed = deal_create(name="Vans", pipeline=sales, contacts=[giulia])
    deal_close(deal=closed, won=True)
    page = admin_client.get(CHANGELIST).content.decode()
    assert '<td class="field-open_deals">1</td>' in page


def test_the_convert_action_turns_leads_into_customers(admin_client, giulia):
    customer = contact_create(phone="+34612345678", name="Lucía", kind=ContactKind.CUSTOMER)
    response = admin_client.post(
        CHANGELIST,
        {"action": "convert_to_customer", "_selected_action": [giulia.pk, customer.pk]},
        follow=True,
    )
    assert "1 converted to customers (1 already customers)." in response.content.decode()
    giulia.refresh_from_db()
    assert giulia.kind == ContactKind.CUSTOMER


def test_the_assign_action_asks_for_the_user_then_assigns_them(admin_client, giulia, rep1):
    lucia = contact_create(phone="+34612345678", name="Lucía")
    selected = {"action": "assign_responsible", "_selected_action": [giulia.pk, lucia.pk]}
    form = admin_client.post(CHANGELIST, selected)
    assert form.status_code == 200
    page = form.content.decode()
    assert "Choose who becomes responsible for these 2 contacts" in page
    assert f'<option value="{rep1.pk}">rep1</option>' in page
    assert Contact.objects.filter(responsible=rep1).count() == 0

    response = admin_client.post(
        CHANGELIST, {**selected, "apply": "Assign", "responsible": rep1.pk}, follow=True
    )
    assert "2 contacts assigned to rep1." in response.content.decode()
    assert set(Contact.objects.filter(responsible=rep1)) == {giulia, lucia}


def test_the_assign_action_rejects_an_unknown_user(admin_client, giulia):
    response = admin_client.post(
        CHANGELIST,
        {
            "action": "assign_responsible",
            "_selected_action": [giulia.pk],
            "apply": "Assign",
            "responsible": "999999",
        },
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    giulia.refresh_from_db()
    assert giulia.responsible is None


def test_the_contact_page_shows_conversations_tickets_and_deals(
    admin_client, giulia, channel, sales, rep1
):
    ticket = Ticket.objects.create(
        number="TT24", title="2025-02-27 22:21:33 - +393351032246", contact=giulia
    )
    conversation = Conversation.objects.create(
        channel=channel,
        contact=giulia,
        ticket=ticket,
        last_message_at=timezone.now(),
        last_message_status="read",
    )
    Message.objects.create(
        channel=channel,
        conversation=conversation,
        direction="in",
        status="received",
        text="Is the van still available?",
    )
    deal_create(name="Fleet", pipeline=sales, contacts=[giulia], responsible=rep1)

    page = admin_client.get(f"/admin/crm/contact/{giulia.pk}/change/").content.decode()

    assert f'href="/admin/messaging/conversation/{conversation.pk}/change/"' in page
    assert "Support line (+15550199234)" in page
    assert "Is the van still available?" in page
    assert "(read)" in page
    assert "TT24" in page
    assert "2025-02-27 22:21:33 - +393351032246" in page
    # The ticket is linked once the tickets admin is registered.
    ticket_url = admin_url("tickets_ticket_change", ticket.pk)
    if ticket_url:
        assert f'href="{ticket_url}"' in page
    deal = giulia.deals.get()
    assert f'href="/admin/crm/deal/{deal.pk}/change/">Fleet</a>' in page
    assert "<td>New</td>" in page
    assert "<td>rep1</td>" in page
    assert f'href="/admin/crm/deal/add/?contacts={giulia.pk}"' in page


def test_the_contact_page_says_when_there_is_nothing_yet(admin_client, giulia):
    page = admin_client.get(f"/admin/crm/contact/{giulia.pk}/change/").content.decode()
    assert "No conversations yet." in page
    assert "No tickets yet." in page
    assert "No deals yet." in page


def test_the_contact_page_shows_the_latest_deals_and_links_to_all(admin_client, giulia, sales):
    for number in range(SECTION_LIMIT + 1):
        deal_create(name=f"Deal {number:02}", pipeline=sales, contacts=[giulia])
    page = admin_client.get(f"/admin/crm/contact/{giulia.pk}/change/").content.decode()
    assert ">Deal 20</a>" in page
    assert ">Deal 00</a>" not in page
    assert f'href="/admin/crm/deal/?contacts__id__exact={giulia.pk}"' in page
    filtered = admin_client.get("/admin/crm/deal/", {"contacts__id__exact": giulia.pk})
    assert filtered.status_code == 200
    assert ">Deal 00</a>" in filtered.content.decode()


def test_the_add_page_has_no_related_sections(admin_client):
    page = admin_client.get("/admin/crm/contact/add/").content.decode()
    assert "No conversations yet." not in page


def test_the_company_page_shows_its_contacts_and_deals(admin_client, giulia, sales):
    acme = Company.objects.create(name="Acme")
    Contact.objects.filter(pk=giulia.pk).update(company=acme)
    deal_create(name="Fleet", pipeline=sales, contacts=[giulia], company=acme)
    listing = admin_client.get("/admin/crm/company/").content.decode()
    assert '<td class="field-contact_count">1</td>' in listing
    assert '<td class="field-open_deals">1</td>' in listing
    page = admin_client.get(f"/admin/crm/company/{acme.pk}/change/").content.decode()
    assert "Giulia Conti" in page
    assert ">Fleet</a>" in page
    assert f'href="/admin/crm/deal/add/?company={acme.pk}"' in page


def test_closed_tickets_and_conversations_stay_listed(admin_client, giulia, channel):
    Ticket.objects.create(number="TT1", title="old", contact=giulia, status=TicketStatus.CLOSED)
    Conversation.objects.create(
        channel=channel,
        contact=giulia,
        status="closed",
        closed_at=timezone.now() - timedelta(days=1),
    )
    page = admin_client.get(f"/admin/crm/contact/{giulia.pk}/change/").content.decode()
    assert "TT1" in page
    assert "<td>Closed</td>" in page


def test_contact_and_company_pages_link_to_sending_the_record(admin_client):
    company = Company.objects.create(name="Rossi Srl")
    contact = Contact.objects.create(phone="+393351230000", name="Anna", company=company)
    for path, link in (
        (f"/admin/crm/contact/{contact.pk}/change/", f"/send/contact/{contact.pk}/"),
        (f"/admin/crm/company/{company.pk}/change/", f"/send/company/{company.pk}/"),
    ):
        page = admin_client.get(path).content.decode()
        assert link in page
