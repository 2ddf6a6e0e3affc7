import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from responses import matchers

from integrations.connectors import connector_class
from integrations.connectors.activecampaign import ActiveCampaignConnector
from integrations.connectors.base import (
    ConnectorError,
    ExternalRecord,
    PushResult,
    RateLimiter,
    RecordKind,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "activecampaign"
ACCOUNT_URL = "https://acmeshop.api-us1.com"
API = f"{ACCOUNT_URL}/api/3"
TOKEN = "8f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0"
SINCE = datetime(2024, 5, 5, 0, 0, tzinfo=UTC)


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


class FakeClock:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


def make(clock: FakeClock, **settings) -> ActiveCampaignConnector:
    return ActiveCampaignConnector(
        settings={"api_url": ACCOUNT_URL, **settings},
        secrets={"api_token": TOKEN},
        clock=clock,
        sleep=clock.sleep,
    )


def params(call) -> dict:
    return dict(parse_qsl(urlsplit(call.request.url).query))


def body(call) -> dict:
    return json.loads(call.request.body)


# --- configuration -----------------------------------------------------------------------------


def test_it_accepts_a_complete_config():
    errors = ActiveCampaignConnector.validate_config(
        settings={"api_url": ACCOUNT_URL}, secrets={"api_token": TOKEN}
    )
    assert errors == {}


@pytest.mark.parametrize(
    ("settings", "secrets", "fields"),
    [
        ({}, {}, {"api_url", "api_token"}),
        ({"api_url": "http://acmeshop.api-us1.com"}, {"api_token": TOKEN}, {"api_url"}),
        ({"api_url": "acmeshop.api-us1.com"}, {"api_token": TOKEN}, {"api_url"}),
        ({"api_url": ACCOUNT_URL}, {"api_token": "abc def"}, {"api_token"}),
    ],
)
def test_it_reports_wrong_settings(settings, secrets, fields):
    errors = ActiveCampaignConnector.validate_config(settings=settings, secrets=secrets)
    assert set(errors) == fields


def test_it_accepts_the_url_with_or_without_the_api_path(clock):
    assert make(clock).base_url == API
    assert make(clock, api_url=f"{API}/").base_url == API


def test_it_is_registered_under_its_key():
    assert connector_class("activecampaign") is ActiveCampaignConnector


def test_it_verifies_the_token_and_names_its_user(rsps, clock):
    rsps.get(
        f"{API}/users/me",
        match=[matchers.header_matcher({"Api-Token": TOKEN, "Accept": "application/json"})],
        json=load("users_me"),
    )

    assert make(clock).verify_credentials() == "Connected as Anna Rossi <anna.rossi@example.com>"


# --- contacts ----------------------------------------------------------------------------------


def test_it_pages_contacts_updated_after_until_the_total(rsps, clock):
    rsps.get(f"{API}/contacts", json=load("contacts_list_updated_after_page1"))
    rsps.get(f"{API}/contacts", json=load("contacts_list_updated_after_page2"))
    connector = make(clock)
    connector.page_size = 2

    records = list(connector.iter_modified(SINCE))

    assert [r.external_id for r in records] == ["2187", "2203", "2231"]
    assert [params(call) for call in rsps.calls] == [
        {
            "filters[updated_after]": "2024-05-05T00:00:00+00:00",
            "orders[id]": "ASC",
            "limit": "2",
            "offset": str(offset),
        }
        for offset in (0, 2)
    ]
    # the brackets travel URL-encoded
    assert (
        "filters%5Bupdated_after%5D=2024-05-05T00%3A00%3A00%2B00%3A00" in rsps.calls[0].request.url
    )


def test_it_stops_at_an_empty_page_when_there_is_no_total(rsps, clock):
    page = load("contacts_list_updated_after_page1")
    del page["meta"]
    rsps.get(f"{API}/contacts", json=page)
    rsps.get(f"{API}/contacts", json=load("contacts_list_empty"))

    records = list(make(clock).iter_modified(SINCE))

    assert len(records) == 2
    assert [params(call)["offset"] for call in rsps.calls] == ["0", "2"]


def test_it_yields_nothing_for_an_empty_list(rsps, clock):
    rsps.get(f"{API}/contacts", json=load("contacts_list_empty"))

    assert list(make(clock).iter_modified(SINCE)) == []
    assert len(rsps.calls) == 1


def test_it_sends_since_with_its_offset(rsps, clock):
    rsps.get(f"{API}/contacts", json=load("contacts_list_empty"))
    rome = timezone(timedelta(hours=2))

    list(make(clock).iter_modified(datetime(2024, 5, 5, 9, 30, tzinfo=rome)))

    assert params(rsps.calls[0])["filters[updated_after]"] == "2024-05-05T09:30:00+02:00"


def test_it_maps_contacts(rsps, clock):
    rsps.get(f"{API}/contacts", json=load("contacts_list_updated_after_page2"))
    rsps.get(f"{API}/contacts", json=load("contacts_list_empty"))

    (tom,) = make(clock).iter_modified(SINCE)

    assert tom == ExternalRecord(
        external_id="2231",
        kind=RecordKind.CONTACT,
        name="Tom O'Neill",
        phone="+447700900123",
        email="",
        company_external_id="",  # orgid "0" is no organization
        company_name="",
        modified_at=datetime(2024, 5, 5, 11, 31, 9, tzinfo=UTC),
        raw=tom.raw,
    )
    assert tom.raw["hash"] == "d41f0c6a9e3b2875c1a0f4e6b9d2c7a3"


def test_it_fetches_a_contact_and_finds_one_by_email(rsps, clock):
    rsps.get(f"{API}/contacts/2187", json=load("contact_get"))
    rsps.get(
        f"{API}/contacts",
        match=[matchers.query_param_matcher({"email": "giulia.ferrari@example.com"})],
        json=load("contacts_list_by_email"),
    )
    rsps.get(
        f"{API}/contacts",
        match=[matchers.query_param_matcher({"email": "nobody@example.com"})],
        json=load("contacts_list_empty"),
    )
    connector = make(clock)

    fetched = connector.contact_fetch("2187")
    found = connector.contact_find_by_email("giulia.ferrari@example.com")

    assert (fetched.external_id, fetched.name, fetched.phone) == (
        "2187",
        "Giulia Ferrari",
        "+393471234567",
    )
    assert found.external_id == "2187"
    assert connector.contact_find_by_email("nobody@example.com") is None


def test_it_lists_custom_fields(rsps, clock):
    rsps.get(f"{API}/fields", json=load("fields_list"))

    fields = make(clock).fields()

    assert fields[1] == {
        "id": "4",
        "title": "Lead channel",
        "perstag": "LEAD_CHANNEL",
        "type": "dropdown",
    }
    assert [f["perstag"] for f in fields] == [
        "COMPANY",
        "LEAD_CHANNEL",
        "FIRST_WHATSAPP_CONTACT",
        "CRM_CONTACT_ID",
    ]


def test_it_syncs_a_contact_by_email(rsps, clock):
    rsps.post(
        f"{API}/contact/sync",
        match=[matchers.json_params_matcher(load("contact_sync_request"))],
        status=201,
        json=load("contact_sync_created"),
    )

    contact_id = make(clock).contact_sync(
        email="giulia.ferrari@example.com",
        first_name="Giulia",
        last_name="Ferrari",
        phone="+393471234567",
        field_values={"4": "whatsapp", "7": "2024-05-05"},
    )

    assert contact_id == "2187"
    assert body(rsps.calls[0]) == load("contact_sync_request")


def test_it_refuses_a_sync_without_email(clock):
    with pytest.raises(ConnectorError, match="e-mail"):
        make(clock).contact_sync(email="", phone="+393471234567")


def test_it_creates_a_phone_only_contact(rsps, clock):
    rsps.post(
        f"{API}/contacts",
        match=[matchers.json_params_matcher(load("contact_create_phone_only_request"))],
        status=201,
        json=load("contact_create_phone_only_created"),
    )

    contact_id = make(clock).contact_create(
        phone="+393205550101",
        first_name="WhatsApp",
        last_name="+39 320 555 0101",
        field_values={"4": "whatsapp"},
    )

    assert contact_id == "2240"
    assert "email" not in body(rsps.calls[0])["contact"]


def test_it_pushes_a_record_with_email_through_sync(rsps, clock):
    expected = load("contact_sync_request")
    del expected["contact"]["fieldValues"]
    rsps.post(
        f"{API}/contact/sync",
        match=[matchers.json_params_matcher(expected)],
        status=201,
        json=load("contact_sync_created"),
    )
    record = ExternalRecord(
        external_id="",
        kind=RecordKind.CONTACT,
        name="Giulia Ferrari",
        phone="+393471234567",
        email="giulia.ferrari@example.com",
    )

    assert make(clock).push(record) == "2187"


def test_it_pushes_a_record_without_email_as_phone_only(rsps, clock):
    rsps.post(
        f"{API}/contacts",
        match=[
            matchers.json_params_matcher(
                {
                    "contact": {
                        "firstName": "WhatsApp",
                        "lastName": "+39 320 555 0101",
                        "phone": "+393205550101",
                        "allowNullEmail": True,
                    }
                }
            )
        ],
        status=201,
        json=load("contact_create_phone_only_created"),
    )
    record = ExternalRecord(
        external_id="",
        kind=RecordKind.LEAD,
        name="WhatsApp +39 320 555 0101",
        phone="+393205550101",
    )

    assert make(clock).push(record) == "2240"


def test_it_pushes_a_known_contact_with_put(rsps, clock):
    rsps.put(
        f"{API}/contacts/2187",
        match=[
            matchers.json_params_matcher(
                {
                    "contact": {
                        "email": "giulia.ferrari@example.com",
                        "firstName": "Giulia",
                        "lastName": "Ferrari-Conti",
                    }
                }
            )
        ],
        json=load("contact_updated"),
    )
    record = ExternalRecord(
        external_id="2187",
        kind=RecordKind.CONTACT,
        name="Giulia Ferrari-Conti",
        email="giulia.ferrari@example.com",
    )

    assert make(clock).push(record) == "2187"


def listed(contact_id: str, phone: str, email: str = "") -> dict:
    """A one-contact answer of GET /contacts."""
    contact = load("contacts_list_by_email")["contacts"][0]
    return {
        **load("contacts_list_by_email"),
        "contacts": [{**contact, "id": contact_id, "phone": phone, "email": email}],
    }


def test_a_phone_only_duplicate_is_found_by_phone_updated_and_reported_as_existing(rsps, clock):
    rsps.post(f"{API}/contacts", status=422, json=load("error_422_duplicate"))
    # Stored as typed: the E.164 query finds a longer number only, the 00 form finds it.
    rsps.get(
        f"{API}/contacts",
        match=[matchers.query_param_matcher({"phone": "+393205550101"})],
        json=listed("2300", "+39 320 555 01019"),
    )
    rsps.get(
        f"{API}/contacts",
        match=[matchers.query_param_matcher({"phone": "00393205550101"})],
        json=listed("2240", "0039 320 555 0101"),
    )
    rsps.put(
        f"{API}/contacts/2240",
        match=[
            matchers.json_params_matcher(
                {"contact": {"firstName": "Paolo", "lastName": "Russo", "phone": "+393205550101"}}
            )
        ],
        json={"contact": {"id": "2240"}},
    )
    record = ExternalRecord(
        external_id="", kind=RecordKind.CONTACT, name="Paolo Russo", phone="+393205550101"
    )

    assert make(clock).push_result(record) == PushResult("2240", existed=True)
    assert [c.request.method for c in rsps.calls] == ["POST", "GET", "GET", "PUT"]


def test_a_duplicate_is_looked_up_by_email_before_phone(rsps, clock):
    rsps.post(f"{API}/contact/sync", status=422, json=load("error_422_duplicate"))
    rsps.get(
        f"{API}/contacts",
        match=[matchers.query_param_matcher({"email": "giulia.ferrari@example.com"})],
        json=load("contacts_list_by_email"),
    )
    rsps.put(f"{API}/contacts/2187", json=load("contact_updated"))
    record = ExternalRecord(
        external_id="",
        kind=RecordKind.CONTACT,
        name="Giulia Ferrari",
        phone="+393471234567",
        email="giulia.ferrari@example.com",
    )

    assert make(clock).push(record) == "2187"
    assert len(rsps.calls) == 3  # no phone search: the e-mail found it


def test_a_duplicate_that_cannot_be_found_is_still_the_platforms_refusal(rsps, clock):
    rsps.post(f"{API}/contacts", status=422, json=load("error_422_duplicate"))
    rsps.get(f"{API}/contacts", json=load("contacts_list_empty"))
    record = ExternalRecord(external_id="", kind=RecordKind.CONTACT, phone="+393205550101")

    with pytest.raises(ConnectorError, match="already exists") as caught:
        make(clock).push(record)

    assert caught.value.code == "duplicate"
    assert {c.request.url.split("phone=")[1] for c in rsps.calls[1:]} == {
        "%2B393205550101",
        "00393205550101",
        "393205550101",
    }


def test_other_refusals_of_a_create_are_not_looked_up(rsps, clock):
    rsps.post(f"{API}/contacts", status=422, json=load("error_422_missing_attribute"))
    record = ExternalRecord(external_id="", kind=RecordKind.CONTACT, phone="+393205550101")

    with pytest.raises(ConnectorError, match="Missing attribute"):
        make(clock).push(record)
    assert len(rsps.calls) == 1


def test_it_refuses_to_push_companies_and_empty_contacts(clock):
    connector = make(clock)
    with pytest.raises(ConnectorError, match="contacts only"):
        connector.push(ExternalRecord(external_id="", kind=RecordKind.COMPANY, name="Acme"))
    with pytest.raises(ConnectorError, match="e-mail address or a phone"):
        connector.push(ExternalRecord(external_id="", kind=RecordKind.CONTACT, name="Nobody"))


# --- tags --------------------------------------------------------------------------------------


def test_it_finds_a_tag_by_its_exact_name(rsps, clock):
    rsps.get(
        f"{API}/tags",
        match=[matchers.query_param_matcher({"search": "whatsapp"})],
        json=load("tags_search"),
    )

    # the search also matched "whatsapp-optout"
    assert make(clock).tag_find("whatsapp") == "31"


def test_it_creates_a_tag_that_does_not_exist_yet(rsps, clock):
    rsps.get(f"{API}/tags", json=load("tags_search_no_exact"))
    rsps.post(
        f"{API}/tags",
        match=[matchers.json_params_matcher(load("tag_create_request"))],
        status=201,
        json=load("tag_created"),
    )

    tag_id = make(clock).tag_find_or_create(
        "whatsapp-lead", description="Created by the WhatsApp hub"
    )

    assert tag_id == "77"


def test_it_reuses_an_existing_tag(rsps, clock):
    rsps.get(f"{API}/tags", json=load("tags_search"))

    assert make(clock).tag_find_or_create("whatsapp") == "31"
    assert [call.request.method for call in rsps.calls] == ["GET"]


def test_it_adds_a_tag_to_a_contact(rsps, clock):
    rsps.get(f"{API}/contacts/2187/contactTags", json=load("contact_tags_list_empty"))
    rsps.post(
        f"{API}/contactTags",
        match=[matchers.json_params_matcher(load("contact_tag_request"))],
        status=201,
        json=load("contact_tag_created"),
    )

    assert make(clock).contact_tag_add("2187", "31") == "6620"


def test_it_does_not_tag_a_contact_twice(rsps, clock):
    rsps.get(f"{API}/contacts/2187/contactTags", json=load("contact_tags_list"))

    assert make(clock).contact_tag_add("2187", "31") == "6620"
    assert len(rsps.calls) == 1


def test_it_removes_a_tag_from_a_contact(rsps, clock):
    rsps.get(f"{API}/contacts/2187/contactTags", json=load("contact_tags_list"))
    rsps.delete(f"{API}/contactTags/6620", json={})
    connector = make(clock)

    assert connector.contact_tag_remove("2187", "31") is True
    assert connector.contact_tag_remove("2187", "58") is False
    assert [call.request.method for call in rsps.calls] == ["GET", "DELETE", "GET"]


# --- rate limit --------------------------------------------------------------------------------


def test_it_waits_out_retry_after_on_429(rsps, clock):
    rsps.get(f"{API}/users/me", status=429, headers={"Retry-After": "2"}, body="")
    rsps.get(f"{API}/users/me", status=429, headers={"Retry-After": "1.5"}, body="")
    rsps.get(f"{API}/users/me", json=load("users_me"))

    assert make(clock).verify_credentials().startswith("Connected as Anna Rossi")
    assert clock.waits == [2.0, 1.5]
    assert len(rsps.calls) == 3


def test_it_gives_up_after_three_retries(rsps, clock):
    rsps.get(f"{API}/users/me", status=429, headers={"Retry-After": "1"}, body="")

    with pytest.raises(ConnectorError) as caught:
        make(clock).verify_credentials()

    assert len(rsps.calls) == 4
    assert clock.waits == [1.0, 1.0, 1.0]
    assert caught.value.transient is True
    assert caught.value.retry_after == 1.0
    assert caught.value.code == "429"


def test_it_hands_a_long_retry_after_back_to_the_caller(rsps, clock):
    rsps.get(f"{API}/users/me", status=429, headers={"Retry-After": "120"}, body="")

    with pytest.raises(ConnectorError) as caught:
        make(clock).verify_credentials()

    assert caught.value.retry_after == 120.0
    assert clock.waits == []
    assert len(rsps.calls) == 1


def test_it_never_makes_more_than_five_calls_in_a_second(rsps, clock):
    stamps = []

    def answer(request):
        stamps.append(clock.now)
        return (200, {}, json.dumps(load("users_me")))

    rsps.add_callback(responses.GET, f"{API}/users/me", callback=answer)
    connector = make(clock)

    for _ in range(16):
        connector.verify_credentials()

    assert len(stamps) == 16
    assert all(later - earlier >= 1.0 for earlier, later in zip(stamps, stamps[5:], strict=False))
    assert stamps[:5] == [1000.0] * 5  # no needless wait for the first five
    assert stamps[5] == 1001.0


def test_it_lets_calls_spread_over_time_through_without_waiting():
    now = [0.0]
    waits = []
    limiter = RateLimiter(5, 1.0, clock=lambda: now[0], sleep=waits.append)

    for _ in range(20):
        limiter.wait()
        now[0] += 0.25

    assert waits == []


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "fixture", "message", "code", "credentials_invalid", "transient"),
    [
        (
            403,
            "error_403_forbidden",
            "ActiveCampaign refused the API token: Forbidden (HTTP 403).",
            "403",
            True,
            False,
        ),
        (
            404,
            "error_404_message",
            "ActiveCampaign: No Result found for Subscriber with id 999999 (HTTP 404).",
            "404",
            False,
            False,
        ),
        (
            404,
            "error_404_contact_tag",
            "ActiveCampaign: Not Found: Contact not found (HTTP 404).",
            "404",
            False,
            False,
        ),
        (
            422,
            "error_422_missing_attribute",
            "ActiveCampaign rejected the data: Missing attribute (contact) (HTTP 422).",
            "422",
            False,
            False,
        ),
        (
            422,
            "error_422_duplicate",
            "ActiveCampaign rejected the data: Email address already exists in the system "
            "(email) (HTTP 422).",
            "duplicate",
            False,
            False,
        ),
        (
            422,
            "error_422_bulk_string",
            "ActiveCampaign rejected the data: Bulk operation failed. Request must contain an "
            "array of fieldOption objects. (HTTP 422).",
            "422",
            False,
            False,
        ),
        (400, "error_400_empty", "ActiveCampaign: Bad Request (HTTP 400).", "400", False, False),
        (
            503,
            None,
            "ActiveCampaign is unavailable: Service Unavailable (HTTP 503).",
            "503",
            False,
            True,
        ),
    ],
)
def test_it_maps_every_error_shape(
    rsps, clock, status, fixture, message, code, credentials_invalid, transient
):
    if fixture:
        rsps.post(f"{API}/contact/sync", status=status, json=load(fixture))
    else:
        rsps.post(f"{API}/contact/sync", status=status, body="<html>busy</html>")

    with pytest.raises(ConnectorError) as caught:
        make(clock).contact_sync(email="giulia.ferrari@example.com")

    error = caught.value
    assert error.message == message
    assert error.code == code
    assert error.credentials_invalid is credentials_invalid
    assert error.transient is transient
    assert TOKEN not in error.message


def test_it_passes_retry_after_of_a_503_on(rsps, clock):
    rsps.get(f"{API}/users/me", status=503, headers={"Retry-After": "7"}, body="")

    with pytest.raises(ConnectorError) as caught:
        make(clock).verify_credentials()

    assert caught.value.transient is True
    assert caught.value.retry_after == 7.0


def test_it_treats_a_connection_failure_as_transient(rsps, clock):
    rsps.get(f"{API}/users/me", body=requests.ConnectTimeout("slow"))

    with pytest.raises(ConnectorError) as caught:
        make(clock).verify_credentials()

    assert caught.value.transient is True


# --- deletion (GDPR erasure) -------------------------------------------------------------------


def test_it_deletes_a_contact_and_counts_one_already_gone_as_deleted(clock, rsps):
    rsps.delete(f"{API}/contacts/7", json={})
    rsps.delete(
        f"{API}/contacts/8",
        status=404,
        json={"message": "No result found for contact with id 8"},
    )
    connector = make(clock)
    assert connector.supports_delete
    connector.delete(external_id="7", kind="contact")
    connector.delete(external_id="8", kind="contact")
    assert [call.request.method for call in rsps.calls] == ["DELETE", "DELETE"]


def test_a_refused_delete_is_an_error(clock, rsps):
    rsps.delete(f"{API}/contacts/9", status=403, json={"message": "Forbidden"})
    with pytest.raises(ConnectorError):
        make(clock).delete(external_id="9", kind="contact")
