"""List and detail pages run the same number of queries for 5 rows as for 30."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from crm.models import Company
from crm.services import contact_create, deal_create
from messaging.models import Conversation, Message
from tickets.models import Ticket, TicketStatus

pytestmark = pytest.mark.django_db


def queries_for(client, url):
    # The first request of a test also fills process-wide caches (content types); measure after.
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx)


class Rows:
    """Each row has its own company, responsible user, contacts and deal, so nothing is shared
    that a cache could hide."""

    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.made = 0

    def add(self, count):
        for _ in range(count):
            n = self.made = self.made + 1
            user = User.objects.create_user(username=f"agent{n}", password="x")
            company = Company.objects.create(name=f"Company {n}", responsible=user)
            first = contact_create(
                phone=f"+3933312{n:05}", name=f"Contact {n}", company=company, responsible=user
            )
            second = contact_create(phone=f"+3933399{n:05}", company=company)
            deal_create(
                name=f"Deal {n}",
                pipeline=self.pipeline,
                stage=self.pipeline.stages.order_by("?").first(),
                contacts=[first, second],
                responsible=user,
                company=company,
            )


@pytest.mark.parametrize(
    "url",
    [
        "/admin/crm/contact/",
        "/admin/crm/contact/?q=0039333120",
        "/admin/crm/company/",
        "/admin/crm/deal/",
        "/admin/crm/deal/?q=Contact",
        "/admin/crm/deal/?status__exact=open",
        "/admin/crm/pipeline/",
    ],
)
def test_list_pages_do_not_query_per_row(admin_client, sales, support, url):
    rows = Rows(sales)
    rows.add(5)
    with_five = queries_for(admin_client, url)
    rows.add(25)
    assert queries_for(admin_client, url) == with_five


def test_the_contact_page_does_not_query_per_related_row(admin_client, giulia, channel, sales):
    def add(count, start):
        for n in range(start, start + count):
            user = User.objects.create_user(username=f"agent{n}", password="x")
            ticket = Ticket.objects.create(
                number=f"TT{n}", title=f"t{n}", contact=giulia, status=TicketStatus.CLOSED
            )
            conversation = Conversation.objects.create(
                channel=channel, contact=giulia, status="closed", ticket=ticket
            )
            Message.objects.create(
                channel=channel, conversation=conversation, direction="in", status="received"
            )
            deal_create(name=f"Deal {n}", pipeline=sales, contacts=[giulia], responsible=user)

    url = f"/admin/crm/contact/{giulia.pk}/change/"
    add(3, 0)
    with_three = queries_for(admin_client, url)
    add(12, 3)
    assert queries_for(admin_client, url) == with_three


def test_the_company_page_does_not_query_per_contact_or_deal(admin_client, sales):
    rows = Rows(sales)
    rows.add(1)
    company = Company.objects.get()

    def add(count, start):
        for n in range(start, start + count):
            user = User.objects.create_user(username=f"extra{n}", password="x")
            contact = contact_create(
                phone=f"+3934455{n:05}", name=f"Extra {n}", company=company, responsible=user
            )
            deal_create(
                name=f"Extra deal {n}",
                pipeline=sales,
                contacts=[contact],
                responsible=user,
                company=company,
            )

    url = f"/admin/crm/company/{company.pk}/change/"
    add(3, 0)
    with_few = queries_for(admin_client, url)
    add(12, 3)
    assert queries_for(admin_client, url) == with_few
