import pytest
from django.contrib.messages import get_messages

from crm.models import Deal, DealStatus
from crm.services import contact_create, deal_close, deal_create

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/crm/deal/"


@pytest.fixture
def deals(sales, support, giulia, rep1, rep2):
    lucia = contact_create(phone="+34612345678", name="Lucía García")
    return {
        "fleet": deal_create(name="Fleet", pipeline=sales, contacts=[giulia], responsible=rep1),
        "vans": deal_create(
            name="Vans",
            pipeline=support,
            stage=support.stages.get(name="Offer"),
            contacts=[lucia],
            responsible=rep2,
        ),
    }


def names_listed(response):
    assert response.status_code == 200
    return {name for name in ("Fleet", "Vans") if f">{name}</a>" in response.content.decode()}


def test_it_lists_deals_with_their_contacts_and_stage(admin_client, deals):
    response = admin_client.get(CHANGELIST)
    page = response.content.decode()
    assert names_listed(response) == {"Fleet", "Vans"}
    assert "Giulia Conti" in page
    assert "Offer" in page


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status__exact": "open"}, {"Fleet", "Vans"}),
        ({"status__exact": "won"}, set()),
        ({"pipeline__id__exact": "sales"}, {"Fleet"}),
        ({"stage__id__exact": "offer"}, {"Vans"}),
        ({"responsible__id__exact": "rep1"}, {"Fleet"}),
    ],
)
def test_it_filters_deals(admin_client, deals, sales, support, rep1, params, expected):
    ids = {
        "sales": sales.pk,
        "offer": support.stages.get(name="Offer").pk,
        "rep1": rep1.pk,
    }
    query = {key: ids.get(value, value) for key, value in params.items()}
    assert names_listed(admin_client.get(CHANGELIST, query)) == expected


def test_the_stage_filter_names_the_pipeline_and_narrows_to_the_chosen_one(
    admin_client, deals, sales
):
    page = admin_client.get(CHANGELIST).content.decode()
    assert "Sales / Qualified" in page
    assert "Support upsell / Offer" in page
    narrowed = admin_client.get(CHANGELIST, {"pipeline__id__exact": sales.pk}).content.decode()
    assert "Sales / Qualified" in narrowed
    assert "Support upsell / Offer" not in narrowed


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("+39 335 103 2246", {"Fleet"}),
        ("0039 335 1032246", {"Fleet"}),
        ("335 103 2246", {"Fleet"}),
        ("0034 612 345 678", {"Vans"}),
        ("Lucía", {"Vans"}),
        ("fleet", {"Fleet"}),
        ("nobody here", set()),
    ],
)
def test_it_finds_deals_by_name_contact_name_or_phone_in_any_format(
    admin_client, deals, term, expected
):
    assert names_listed(admin_client.get(CHANGELIST, {"q": term})) == expected


def test_a_deal_with_two_matching_contacts_is_listed_once(admin_client, sales, giulia):
    other = contact_create(phone="+393331234567", name="Giulia Neri")
    deal_create(name="Shared", pipeline=sales, contacts=[giulia, other])
    page = admin_client.get(CHANGELIST, {"q": "Giulia"}).content.decode()
    assert page.count(">Shared</a>") == 1


def post_action(client, action, *deals):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [deal.pk for deal in deals]},
        follow=True,
    )


def test_the_won_and_lost_actions_close_deals(admin_client, deals):
    post_action(admin_client, "mark_won", deals["fleet"])
    post_action(admin_client, "mark_lost", deals["vans"])
    fleet, vans = Deal.objects.get(name="Fleet"), Deal.objects.get(name="Vans")
    assert (fleet.status, vans.status) == (DealStatus.WON, DealStatus.LOST)
    assert fleet.closed_at is not None
    assert vans.closed_at is not None


def test_the_reopen_action_reopens_closed_deals_and_reports_the_others(admin_client, deals):
    deal_close(deal=deals["fleet"], won=False)
    response = post_action(admin_client, "reopen", deals["fleet"], deals["vans"])
    texts = [str(message) for message in get_messages(response.wsgi_request)]
    assert "1 deals reopened." in texts
    assert "Cannot reopen deal 'Vans': it is open, not won or lost." in texts
    fleet = Deal.objects.get(name="Fleet")
    assert fleet.status == DealStatus.OPEN
    assert fleet.closed_at is None


def test_closing_a_closed_deal_from_the_list_reports_it_without_changing_it(admin_client, deals):
    deal_close(deal=deals["fleet"], won=True)
    response = post_action(admin_client, "mark_lost", deals["fleet"])
    assert response.status_code == 200
    texts = [str(message) for message in get_messages(response.wsgi_request)]
    assert texts == ["Cannot close deal 'Fleet': it is won, not open."]
    assert Deal.objects.get(name="Fleet").status == DealStatus.WON


def test_the_add_form_puts_a_deal_on_the_first_stage_by_default(admin_client, sales, giulia, rep1):
    response = admin_client.post(
        "/admin/crm/deal/add/",
        {
            "name": "Fleet",
            "pipeline": sales.pk,
            "stage": "",
            "contacts": [giulia.pk],
            "responsible": rep1.pk,
            "amount": "1500.00",
        },
    )
    assert response.status_code == 302, response.content.decode()
    deal = Deal.objects.get()
    assert deal.stage == sales.stages.get(name="New")
    assert list(deal.contacts.all()) == [giulia]
    assert response["Location"] == "/admin/crm/deal/"


def test_the_add_form_refuses_a_stage_of_another_pipeline(admin_client, sales, support, giulia):
    response = admin_client.post(
        "/admin/crm/deal/add/",
        {
            "name": "Fleet",
            "pipeline": sales.pk,
            "stage": support.stages.get(name="Offer").pk,
            "contacts": [giulia.pk],
        },
    )
    assert response.status_code == 200
    assert "Stage &#x27;Offer&#x27; belongs to pipeline &#x27;Support upsell&#x27;" in (
        response.content.decode()
    )
    assert Deal.objects.count() == 0


def test_the_add_form_requires_a_contact(admin_client, sales):
    response = admin_client.post("/admin/crm/deal/add/", {"name": "Fleet", "pipeline": sales.pk})
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert Deal.objects.count() == 0


def test_the_change_form_offers_only_the_deals_pipeline_stages_and_saves_through_services(
    admin_client, deals, sales, giulia
):
    fleet = deals["fleet"]
    url = f"/admin/crm/deal/{fleet.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert ">Proposal</option>" in page
    assert "Offer</option>" not in page
    marco = contact_create(phone="+393331234567", name="Marco")
    response = admin_client.post(
        url,
        {
            "name": "Fleet renewal",
            "pipeline": sales.pk,
            "stage": sales.stages.get(name="Proposal").pk,
            "contacts": [giulia.pk, marco.pk],
        },
    )
    assert response.status_code == 302, response.content.decode()
    fleet.refresh_from_db()
    assert fleet.name == "Fleet renewal"
    assert fleet.stage.name == "Proposal"
    assert set(fleet.contacts.all()) == {giulia, marco}


def test_the_add_form_is_prefilled_from_a_contact_page_link(admin_client, giulia, sales):
    page = admin_client.get(
        "/admin/crm/deal/add/", {"contacts": giulia.pk, "pipeline": sales.pk}
    ).content.decode()
    assert f'<option value="{giulia.pk}" selected>' in page
    assert ">Qualified</option>" in page


def test_the_pipeline_page_lists_stages_in_order(admin_client, sales):
    page = admin_client.get("/admin/crm/pipeline/").content.decode()
    assert "New → Qualified → Proposal" in page
    change = admin_client.get(f"/admin/crm/pipeline/{sales.pk}/change/")
    assert change.status_code == 200


@pytest.mark.parametrize("term", ["0039 335 103 2246", "335 1032246", "Giulia"])
def test_the_contacts_autocomplete_of_the_deal_form_finds_phones_in_any_format(
    admin_client, giulia, term
):
    contact_create(phone="+34612345678", name="Lucía García")
    response = admin_client.get(
        "/admin/autocomplete/",
        {"app_label": "crm", "model_name": "deal", "field_name": "contacts", "term": term},
    )
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [str(giulia.pk)]


def stage_formset(*rows, initial=0):
    data = {
        "stages-TOTAL_FORMS": str(len(rows)),
        "stages-INITIAL_FORMS": str(initial),
        "stages-MIN_NUM_FORMS": "0",
        "stages-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data.update({f"stages-{index}-{key}": value for key, value in row.items()})
    return data


def test_a_pipeline_is_created_with_ordered_stages_in_the_admin(admin_client):
    from crm.models import Pipeline

    response = admin_client.post(
        "/admin/crm/pipeline/add/",
        {
            "name": "Rentals",
            **stage_formset(
                {"position": "2", "name": "Signed"}, {"position": "1", "name": "Asked"}
            ),
        },
    )
    assert response.status_code == 302, response.content.decode()
    pipeline = Pipeline.objects.get(name="Rentals")
    assert list(pipeline.stages.values_list("name", flat=True)) == ["Asked", "Signed"]


def test_a_stage_holding_deals_cannot_be_deleted_from_the_pipeline_page(admin_client, deals, sales):
    new = sales.stages.get(name="New")
    rows = [
        {
            "id": str(stage.pk),
            "pipeline": str(sales.pk),
            "position": str(stage.position),
            "name": stage.name,
        }
        for stage in sales.stages.order_by("position")
    ]
    rows[0]["DELETE"] = "on"
    response = admin_client.post(
        f"/admin/crm/pipeline/{sales.pk}/change/",
        {"name": "Sales", **stage_formset(*rows, initial=len(rows))},
    )
    assert response.status_code == 200
    assert "would require deleting the following protected related objects" in (
        response.content.decode()
    )
    assert sales.stages.filter(pk=new.pk).exists()
