from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from crm.models import Deal, DealStatus, Stage
from crm.services import (
    contact_create,
    deal_close,
    deal_contacts_set,
    deal_create,
    deal_move,
    deal_open_for_new_client,
    deal_reopen,
    deal_update,
    pipeline_create,
)
from tests.concurrency import run_at_once

pytestmark = pytest.mark.django_db


def stage(pipeline, name):
    return pipeline.stages.get(name=name)


def test_it_creates_a_pipeline_with_its_stages_in_order(sales):
    assert list(sales.stages.order_by("position").values_list("name", flat=True)) == [
        "New",
        "Qualified",
        "Proposal",
    ]


def test_it_refuses_a_pipeline_without_stages_or_with_a_taken_name(sales):
    with pytest.raises(ValidationError, match="at least one stage"):
        pipeline_create(name="Empty", stages=[])
    with pytest.raises(ValidationError, match="already exists"):
        pipeline_create(name="Sales", stages=["A"])
    with pytest.raises(ValidationError, match="repeat: A"):
        pipeline_create(name="Twice", stages=["A", "B", "A"])


def test_a_new_deal_starts_on_the_first_stage(sales, giulia, rep1):
    deal = deal_create(
        name="Fleet", pipeline=sales, contacts=[giulia], responsible=rep1, amount=Decimal("1200")
    )
    deal.refresh_from_db()
    assert deal.stage == stage(sales, "New")
    assert deal.status == DealStatus.OPEN
    assert deal.closed_at is None
    assert list(deal.contacts.all()) == [giulia]
    assert deal.responsible == rep1


def test_a_stage_of_another_pipeline_is_refused_with_a_clear_message(sales, support, giulia):
    with pytest.raises(ValidationError) as excinfo:
        deal_create(name="Fleet", pipeline=sales, stage=stage(support, "Offer"), contacts=[giulia])
    assert excinfo.value.message_dict == {
        "stage": ["Stage 'Offer' belongs to pipeline 'Support upsell', not to 'Sales'."]
    }
    assert Deal.objects.count() == 0


def test_a_deal_needs_a_contact(sales):
    with pytest.raises(ValidationError, match="at least one contact"):
        deal_create(name="Nobody", pipeline=sales, contacts=[])


def test_it_moves_a_deal_within_its_pipeline_only(sales, support, giulia):
    deal = deal_create(name="Fleet", pipeline=sales, contacts=[giulia])
    deal_move(deal=deal, stage=stage(sales, "Proposal"))
    assert Deal.objects.get().stage == stage(sales, "Proposal")
    with pytest.raises(ValidationError, match="belongs to pipeline 'Support upsell'"):
        deal_move(deal=deal, stage=stage(support, "Offer"))
    assert Deal.objects.get().stage == stage(sales, "Proposal")


@pytest.mark.parametrize(("won", "status"), [(True, DealStatus.WON), (False, DealStatus.LOST)])
def test_closing_sets_the_outcome_and_when(sales, giulia, won, status):
    deal = deal_create(name="Fleet", pipeline=sales, contacts=[giulia])
    deal_close(deal=deal, won=won)
    stored = Deal.objects.get()
    assert stored.status == status
    assert stored.closed_at is not None
    assert deal.status == status


def test_a_closed_deal_cannot_be_closed_again_or_moved(sales, giulia):
    deal = deal_create(name="Fleet", pipeline=sales, contacts=[giulia])
    deal_close(deal=deal, won=True)
    with pytest.raises(ValidationError, match="Cannot close deal 'Fleet': it is won, not open"):
        deal_close(deal=deal, won=False)
    with pytest.raises(ValidationError, match="Cannot move deal 'Fleet': it is won"):
        deal_move(deal=deal, stage=stage(sales, "Proposal"))
    assert Deal.objects.get().status == DealStatus.WON


def test_reopening_clears_the_outcome_and_keeps_the_stage(sales, giulia):
    deal = deal_create(name="Fleet", pipeline=sales, contacts=[giulia])
    deal_move(deal=deal, stage=stage(sales, "Qualified"))
    deal_close(deal=deal, won=False)
    deal_reopen(deal=deal)
    stored = Deal.objects.get()
    assert stored.status == DealStatus.OPEN
    assert stored.closed_at is None
    assert stored.stage == stage(sales, "Qualified")
    with pytest.raises(ValidationError, match="Cannot reopen deal 'Fleet': it is open"):
        deal_reopen(deal=deal)


def test_a_contact_has_two_deals_with_different_responsible_users(sales, giulia, rep1, rep2):
    deal_create(name="Fleet", pipeline=sales, contacts=[giulia], responsible=rep1)
    deal_create(name="Insurance", pipeline=sales, contacts=[giulia], responsible=rep2)
    assert sorted(giulia.deals.values_list("name", "responsible__username")) == [
        ("Fleet", "rep1"),
        ("Insurance", "rep2"),
    ]


def test_it_replaces_the_contacts_but_never_leaves_none(sales, giulia):
    marco = contact_create(phone="+34612345678", name="Marco")
    deal = deal_create(name="Fleet", pipeline=sales, contacts=[giulia])
    deal_contacts_set(deal=deal, contacts=[giulia, marco])
    assert set(deal.contacts.all()) == {giulia, marco}
    with pytest.raises(ValidationError, match="at least one contact"):
        deal_contacts_set(deal=deal, contacts=[])
    assert deal.contacts.count() == 2


def test_update_moves_to_the_first_stage_of_a_new_pipeline_when_no_stage_is_given(
    sales, support, giulia
):
    deal = deal_create(name="Fleet", pipeline=sales, contacts=[giulia])
    deal_update(deal=deal, pipeline=support, stage=None, name="Fleet renewal")
    stored = Deal.objects.get()
    assert (stored.pipeline, stored.stage, stored.name) == (
        support,
        stage(support, "Lead in"),
        "Fleet renewal",
    )
    with pytest.raises(ValidationError, match="belongs to pipeline 'Sales'"):
        deal_update(deal=deal, stage=stage(sales, "New"))
    with pytest.raises(ValidationError, match="deal_close or deal_reopen"):
        deal_update(deal=deal, status=DealStatus.WON)


def test_a_new_client_deal_is_named_after_the_contact_and_starts_on_the_first_stage(
    sales, giulia, rep1
):
    deal = deal_open_for_new_client(contact=giulia, pipeline=sales, stage=None, responsible=rep1)
    assert deal.name == "Giulia Conti \N{EN DASH} WhatsApp"
    assert deal.stage == stage(sales, "New")
    assert deal.responsible == rep1
    assert list(deal.contacts.all()) == [giulia]

    anonymous = contact_create(phone="+34612345678")
    other = deal_open_for_new_client(
        contact=anonymous, pipeline=sales, stage=stage(sales, "Qualified"), responsible=None
    )
    assert other.name == "+34612345678 \N{EN DASH} WhatsApp"
    assert other.stage == stage(sales, "Qualified")


def test_a_new_client_deal_is_not_duplicated_while_one_is_open(sales, support, giulia, rep1):
    first = deal_open_for_new_client(contact=giulia, pipeline=sales, stage=None, responsible=rep1)
    again = deal_open_for_new_client(contact=giulia, pipeline=sales, stage=None, responsible=None)
    assert again.pk == first.pk
    assert Deal.objects.count() == 1

    # Another pipeline is another funnel; a closed deal no longer counts.
    in_support = deal_open_for_new_client(
        contact=giulia, pipeline=support, stage=None, responsible=None
    )
    assert in_support.pk != first.pk
    deal_close(deal=first, won=True)
    fresh = deal_open_for_new_client(contact=giulia, pipeline=sales, stage=None, responsible=None)
    assert fresh.pk not in (first.pk, in_support.pk)
    assert Deal.objects.count() == 3


def test_a_new_client_deal_refuses_a_stage_of_another_pipeline(sales, support, giulia):
    with pytest.raises(ValidationError, match="not to 'Sales'"):
        deal_open_for_new_client(
            contact=giulia, pipeline=sales, stage=stage(support, "Offer"), responsible=None
        )


def test_a_pipeline_without_stages_gives_a_clear_error(giulia):
    from crm.models import Pipeline

    bare = Pipeline.objects.create(name="Bare")
    with pytest.raises(ValidationError, match="has no stages yet"):
        deal_open_for_new_client(contact=giulia, pipeline=bare, stage=None, responsible=None)
    assert not Stage.objects.filter(pipeline=bare).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_new_client_calls_make_one_deal(sales, giulia):
    deal_ids = []

    def open_deal(_):
        deal = deal_open_for_new_client(
            contact=giulia, pipeline=sales, stage=None, responsible=None
        )
        deal_ids.append(deal.pk)

    errors = run_at_once(8, open_deal)
    assert errors == []
    assert Deal.objects.count() == 1
    assert set(deal_ids) == {Deal.objects.get().pk}


def test_converting_a_customer_again_reports_no_change(giulia):
    from crm.models import Contact, ContactKind
    from crm.services import contact_convert_to_customer

    assert contact_convert_to_customer(contact=giulia) is True
    assert Contact.objects.get().kind == ContactKind.CUSTOMER
    assert contact_convert_to_customer(contact=giulia) is False
