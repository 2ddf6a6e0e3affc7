"""Who may call the API, and the one error shape every failure has."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from crm import api as crm_api

from .conftest import assert_error, key_client, make_key, token_client

pytestmark = pytest.mark.django_db


def test_it_refuses_a_request_without_credentials():
    error = assert_error(APIClient().get("/api/v1/contacts/"), 401, "not_authenticated")
    assert "credentials" in error["message"]


def test_it_names_the_key_scheme_in_the_401_challenge():
    response = APIClient().get("/api/v1/contacts/")
    assert response["WWW-Authenticate"] == "Api-Key"


def test_it_refuses_a_wrong_key(shop, shop_key):
    prefix, _, secret = shop_key.partition(".")
    response = key_client(f"{prefix}.{'x' * len(secret)}").get("/api/v1/contacts/")
    assert assert_error(response, 401, "not_authenticated")["message"] == (
        "Unknown or revoked API key."
    )


def test_it_refuses_an_unknown_key():
    assert_error(key_client("nope.nothing").get("/api/v1/contacts/"), 401, "not_authenticated")


def test_it_refuses_an_empty_key_header():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Api-Key ")
    assert_error(client.get("/api/v1/contacts/"), 401)


def test_it_refuses_a_revoked_key(shop):
    api_key, key = make_key(shop)
    assert key_client(key).get("/api/v1/contacts/").status_code == 200
    api_key.revoked = True
    api_key.save()
    assert_error(key_client(key).get("/api/v1/contacts/"), 401, "not_authenticated")


def test_it_refuses_an_expired_key(shop):
    _, key = make_key(shop, expiry_date=timezone.now() - timedelta(minutes=1))
    error = assert_error(key_client(key).get("/api/v1/contacts/"), 401)
    assert "expired" in error["message"]


def test_it_refuses_the_key_of_an_inactive_account(shop, shop_key):
    shop.is_active = False
    shop.save()
    error = assert_error(key_client(shop_key).get("/api/v1/contacts/"), 401)
    assert "inactive" in error["message"]


def test_it_refuses_a_wrong_token():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef")
    assert_error(client.get("/api/v1/contacts/"), 401, "not_authenticated")


def test_it_refuses_a_staff_user_without_a_role_any_write(db):
    from .conftest import make_user

    nobody = make_user("nobody", None)
    response = token_client(nobody).post("/api/v1/contacts/", {"phone": "+393351032246"})
    assert_error(response, 403, "permission_denied")


def test_an_unknown_path_answers_in_the_api_shape(shop_key):
    assert_error(key_client(shop_key).get("/api/v1/nothing-here/"), 404, "not_found")
    assert_error(APIClient().get("/api/nothing/"), 404, "not_found")
    error = assert_error(key_client(shop_key).get("/api/v1/contacts"), 404, "not_found")
    assert "end with a slash" in error["message"]


def test_an_unknown_object_is_a_404_in_the_api_shape(shop_key):
    assert_error(key_client(shop_key).get("/api/v1/contacts/999999/"), 404, "not_found")


def test_a_wrong_method_is_a_405_in_the_api_shape(shop_key):
    response = key_client(shop_key).delete("/api/v1/contacts/")
    assert_error(response, 405, "method_not_allowed")


def test_invalid_input_lists_each_field(manager):
    response = token_client(manager).post(
        "/api/v1/contacts/", {"phone": "12", "email": "not-an-email"}, format="json"
    )
    error = assert_error(response, 400, "invalid")
    assert set(error["fields"]) == {"phone", "email"}
    assert "not a valid phone number" in error["fields"]["phone"][0]


def test_a_malformed_json_body_is_a_400_in_the_api_shape(manager):
    response = token_client(manager).post(
        "/api/v1/contacts/", data="{not json", content_type="application/json"
    )
    assert_error(response, 400)


def test_too_many_requests_are_throttled_with_retry_after(shop_key, monkeypatch):
    monkeypatch.setattr(
        ScopedRateThrottle,
        "THROTTLE_RATES",
        {**ScopedRateThrottle.THROTTLE_RATES, "api_read": "2/min"},
    )
    client = key_client(shop_key)
    assert client.get("/api/v1/contacts/").status_code == 200
    assert client.get("/api/v1/contacts/").status_code == 200
    response = client.get("/api/v1/contacts/")
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0


def test_an_unexpected_failure_is_a_500_in_the_api_shape(shop_key, monkeypatch):
    def broken(request):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(crm_api, "contacts_visible", broken)
    client = key_client(shop_key)
    client.raise_request_exception = False
    error = assert_error(client.get("/api/v1/contacts/"), 500, "server_error")
    assert "fire" not in error["message"]


def csrf_checking_key_client(key: str) -> APIClient:
    """A client that runs Django's CSRF checks as a real server does."""
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_a_post_to_an_unknown_api_path_is_a_json_404_not_a_csrf_page(shop_key):
    client = csrf_checking_key_client(shop_key)
    error = assert_error(client.post("/api/v1/tickets/0.5/status/", {}), 404, "not_found")
    assert "/api/v1/tickets/0.5/status/" in error["message"]
    assert_error(client.get("/api/v1/tickets/0.5/status/"), 404, "not_found")
    assert_error(client.delete("/api/nothing/"), 404, "not_found")


def test_a_csrf_failure_under_api_answers_in_the_api_shape(rf):
    from django.middleware.csrf import CsrfViewMiddleware

    def view(request):
        raise AssertionError("the CSRF check should have refused the request")

    # Every view under /api/ is exempt; this is the net under a view that would not be.
    response = CsrfViewMiddleware(view).process_view(rf.post("/api/v1/anything/"), view, (), {})
    assert response.status_code == 403
    assert json.loads(response.content) == {
        "error": {
            "code": "csrf_failed",
            "message": "CSRF check failed: CSRF cookie not set.",
            "fields": {},
        }
    }


def test_a_csrf_failure_elsewhere_is_still_djangos_page(rf):
    from django.middleware.csrf import CsrfViewMiddleware

    def view(request):
        raise AssertionError("the CSRF check should have refused the request")

    request = rf.post("/inbox/login/")
    response = CsrfViewMiddleware(view).process_view(request, view, (), {})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


HUGE = "-151650050136911720822603776"


def test_an_id_filter_beyond_64_bits_is_a_400_naming_the_filter(shop_key):
    client = key_client(shop_key)
    error = assert_error(client.get(f"/api/v1/deals/?contacts={HUGE}"), 400, "invalid")
    assert set(error["fields"]) == {"contacts"}


@pytest.mark.parametrize(
    "query",
    [
        f"/api/v1/contacts/?company={HUGE}",
        "/api/v1/contacts/?responsible=9223372036854775808",
        f"/api/v1/companies/?responsible={HUGE}",
        f"/api/v1/deals/?company={HUGE}",
        f"/api/v1/tickets/?contact={HUGE}",
        f"/api/v1/tickets/?assignee={HUGE}",
        f"/api/v1/tickets/?channel={HUGE}",
        f"/api/v1/conversations/?contact={HUGE}",
    ],
)
def test_every_id_filter_refuses_numbers_beyond_64_bits(manager, query):
    name = query.split("?")[1].split("=")[0]
    error = assert_error(token_client(manager).get(query), 400, "invalid")
    assert set(error["fields"]) == {name}


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/contacts/{HUGE}/",
        "/api/v1/contacts/9223372036854775808/",
        f"/api/v1/deals/{HUGE}/",
        f"/api/v1/companies/{HUGE}/",
        f"/api/v1/tickets/{HUGE}/",
        f"/api/v1/conversations/{HUGE}/",
        f"/api/v1/conversations/{HUGE}/messages/",
        f"/api/v1/templates/{HUGE}/",
    ],
)
def test_a_path_id_beyond_64_bits_is_a_404_like_any_missing_object(manager, path):
    assert_error(token_client(manager).get(path), 404, "not_found")


def test_a_post_to_a_path_id_beyond_64_bits_is_a_404(manager):
    response = token_client(manager).post(
        f"/api/v1/tickets/{HUGE}/status/", {"status": "closed"}, format="json"
    )
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("/api/v1/contacts/?page=0", "page"),
        ("/api/v1/contacts/?page=abc", "page"),
        (f"/api/v1/contacts/?page={HUGE}", "page"),
        ("/api/v1/contacts/?page_size=0", "page_size"),
        ("/api/v1/contacts/?page_size=201", "page_size"),
        ("/api/v1/contacts/?page_size=", "page_size"),
        ("/api/v1/contacts/?page_size=null", "page_size"),
    ],
)
def test_page_and_page_size_outside_what_the_schema_allows_are_a_400(manager, query, field):
    error = assert_error(token_client(manager).get(query), 400, "invalid")
    assert set(error["fields"]) == {field}


def test_a_page_past_the_end_is_a_404_in_the_api_shape(manager):
    assert_error(token_client(manager).get("/api/v1/contacts/?page=99"), 404, "not_found")


def test_what_django_refuses_before_any_view_answers_in_the_api_shape_under_api(settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    client = APIClient()
    client.raise_request_exception = False
    assert_error(client.get("/api/v1/contacts/", HTTP_HOST="evil.example"), 400, "invalid")
    page = client.get("/inbox/", HTTP_HOST="evil.example")
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")


def test_an_id_filter_naming_nothing_is_an_empty_list_not_an_error(manager, giulia):
    client = token_client(manager)
    assert client.get("/api/v1/contacts/?company=999999").json()["count"] == 0
    assert client.get(f"/api/v1/contacts/?responsible={giulia.responsible_id}").json()["count"] == 1
    assert client.get("/api/v1/deals/?contacts=999999&contacts=1").status_code == 200


def test_the_message_pages_bound_page_size_too(manager, wa_channel, giulia):
    from .conftest import open_window

    conversation = open_window(wa_channel, giulia)
    path = f"/api/v1/conversations/{conversation.pk}/messages/"
    error = assert_error(token_client(manager).get(f"{path}?page_size=201"), 400, "invalid")
    assert set(error["fields"]) == {"page_size"}
    assert token_client(manager).get(f"{path}?page_size=200").status_code == 200
