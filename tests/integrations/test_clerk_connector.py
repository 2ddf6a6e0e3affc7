import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import responses
from responses import matchers

from integrations.connectors import connector_class
from integrations.connectors.base import ConnectorError, ExternalRecord, RecordKind
from integrations.connectors.clerk import ClerkConnector

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "clerk"
API = "https://api.clerk.io/v2"
# the keys the request fixtures were written with
PUBLIC_KEY = "Hq7nW2xKp9LcR4tVb8ZsM3yFd6Gj1UeA"
PRIVATE_KEY = "Xr4Tk9Wm2Qp7Lz1Vc6Bn3Hj8Gf5Ds0Ae7Yu2Io4Pl9Kx"


def load(name: str) -> dict | list:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def make() -> ClerkConnector:
    return ClerkConnector(
        settings={}, secrets={"public_key": PUBLIC_KEY, "private_key": PRIVATE_KEY}
    )


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


# --- configuration -----------------------------------------------------------------------------


def test_it_accepts_a_key_pair():
    errors = ClerkConnector.validate_config(
        settings={}, secrets={"public_key": PUBLIC_KEY, "private_key": PRIVATE_KEY}
    )
    assert errors == {}


@pytest.mark.parametrize(
    ("secrets", "fields"),
    [
        ({}, {"public_key", "private_key"}),
        ({"public_key": PUBLIC_KEY, "private_key": " "}, {"private_key"}),
        ({"public_key": "abc def", "private_key": PRIVATE_KEY}, {"public_key"}),
        ({"public_key": PUBLIC_KEY, "private_key": PUBLIC_KEY}, {"private_key"}),
    ],
)
def test_it_reports_missing_or_wrong_keys(secrets, fields):
    assert set(ClerkConnector.validate_config(settings={}, secrets=secrets)) == fields


def test_it_is_registered_under_its_key():
    assert connector_class("clerk") is ClerkConnector


def test_it_verifies_the_key_pair(rsps):
    rsps.get(
        f"{API}/client/account/info",
        match=[matchers.query_param_matcher({"key": PUBLIC_KEY, "private_key": PRIVATE_KEY})],
        json=load("account_info_ok"),
    )

    assert make().verify_credentials() == "Keys accepted for Ceramiche Conti Shop"


def test_it_reports_rejected_keys_as_invalid_credentials(rsps):
    rsps.get(f"{API}/client/account/info", status=403, json=load("error_authentication"))

    with pytest.raises(ConnectorError) as caught:
        make().verify_credentials()

    assert caught.value.credentials_invalid is True
    assert caught.value.message == (
        "Clerk.io AuthenticationError: Invalid API key or disabled account. "
        "(http://my.clerk.io/error/4f1c9a2e7b)"
    )


# --- feed tokens -------------------------------------------------------------------------------


def test_it_verifies_a_feed_token(rsps):
    request = load("token_verify_request")
    rsps.post(f"{API}/token/verify", match=[matchers.json_params_matcher(request)], json=load("ok"))

    assert make().token_verify(request["token"]) is True


def test_it_rejects_a_feed_token_clerk_did_not_issue(rsps):
    rsps.post(f"{API}/token/verify", json=load("error_authentication"))

    assert make().token_verify("forged") is False


# --- pushes ------------------------------------------------------------------------------------


def test_it_pushes_customers(rsps):
    request = load("customers_post_request")
    rsps.post(f"{API}/customers", match=[matchers.json_params_matcher(request)], json=load("ok"))

    make().customers_push(request["customers"])

    assert json.loads(rsps.calls[0].request.body) == request
    assert rsps.calls[0].request.headers["Content-Type"] == "application/json"


def test_it_pushes_orders(rsps):
    request = load("orders_post_request")
    rsps.post(f"{API}/orders", match=[matchers.json_params_matcher(request)], json=load("ok"))

    make().orders_push(request["orders"])

    assert json.loads(rsps.calls[0].request.body) == request


def test_it_sends_nothing_for_empty_lists(rsps):
    connector = make()
    connector.customers_push([])
    connector.orders_push([])

    assert len(rsps.calls) == 0


def test_it_pushes_a_record_as_a_customer(rsps):
    request = load("customer_push_request")
    rsps.post(f"{API}/customers", match=[matchers.json_params_matcher(request)], json=load("ok"))
    record = ExternalRecord(
        external_id="C-10442",
        kind=RecordKind.CONTACT,
        name="Giulia Ferrari",
        phone="+393471234567",
        email="giulia.ferrari@example.com",
    )

    assert make().push(record) == "C-10442"


def test_it_pushes_a_company_as_a_b2b_customer(rsps):
    rsps.post(f"{API}/customers", json=load("ok"))

    make().push(ExternalRecord(external_id="CO-7", kind=RecordKind.COMPANY, name="Acme S.p.A."))

    sent = json.loads(rsps.calls[0].request.body)["customers"]
    assert sent == [{"id": "CO-7", "name": "Acme S.p.A.", "is_b2b": True}]


def test_it_needs_our_id_to_push_a_record():
    with pytest.raises(ConnectorError, match="external id"):
        make().push(ExternalRecord(external_id="", kind=RecordKind.CONTACT, name="Giulia"))


def test_it_has_nothing_to_pull(rsps):
    assert list(make().iter_modified(datetime(2024, 5, 1, tzinfo=UTC))) == []
    assert len(rsps.calls) == 0


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 400])
@pytest.mark.parametrize(
    ("fixture", "code", "text", "credentials_invalid", "transient"),
    [
        (
            "error_authentication",
            "AuthenticationError",
            "Invalid API key or disabled account.",
            True,
            False,
        ),
        (
            "error_parsing",
            "ParsingError",
            "Argument 'customers' must be a list of objects.",
            False,
            False,
        ),
        ("error_logical", "LogicalError", "Order 5531 has no products.", False, False),
        ("error_internal", "InternalError", "An internal error occurred.", False, True),
    ],
)
def test_it_maps_every_error_shape(
    rsps, status, fixture, code, text, credentials_invalid, transient
):
    error_body = load(fixture)
    rsps.post(f"{API}/orders", status=status, json=error_body)

    with pytest.raises(ConnectorError) as caught:
        make().orders_push(load("orders_post_request")["orders"])

    error = caught.value
    assert error.code == code
    assert error.message == f"Clerk.io {code}: {text} ({error_body['moreInfo']})"
    assert error.credentials_invalid is credentials_invalid
    assert error.transient is transient
    assert error.raw == error_body
    assert PRIVATE_KEY not in error.message


@pytest.mark.parametrize("status", [500, 502, 429])
def test_it_treats_server_failures_as_transient(rsps, status):
    rsps.post(f"{API}/customers", status=status, body="<html>Bad gateway</html>")

    with pytest.raises(ConnectorError) as caught:
        make().customers_push([{"id": "C-1"}])

    assert caught.value.transient is True
    assert caught.value.code == str(status)


def test_it_refuses_an_answer_without_status_ok(rsps):
    rsps.post(f"{API}/customers", json={"result": "maybe"})

    with pytest.raises(ConnectorError, match="unexpected answer") as caught:
        make().customers_push([{"id": "C-1"}])

    assert caught.value.transient is False


def test_it_treats_a_connection_failure_as_transient(rsps):
    rsps.post(f"{API}/customers", body=requests.ConnectionError("reset"))

    with pytest.raises(ConnectorError) as caught:
        make().customers_push([{"id": "C-1"}])

    assert caught.value.transient is True
