"""What each principal sees and may change: account keys their account's data, staff per role
exactly as the inbox decides (crm visibility)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Company, Contact, Deal, Pipeline, Stage
from integrations.models import AccountContact, IntegrationAccount, NotificationRule
from messaging.models import Channel, Conversation, Message

from .conftest import assert_error, key_client, make_key, open_window, token_client

pytestmark = pytest.mark.django_db


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.fixture
def other_account(db):
    return IntegrationAccount.objects.create(
        description="Other WABA", platform="whatsapp_cloud", settings={}, secrets={}
    )


@pytest.fixture
def other_channel(other_account):
    return Channel.objects.create(
        name="Other line", account=other_account, provider="whatsapp_cloud", external_id="999"
    )


# --- account keys ---------------------------------------------------------------------------


def test_an_account_key_sees_contacts_and_conversations_of_its_own_channels_only(
    wa_channel, wa_key, other_channel, giulia, marco
):
    mine = open_window(wa_channel, giulia)
    theirs = open_window(other_channel, marco)
    client = key_client(wa_key)
    assert ids(client.get("/api/v1/contacts/")) == {giulia.pk}
    assert ids(client.get("/api/v1/conversations/")) == {mine.pk}
    assert_error(client.get(f"/api/v1/conversations/{theirs.pk}/"), 404)
    assert_error(client.get(f"/api/v1/contacts/{marco.pk}/"), 404)
    assert_error(client.get(f"/api/v1/conversations/{theirs.pk}/messages/"), 404)


def test_a_shop_key_sees_the_contacts_it_upserted_and_no_others(shop_key, giulia, marco):
    client = key_client(shop_key)
    assert ids(client.get("/api/v1/contacts/")) == set()
    created = client.post("/api/v1/contacts/", {"phone": "+39 333 111 2222", "name": "Anna"})
    assert created.status_code == 201
    assert ids(client.get("/api/v1/contacts/")) == {created.json()["id"]}
    # Upserting a number the CRM already knows makes it one of the shop's customers.
    client.post("/api/v1/contacts/", {"phone": giulia.phone})
    assert ids(client.get("/api/v1/contacts/")) == {created.json()["id"], giulia.pk}
    assert_error(client.get(f"/api/v1/contacts/{marco.pk}/"), 404)


def test_a_shop_key_sees_conversations_of_its_customers_on_the_channel_its_rules_use(
    shop, shop_key, wa_channel, template, giulia, marco
):
    NotificationRule.objects.create(
        account=shop, event_type="cart_abandoned", channel=wa_channel, template=template
    )
    AccountContact.objects.create(account=shop, contact=giulia)
    with_customer = open_window(wa_channel, giulia)
    open_window(wa_channel, marco)
    assert ids(key_client(shop_key).get("/api/v1/conversations/")) == {with_customer.pk}


def test_two_keys_of_different_accounts_do_not_see_each_others_contacts(shop_key, db):
    other_shop = IntegrationAccount.objects.create(description="Shop 2", platform="ecommerce")
    other_key = make_key(other_shop)[1]
    key_client(shop_key).post("/api/v1/contacts/", {"phone": "+393331112222"})
    assert ids(key_client(other_key).get("/api/v1/contacts/")) == set()


def test_an_account_key_sees_only_its_templates(wa_key, template, other_account):
    other = template.__class__.objects.create(
        account=other_account, name="x", language="en", status="APPROVED"
    )
    assert ids(key_client(wa_key).get("/api/v1/templates/")) == {template.pk}
    assert other.pk not in ids(key_client(wa_key).get("/api/v1/templates/"))


def test_an_account_key_reads_but_does_not_write_companies_and_deals(shop_key):
    response = key_client(shop_key).post("/api/v1/companies/", {"name": "ACME"})
    error = assert_error(response, 403, "permission_denied")
    assert "only read" in error["message"]


def test_staff_tokens_cannot_post_business_events(manager):
    response = token_client(manager).post(
        "/api/v1/events/", {"id": "1", "type": "cart_abandoned", "data": {}}, format="json"
    )
    assert_error(response, 403, "permission_denied")


# --- staff roles ----------------------------------------------------------------------------


def test_a_manager_sees_every_contact_and_conversation(manager, wa_channel, giulia, marco):
    conversations = {open_window(wa_channel, giulia).pk, open_window(wa_channel, marco).pk}
    client = token_client(manager)
    assert ids(client.get("/api/v1/contacts/")) == {giulia.pk, marco.pk}
    assert ids(client.get("/api/v1/conversations/")) == conversations


def test_a_sales_rep_sees_only_their_clients(rep1, wa_channel, giulia, marco):
    mine = open_window(wa_channel, giulia)
    theirs = open_window(wa_channel, marco)
    client = token_client(rep1)
    assert ids(client.get("/api/v1/contacts/")) == {giulia.pk}
    assert ids(client.get("/api/v1/conversations/")) == {mine.pk}
    assert_error(client.get(f"/api/v1/conversations/{theirs.pk}/"), 404)


def test_a_sales_rep_cannot_change_a_client_of_someone_else(rep1, marco):
    client = token_client(rep1)
    # Marco is not visible to rep1 at all...
    assert_error(client.patch(f"/api/v1/contacts/{marco.pk}/", {"name": "X"}), 404)
    # ...and upserting his number is refused with the reason.
    error = assert_error(client.post("/api/v1/contacts/", {"phone": marco.phone}), 403)
    assert "not one of their clients" in error["message"]
    marco.refresh_from_db()
    assert marco.name == "Marco"


def test_a_sales_rep_owns_the_contact_they_create(rep1):
    response = token_client(rep1).post("/api/v1/contacts/", {"phone": "+393331112222"})
    assert response.status_code == 201
    assert response.json()["responsible"] == rep1.pk


def test_quality_control_reads_everything(quality, wa_channel, giulia, marco):
    open_window(wa_channel, giulia)
    client = token_client(quality)
    assert ids(client.get("/api/v1/contacts/")) == {giulia.pk, marco.pk}
    assert len(ids(client.get("/api/v1/conversations/"))) == 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/contacts/", {"phone": "+393331112222"}),
        ("patch", "/api/v1/contacts/{giulia}/", {"name": "Changed"}),
        ("post", "/api/v1/companies/", {"name": "ACME"}),
        ("post", "/api/v1/messages/", {"contact_id": "{giulia}", "text": "Hi"}),
    ],
)
def test_quality_control_writes_nothing(quality, giulia, wa_channel, method, path, body):
    open_window(wa_channel, giulia)
    body = {k: (giulia.pk if v == "{giulia}" else v) for k, v in body.items()}
    response = getattr(token_client(quality), method)(
        path.format(giulia=giulia.pk), body, format="json"
    )
    error = assert_error(response, 403, "permission_denied")
    assert "Quality control can read but not write" in error["message"]
    giulia.refresh_from_db()
    assert giulia.name == "Giulia"
    assert Contact.objects.count() == 1
    assert not Company.objects.exists()
    assert not Message.objects.exists()


def test_deals_follow_the_role_matrix(manager, rep1, rep2, giulia, marco):
    pipeline = Pipeline.objects.create(name="Sales")
    stage = Stage.objects.create(pipeline=pipeline, name="New")
    deal1 = Deal.objects.create(name="D1", pipeline=pipeline, stage=stage, responsible=rep1)
    deal1.contacts.add(giulia)
    deal2 = Deal.objects.create(name="D2", pipeline=pipeline, stage=stage, responsible=rep2)
    deal2.contacts.add(marco)
    assert ids(token_client(manager).get("/api/v1/deals/")) == {deal1.pk, deal2.pk}
    assert ids(token_client(rep1).get("/api/v1/deals/")) == {deal1.pk}
    created = token_client(rep1).post(
        "/api/v1/deals/",
        {"name": "D3", "pipeline": pipeline.pk, "stage": stage.pk, "contacts": [giulia.pk]},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["responsible"] == rep1.pk
    hidden = token_client(rep1).post(
        "/api/v1/deals/",
        {"name": "D4", "pipeline": pipeline.pk, "stage": stage.pk, "contacts": [marco.pk]},
        format="json",
    )
    assert "contacts" in assert_error(hidden, 400)["fields"]


def test_a_deal_stage_must_belong_to_its_pipeline(manager, giulia):
    sales = Pipeline.objects.create(name="Sales")
    other = Pipeline.objects.create(name="Other")
    stage = Stage.objects.create(pipeline=other, name="New")
    response = token_client(manager).post(
        "/api/v1/deals/",
        {"name": "D", "pipeline": sales.pk, "stage": stage.pk, "contacts": [giulia.pk]},
        format="json",
    )
    assert "stage" in assert_error(response, 400)["fields"]


# --- lists do not run a query per row -------------------------------------------------------


def _count_queries(client, path):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    "path", ["/api/v1/contacts/", "/api/v1/conversations/", "/api/v1/deals/", "/api/v1/companies/"]
)
def test_list_queries_do_not_grow_with_rows(manager, wa_channel, path):
    pipeline = Pipeline.objects.create(name="Sales")
    stage = Stage.objects.create(pipeline=pipeline, name="New")

    def add_rows(start, count):
        for n in range(start, start + count):
            company = Company.objects.create(name=f"C{n}")
            contact = Contact.objects.create(phone=f"+3933510300{n:02d}", company=company)
            Conversation.objects.create(channel=wa_channel, contact=contact)
            deal = Deal.objects.create(name=f"D{n}", pipeline=pipeline, stage=stage)
            deal.contacts.add(contact)

    client = token_client(manager)
    add_rows(0, 2)
    few = _count_queries(client, path)
    add_rows(2, 10)
    assert _count_queries(client, path) == few


def test_a_conversations_messages_list_does_not_grow_with_messages(manager, wa_channel, giulia):
    conversation = open_window(wa_channel, giulia)
    client = token_client(manager)
    path = f"/api/v1/conversations/{conversation.pk}/messages/"

    def add(count):
        for _ in range(count):
            Message.objects.create(
                channel=wa_channel, conversation=conversation, direction="in", status="received"
            )

    add(2)
    few = _count_queries(client, path)
    add(10)
    assert _count_queries(client, path) == few
    assert len(client.get(path).json()["results"]) == 12


def test_a_deal_closes_and_reopens_through_the_crm_services(manager, giulia):
    pipeline = Pipeline.objects.create(name="Sales")
    first = Stage.objects.create(pipeline=pipeline, name="New", position=0)
    client = token_client(manager)
    created = client.post(
        "/api/v1/deals/",
        {"name": "D", "pipeline": pipeline.pk, "contacts": [giulia.pk]},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["stage"] == first.pk  # the pipeline's first stage by default
    deal_id = created.json()["id"]
    won = client.patch(f"/api/v1/deals/{deal_id}/", {"status": "won"}, format="json").json()
    assert won["status"] == "won"
    assert won["closed_at"]
    reopened = client.patch(f"/api/v1/deals/{deal_id}/", {"status": "open"}, format="json")
    assert reopened.json()["closed_at"] is None


def test_a_deal_needs_a_contact(manager):
    pipeline = Pipeline.objects.create(name="Sales")
    Stage.objects.create(pipeline=pipeline, name="New")
    response = token_client(manager).post(
        "/api/v1/deals/", {"name": "D", "pipeline": pipeline.pk, "contacts": []}, format="json"
    )
    assert "contacts" in assert_error(response, 400)["fields"]


def test_a_sales_rep_cannot_change_a_deal_of_someone_else(rep1, rep2, giulia):
    pipeline = Pipeline.objects.create(name="Sales")
    stage = Stage.objects.create(pipeline=pipeline, name="New")
    deal = Deal.objects.create(name="D", pipeline=pipeline, stage=stage, responsible=rep2)
    deal.contacts.add(giulia)  # visible to rep1 through their client
    response = token_client(rep1).patch(f"/api/v1/deals/{deal.pk}/", {"name": "X"})
    assert "not responsible for it" in assert_error(response, 403)["message"]
    deal.refresh_from_db()
    assert deal.name == "D"


def test_a_sales_rep_owns_the_company_they_create_and_cannot_change_a_colleagues(rep1, rep2):
    client = token_client(rep1)
    created = client.post("/api/v1/companies/", {"name": "Rossi Srl"}, format="json")
    assert created.status_code == 201, created.content
    assert Company.objects.get(pk=created.json()["id"]).responsible == rep1

    theirs = Company.objects.create(name="Bianchi Spa", responsible=rep2)
    Contact.objects.create(phone="+393351030999", company=theirs, responsible=rep1)
    # Visible through rep1's client who works there, but it is rep2's company.
    response = client.patch(f"/api/v1/companies/{theirs.pk}/", {"name": "X"}, format="json")
    assert "not one of their companies" in assert_error(response, 403)["message"]
    theirs.refresh_from_db()
    assert theirs.name == "Bianchi Spa"
