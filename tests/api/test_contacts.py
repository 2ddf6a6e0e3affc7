"""Contacts: search by a phone in any format, create-or-update by phone, update."""

import pytest

from crm.models import Contact

from .conftest import assert_error, token_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "written", ["+393351032246", "0039 335 103 2246", "335 103 2246", "+39 335-103-2246"]
)
def test_it_finds_a_contact_by_a_phone_in_any_format(manager, giulia, marco, written):
    response = token_client(manager).get("/api/v1/contacts/", {"search": written})
    assert [row["id"] for row in response.json()["results"]] == [giulia.pk]


def test_it_filters_by_kind_and_orders_by_name(manager, giulia, marco):
    Contact.objects.filter(pk=marco.pk).update(kind="customer")
    client = token_client(manager)
    customers = client.get("/api/v1/contacts/", {"kind": "customer"}).json()["results"]
    assert [row["id"] for row in customers] == [marco.pk]
    by_name = client.get("/api/v1/contacts/", {"ordering": "name"}).json()["results"]
    assert [row["name"] for row in by_name] == ["Giulia", "Marco"]


def test_it_paginates_lists(manager, giulia, marco):
    page = token_client(manager).get("/api/v1/contacts/", {"page_size": 1}).json()
    assert page["count"] == 2
    assert len(page["results"]) == 1
    assert page["next"]


def test_a_post_with_a_new_phone_creates_a_lead(manager):
    response = token_client(manager).post(
        "/api/v1/contacts/", {"phone": "0039 333 111 2222", "name": "Anna"}
    )
    assert response.status_code == 201
    assert response.json()["phone"] == "+393331112222"
    assert response.json()["kind"] == "lead"


def test_a_post_with_a_known_phone_in_another_format_updates_that_contact(manager, giulia):
    response = token_client(manager).post(
        "/api/v1/contacts/", {"phone": "335 103 2246", "email": "giulia@example.com"}
    )
    assert response.status_code == 200
    assert response.json()["id"] == giulia.pk
    giulia.refresh_from_db()
    assert giulia.email == "giulia@example.com"
    assert giulia.name == "Giulia"  # absent fields are kept
    assert Contact.objects.count() == 1


def test_an_update_to_a_phone_someone_else_has_is_a_field_error(manager, giulia, marco):
    response = token_client(manager).patch(f"/api/v1/contacts/{giulia.pk}/", {"phone": marco.phone})
    error = assert_error(response, 400, "invalid")
    assert "already belongs to contact" in error["fields"]["phone"][0]


def test_a_put_replaces_the_fields_given(manager, giulia):
    response = token_client(manager).put(
        f"/api/v1/contacts/{giulia.pk}/",
        {"phone": giulia.phone, "name": "Giulia Rossi", "kind": "customer"},
    )
    assert response.status_code == 200, response.content
    giulia.refresh_from_db()
    assert (giulia.name, giulia.kind) == ("Giulia Rossi", "customer")


def test_a_put_without_phone_is_refused(manager, giulia):
    response = token_client(manager).put(f"/api/v1/contacts/{giulia.pk}/", {"name": "X"})
    assert "phone" in assert_error(response, 400)["fields"]


BSUID = "IT.1502576394655843"


def test_a_post_by_address_creates_a_contact_without_phone_and_shows_its_addresses(manager):
    client = token_client(manager)
    body = {
        "address": {"transport": "whatsapp_bsuid", "address": BSUID, "handle": "giulia.shop"},
        "name": "Giulia",
    }
    response = client.post("/api/v1/contacts/", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["phone"] is None
    assert data["handle"] == "giulia.shop"
    assert [(a["transport"], a["address"], a["verified"]) for a in data["addresses"]] == [
        ("whatsapp_bsuid", BSUID, False)
    ]
    again = client.post("/api/v1/contacts/", {**body, "name": "Giulia Rossi"}, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == data["id"]
    assert Contact.objects.get().name == "Giulia Rossi"


def test_a_listed_contact_with_a_phone_shows_its_whatsapp_address(manager):
    token_client(manager).post("/api/v1/contacts/", {"phone": "+393331112222"})
    [row] = token_client(manager).get("/api/v1/contacts/").json()["results"]
    assert [(a["transport"], a["address"]) for a in row["addresses"]] == [
        ("whatsapp", "+393331112222")
    ]


def test_a_post_with_neither_phone_nor_address_is_refused(manager):
    response = token_client(manager).post("/api/v1/contacts/", {"name": "X"})
    assert "phone" in assert_error(response, 400)["fields"]
    assert not Contact.objects.exists()


def test_a_patch_adding_an_address_someone_else_has_is_a_field_error(manager, giulia, marco):
    client = token_client(manager)
    address = {"transport": "whatsapp_bsuid", "address": BSUID}
    assert (
        client.patch(
            f"/api/v1/contacts/{marco.pk}/", {"address": address}, format="json"
        ).status_code
        == 200
    )
    response = client.patch(f"/api/v1/contacts/{giulia.pk}/", {"address": address}, format="json")
    assert "already belongs to contact" in assert_error(response, 400)["fields"]["address"][0]
