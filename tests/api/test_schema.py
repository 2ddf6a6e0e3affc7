"""The OpenAPI schema is valid, its docs page works offline, and the API keeps its promises:
a schemathesis run against the live WSGI app (fixed examples, fixed seed) finds no server error,
no undocumented status or content type, no response that breaks the schema, and no request the
schema refuses but the server takes."""

import contextlib

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from integrations.models import NotificationRule
from messaging.models import Message
from tickets.models import Ticket, TicketComment

from .conftest import make_key, open_window, token_client


def test_the_schema_passes_drf_spectacular_validation_without_warnings(tmp_path):
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml")
    )


@pytest.mark.django_db
def test_the_schema_documents_each_event_types_data_and_the_error_shape(client):
    schema = client.get("/api/schema/?format=json").json()
    events = schema["components"]["schemas"]["BusinessEventInRequest"]
    assert events["discriminator"]["propertyName"] == "type"
    assert set(events["discriminator"]["mapping"]) >= {"order_status_changed", "activity_due"}
    order = schema["components"]["schemas"]["OrderStatusChangedEventRequest"]
    assert "Phone: `recipient`, else `customer.phone`." in order["description"]
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["in"] == "header"
    refused = schema["paths"]["/api/v1/messages/"]["post"]["responses"]["422"]
    assert refused["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


@pytest.mark.django_db
def test_the_docs_page_loads_its_assets_from_our_own_static_files(client, settings):
    # As with DEBUG on (`make run`); production serves the same files after collectstatic.
    settings.WHITENOISE_USE_FINDERS = True
    page = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    asset = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


# --- schemathesis -----------------------------------------------------------------------------


# A fixed, small run: the fuzzing phase only (the coverage phase's case count grows with the
# schema), a fixed seed and number of examples per operation.
EXAMPLES = 6
SCHEMATHESIS_CONFIG = schemathesis.Config.from_dict(
    {"seed": 20260301, "phases": {"coverage": {"enabled": False}}}
)


@contextlib.contextmanager
def _connection_kept():
    """Calling the WSGI app directly fires request_started/finished, whose handler closes the
    database connection (and the test's transaction with it); Django's test client unhooks it
    the same way while it makes a request."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _load_schema():
    with _connection_kept():
        return schemathesis.openapi.from_wsgi(
            "/api/schema/?format=json", application, config=SCHEMATHESIS_CONFIG
        )


schema = _load_schema()


@pytest.fixture
def principals(db, wa_channel, template, manager, giulia):
    """Data for the generated requests to find, and one staff token and one key to send them
    with (each generated request is made as both)."""
    conversation = open_window(wa_channel, giulia)
    message = Message.objects.create(
        channel=wa_channel, conversation=conversation, direction="in", status="received"
    )
    ticket = Ticket.objects.create(number="TT1", title="Order", contact=giulia, channel=wa_channel)
    conversation.ticket = ticket
    conversation.save()
    TicketComment.objects.create(
        ticket=ticket, author_kind="customer", text="Where is it?", message=message
    )
    _, key = make_key(wa_channel.account)
    NotificationRule.objects.create(
        account=wa_channel.account,
        event_type="order_status_changed",
        channel=wa_channel,
        template=template,
        parameters={"body": ["status", "status", "status"]},
    )
    staff = token_client(manager)._credentials["HTTP_AUTHORIZATION"]
    return [{"Authorization": staff}, {"Authorization": f"Api-Key {key}"}]


@pytest.fixture(autouse=True)
def _no_throttling(monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "allow_request", lambda self, request, view: True)


# Every answer is documented, in its schema and its content type, and what the schema refuses
# the server refuses. Reads also accept whatever the schema allows (filters, pages, ids); a write
# may still refuse a body the schema cannot judge (a phone that is no number, an id of nothing).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
READ_CHECKS = [*CHECKS, positive_data_acceptance]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_every_generated_request_within_its_schema(case, principals):
    for headers in principals:
        with _connection_kept():
            checks = READ_CHECKS if case.method == "GET" else CHECKS
            case.call_and_validate(headers=headers, checks=checks)


@pytest.mark.django_db
def test_the_anonymous_root_is_not_an_html_page():
    response = APIClient().get("/api/v1/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_the_schema_bounds_pages_page_sizes_and_ids_as_the_server_does(client):
    schema = client.get("/api/schema/?format=json").json()
    deals = schema["paths"]["/api/v1/deals/"]["get"]
    parameters = {p["name"]: p["schema"] for p in deals["parameters"]}
    assert parameters["page"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    assert parameters["page_size"] == {"type": "integer", "minimum": 1, "maximum": 200}
    one_id = {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}
    assert parameters["company"] == one_id
    assert parameters["contacts"] == {"type": "array", "items": one_id}
    assert {"400", "404"} <= set(deals["responses"])
    messages = schema["paths"]["/api/v1/conversations/{id}/messages/"]["get"]
    parameters = {p["name"]: p["schema"] for p in messages["parameters"]}
    assert parameters["id"] == one_id
    assert parameters["page_size"]["maximum"] == 200
