"""Our CRM pushed to Wazzup: the request bodies, batches of at most 100, the shared 500-per-5-s
budget, field errors per record, deletions, and the push after a change commits."""

import json

import pytest
import requests
import responses
from django.utils import timezone

from accounts.models import Role
from crm.models import Contact, ContactAddress, Deal, Pipeline, Stage
from integrations.connectors.wazzup_crm import (
    PipelineRecord,
    UserRecord,
    WazzupCrmMirror,
    pipeline_wire,
    user_wire,
)
from integrations.models import ExternalLink, IntegrationAccount, RequestWindow
from integrations.rate_limit import request_slot_acquire
from integrations.services import account_crm_push
from messaging.providers.base import Address, ContactRecord, DealRecord
from messaging.providers.wazzup_parse import contact_wire, deal_wire
from tests.wazzup.conftest import API, API_KEY, fixture_json, make_agent


def posted(mocked, route):
    return [
        json.loads(call.request.body)
        for call in mocked.calls
        if call.request.url == f"{API}/{route}" and call.request.method == "POST"
    ]


# Wire shapes


def test_users_in_wazzup_shape():
    users = [
        UserRecord("crm-user-17", "Anna Petrova", "+79261234567"),
        UserRecord("crm-user-42", "Igor Smirnov"),
    ]
    assert [user_wire(u) for u in users] == fixture_json("users_post_request.json")


def test_contacts_in_wazzup_shape():
    contacts = [
        ContactRecord(
            "crm-contact-1001",
            "Olivia Bennett",
            "crm-user-17",
            (Address("whatsapp", "+447700900123"),),
            "https://crm.example.com/contacts/1001",
        ),
        ContactRecord(
            "crm-contact-1002",
            "Sam Carter",
            "crm-user-42",
            (Address("telegram", "5123456789", "sam_c"), Address("whatsapp_bsuid", "US.1")),
        ),
    ]
    assert [contact_wire(c) for c in contacts] == fixture_json("contacts_post_request.json")


def test_deals_in_wazzup_shape():
    deal = DealRecord(
        "crm-deal-501",
        "Order #4821 claim",
        "crm-user-17",
        ("crm-contact-1001",),
        False,
        "https://crm.example.com/deals/501",
    )
    assert [deal_wire(deal)] == fixture_json("deals_post_request.json")


def test_pipelines_without_stages_carry_no_stages_array():
    pipelines = [
        PipelineRecord(
            "support",
            "Support tickets",
            (("new", "New"), ("in_progress", "In progress"), ("solved", "Solved")),
        ),
        PipelineRecord("misc", "Misc"),
    ]
    assert [pipeline_wire(p) for p in pipelines] == fixture_json("pipelines_post_request.json")


# The rate limit


class FakeTime:
    def __init__(self, start=1000.0):
        self.now = start
        self.slept = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(round(seconds, 3))
        self.now += seconds


@pytest.mark.django_db
def test_the_budget_waits_for_the_next_window_in_the_database(settings):
    settings.REDIS_URL = ""
    fake = FakeTime(start=1001.0)
    for _ in range(3):
        request_slot_acquire(name="t", limit=3, period=5, clock=fake.clock, sleep=fake.sleep)
    assert fake.slept == []
    request_slot_acquire(name="t", limit=3, period=5, clock=fake.clock, sleep=fake.sleep)
    assert fake.slept == [4.0]  # until 1005, when Wazzup's counter resets
    row = RequestWindow.objects.get(name="t")
    assert (row.window, row.count) == (1005, 1)


def _redis_url():
    import redis

    url = "redis://127.0.0.1:6379/5"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except Exception:
        pytest.skip("no Redis at 127.0.0.1:6379")
    return url


@pytest.mark.django_db
def test_the_budget_is_shared_through_redis_when_configured(settings):
    import redis

    settings.REDIS_URL = _redis_url()
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter("switchboard:rate:shared-test:*"):
        client.delete(key)
    fake = FakeTime(start=2000.0)
    other_process = FakeTime(start=2000.0)
    for _ in range(2):
        request_slot_acquire(
            name="shared-test", limit=3, period=5, clock=fake.clock, sleep=fake.sleep
        )
    request_slot_acquire(
        name="shared-test", limit=3, period=5, clock=other_process.clock, sleep=other_process.sleep
    )
    request_slot_acquire(name="shared-test", limit=3, period=5, clock=fake.clock, sleep=fake.sleep)
    assert (fake.slept, other_process.slept) == ([5.0], [])
    assert not RequestWindow.objects.exists()


@responses.activate
@pytest.mark.django_db
def test_every_request_of_a_push_counts_against_the_budget(settings):
    settings.REDIS_URL = ""
    responses.post(f"{API}/users", status=200)
    fake = FakeTime(start=3000.0)
    mirror = WazzupCrmMirror(
        settings={}, secrets={"api_key": API_KEY}, clock=fake.clock, sleep=fake.sleep
    )
    RequestWindow.objects.create(name=mirror.budget, window=3000, count=499)
    users = [UserRecord(str(i), f"Agent {i}") for i in range(250)]
    outcome = mirror.push("users", users)
    assert outcome.requests == 3
    assert [len(json.loads(c.request.body)) for c in responses.calls] == [100, 100, 50]
    assert fake.slept == [5.0]  # the 501st request of the window waited for the next one


# Pushing the CRM


@pytest.fixture
def push_account(db):
    return IntegrationAccount.objects.create(
        description="Wazzup",
        platform="wazzup",
        settings={"crm_push": "on"},
        secrets={"api_key": API_KEY, "webhook_token": "t"},
    )


@pytest.fixture
def crm(db):
    anna = make_agent("anna")
    pipeline = Pipeline.objects.create(name="Sales")
    Stage.objects.create(pipeline=pipeline, name="New", position=1)
    olivia = Contact.objects.create(phone="+447700900123", name="Olivia", responsible=anna)
    sam = Contact.objects.create(name="Sam", responsible=anna)
    ContactAddress.objects.create(
        contact=sam, transport="telegram", address="51234", handle="sam_c"
    )
    Contact.objects.create(phone="+447700900555", name="Nobody's")  # no responsible yet
    deal = Deal.objects.create(
        name="Order", pipeline=pipeline, stage=pipeline.stages.get(), responsible=anna
    )
    deal.contacts.set([olivia])
    return anna, pipeline, olivia, sam, deal


@pytest.fixture
def wazzup_ok(wazzup_api):
    for route in ("users", "pipelines", "contacts", "deals"):
        wazzup_api.post(f"{API}/{route}", status=200)
        wazzup_api.patch(f"{API}/{route}/bulk_delete", status=200)
    return wazzup_api


def test_a_push_sends_agents_funnels_contacts_and_deals(push_account, crm, wazzup_ok, settings):
    settings.REDIS_URL = ""
    anna, pipeline, olivia, sam, deal = crm
    stats, errors = account_crm_push(account=push_account)
    assert errors == []
    assert posted(wazzup_ok, "users") == [[{"id": str(anna.pk), "name": "Anna"}]]
    assert posted(wazzup_ok, "pipelines") == [
        [
            {
                "id": str(pipeline.pk),
                "name": "Sales",
                "stages": [{"id": str(pipeline.stages.get().pk), "name": "New"}],
            }
        ]
    ]
    [contacts] = posted(wazzup_ok, "contacts")
    assert contacts == [
        {
            "id": str(olivia.pk),
            "responsibleUserId": str(anna.pk),
            "name": "Olivia",
            "contactData": [{"chatType": "whatsapp", "chatId": "447700900123"}],
            "uri": f"{settings.PUBLIC_BASE_URL}/admin/crm/contact/{olivia.pk}/change/",
        },
        {
            "id": str(sam.pk),
            "responsibleUserId": str(anna.pk),
            "name": "Sam",
            "contactData": [{"chatType": "telegram", "chatId": "51234", "username": "sam_c"}],
            "uri": f"{settings.PUBLIC_BASE_URL}/admin/crm/contact/{sam.pk}/change/",
        },
    ]
    assert posted(wazzup_ok, "deals") == [
        [
            {
                "id": str(deal.pk),
                "responsibleUserId": str(anna.pk),
                "name": "Order",
                "contacts": [str(olivia.pk)],
                "uri": f"{settings.PUBLIC_BASE_URL}/admin/crm/deal/{deal.pk}/change/",
                "closed": False,
            }
        ]
    ]
    assert stats["contacts_skipped_no_responsible"] == 1

    # A second push sends only what changed since.
    wazzup_ok.calls.reset()
    Contact.objects.filter(pk=sam.pk).update(name="Sam Carter")
    Contact.objects.get(pk=sam.pk).save()
    account_crm_push(account=push_account)
    [contacts] = posted(wazzup_ok, "contacts")
    assert [c["name"] for c in contacts] == ["Sam Carter"]
    assert posted(wazzup_ok, "deals") == []


def test_contacts_go_in_batches_of_100(push_account, wazzup_ok, settings):
    settings.REDIS_URL = ""
    anna = make_agent("anna")
    Contact.objects.bulk_create(
        [Contact(phone=f"+4477009{i:05d}", name=f"C{i}", responsible=anna) for i in range(230)]
    )
    stats, _ = account_crm_push(account=push_account)
    assert [len(body) for body in posted(wazzup_ok, "contacts")] == [100, 100, 30]
    assert stats["contacts_pushed"] == 230


def test_a_field_error_is_recorded_on_its_record_and_the_batch_goes(
    push_account, crm, wazzup_api, settings
):
    settings.REDIS_URL = ""
    _, _, olivia, sam, _ = crm
    for route in ("users", "pipelines", "deals"):
        wazzup_api.post(f"{API}/{route}", status=200)
    # Wazzup refuses the batch for the record at index 1 (Sam): the rest goes again.
    wazzup_api.post(
        f"{API}/contacts", json=fixture_json("error_invalid_contacts_data.json"), status=400
    )
    wazzup_api.post(f"{API}/contacts", status=200)
    stats, errors = account_crm_push(account=push_account)
    first, second = posted(wazzup_api, "contacts")
    assert [c["id"] for c in first] == [str(olivia.pk), str(sam.pk)]
    assert [c["id"] for c in second] == [str(olivia.pk)]
    assert errors == [f"contact {sam.pk}: INVALID_CONTACTS_DATA: responsibleUserId"]
    refused = ExternalLink.objects.get(object_type="contact", local_id=sam.pk)
    assert (refused.push_error, refused.synced_at) == (
        "INVALID_CONTACTS_DATA: responsibleUserId",
        None,
    )
    assert ExternalLink.objects.get(object_type="contact", local_id=olivia.pk).push_error == ""
    assert (stats["contacts_pushed"], stats["contacts_refused"]) == (1, 1)


def test_too_many_entities_is_not_a_field_error(push_account, wazzup_api, settings):
    from messaging.providers.base import ProviderError

    settings.REDIS_URL = ""
    wazzup_api.post(f"{API}/users", json=fixture_json("error_too_many_entities.json"), status=400)
    make_agent("anna")
    with pytest.raises(ProviderError, match="TOO_MANY_ENTITIES"):
        account_crm_push(account=push_account)


def test_deletions_are_pushed(push_account, crm, wazzup_ok, settings):
    settings.REDIS_URL = ""
    sam = crm[3]
    account_crm_push(account=push_account)
    sam_id = sam.pk
    sam.delete()
    wazzup_ok.calls.reset()
    account_crm_push(account=push_account)
    deletes = [
        (call.request.url, json.loads(call.request.body))
        for call in wazzup_ok.calls
        if call.request.method == "PATCH"
    ]
    assert deletes == [(f"{API}/contacts/bulk_delete", [str(sam_id)])]
    assert not ExternalLink.objects.filter(object_type="contact", local_id=sam_id).exists()


def test_a_change_is_pushed_after_it_commits(
    push_account, wazzup_ok, settings, django_capture_on_commit_callbacks
):
    settings.REDIS_URL = ""
    anna = make_agent("anna", role=Role.SALES_REP)
    with django_capture_on_commit_callbacks(execute=True):
        Contact.objects.create(phone="+447700900777", name="New one", responsible=anna)
    [contacts] = posted(wazzup_ok, "contacts")
    assert [c["name"] for c in contacts] == ["New one"]


def test_no_push_without_the_setting(crm, wazzup_api, django_capture_on_commit_callbacks):
    IntegrationAccount.objects.create(
        description="Wazzup", platform="wazzup", secrets={"api_key": API_KEY}
    )
    with django_capture_on_commit_callbacks(execute=True):
        Contact.objects.create(phone="+447700900778", name="Quiet")
    assert len(wazzup_api.calls) == 0


def test_a_new_client_routed_from_a_webhook_is_pushed_with_their_agent(
    wz_post, wz_whatsapp, wazzup_ok, settings
):
    from messaging.models import RoutingMode

    settings.REDIS_URL = ""
    wz_whatsapp.account.settings = {"crm_push": "on"}
    wz_whatsapp.account.save()
    wz_whatsapp.routing_mode = RoutingMode.ROUND_ROBIN
    wz_whatsapp.save()
    igor = make_agent("igor", channels=[wz_whatsapp])
    wz_post("webhook_messages.json")
    contact = Contact.objects.get()
    assert contact.responsible == igor
    pushed = [c for body in posted(wazzup_ok, "contacts") for c in body]
    assert pushed[-1]["id"] == str(contact.pk)
    assert pushed[-1]["responsibleUserId"] == str(igor.pk)


def test_a_push_that_cannot_reach_wazzup_is_tried_again_in_a_minute(
    push_account, crm, wazzup_api, settings
):
    from django_q.models import Schedule

    from integrations.services import crm_mirrors_push

    settings.REDIS_URL = ""
    wazzup_api.post(f"{API}/users", body=requests.exceptions.ConnectionError("refused"))
    for _ in range(2):
        done = crm_mirrors_push()
        assert "error" in done["Wazzup"]
    # One pending retry however often it failed, and it runs the same push task once.
    retry = Schedule.objects.get(name="crm_mirrors_push_retry")
    assert (retry.func, retry.schedule_type, retry.repeats) == (
        "integrations.tasks.crm_mirrors_push",
        Schedule.ONCE,
        -1,
    )
    assert retry.next_run > timezone.now()


def test_a_refused_push_is_not_retried_on_its_own(push_account, crm, wazzup_api, settings):
    from django_q.models import Schedule

    from integrations.services import crm_mirrors_push

    settings.REDIS_URL = ""
    wazzup_api.post(f"{API}/users", status=401, json={"error": "WRONG_KEY"})
    assert "error" in crm_mirrors_push()["Wazzup"]
    assert not Schedule.objects.filter(name="crm_mirrors_push_retry").exists()
