"""Addresses: how they are normalized, and how contacts are found and created by them."""

import pytest
from django.db import IntegrityError

from crm.addresses import Address, AddressInvalid, address_normalize, addresses_by_strength
from crm.models import Contact, ContactAddress
from crm.phones import PhoneNumberInvalid
from crm.selectors import contact_by_address
from crm.services import (
    ContactAddressTaken,
    SenderIdentity,
    contact_address_add,
    contact_create,
    contact_get_or_create_by_addresses,
    contact_get_or_create_by_phone,
    contact_update,
    contacts_get_or_create_by_addresses,
)

BSUID = "IT.1502576394655843"


def test_a_phone_address_is_normalized_to_e164():
    raw = Address("whatsapp", "393351032246")
    assert address_normalize(raw, assume_international=True).value == "+393351032246"


def test_a_user_id_is_never_read_as_a_phone():
    digits_like = Address("whatsapp_bsuid", "US.13491208655302741918")
    assert address_normalize(digits_like) == digits_like
    parent = Address("whatsapp_parent_bsuid", " US.ENT.11815799212886844830 ")
    assert address_normalize(parent).value == "US.ENT.11815799212886844830"


def test_a_malformed_user_id_or_phone_is_refused():
    with pytest.raises(AddressInvalid):
        address_normalize(Address("whatsapp_bsuid", "393351032246"))
    with pytest.raises(PhoneNumberInvalid):
        address_normalize(Address("whatsapp", "12"))
    with pytest.raises(AddressInvalid):
        address_normalize(Address("fax", "1"))


def test_addresses_sort_strongest_first_once_each_keeping_a_handle():
    phone = Address("whatsapp", "+393351032246")
    bare = Address("whatsapp_bsuid", BSUID)
    named = Address("whatsapp_bsuid", BSUID, "giulia")
    assert addresses_by_strength([phone, bare, named]) == [named, phone]


@pytest.mark.django_db
def test_a_contact_without_phone_stores_null_and_many_can_coexist():
    one, _ = contact_get_or_create_by_addresses(addresses=[Address("whatsapp_bsuid", BSUID)])
    two, _ = contact_get_or_create_by_addresses(addresses=[Address("telegram", "42")])
    assert one.phone is None and two.phone is None
    with pytest.raises(IntegrityError):
        Contact.objects.create(phone="")


@pytest.mark.django_db
def test_the_phone_wrapper_finds_a_contact_created_without_an_address_row():
    made = Contact.objects.create(phone="+393351032246")
    found, created = contact_get_or_create_by_phone(phone_e164="+393351032246")
    assert (found, created) == (made, False)
    # ... and mirrors its phone as an address on the way.
    assert made.addresses.filter(transport="whatsapp").exists()


@pytest.mark.django_db
def test_contact_create_and_update_keep_the_phone_address_in_step():
    contact = contact_create(phone="+393351032246")
    assert set(contact.addresses.values_list("address", flat=True)) == {"+393351032246"}
    contact_update(contact=contact, phone="+34612345678")
    assert set(contact.addresses.values_list("address", flat=True)) == {"+34612345678"}
    contact_update(contact=contact, phone="")
    contact.refresh_from_db()
    assert contact.phone is None
    assert not contact.addresses.exists()


@pytest.mark.django_db
def test_an_address_of_someone_else_cannot_be_added():
    owner, _ = contact_get_or_create_by_addresses(addresses=[Address("whatsapp_bsuid", BSUID)])
    other = contact_create(phone="+393351032246")
    with pytest.raises(ContactAddressTaken):
        contact_address_add(contact=other, address=Address("whatsapp_bsuid", BSUID))
    row = contact_address_add(contact=other, address=Address("telegram", "42"))
    assert row.contact == other and not row.verified
    assert contact_by_address(address=Address("telegram", "42")) == other
    assert contact_by_address(address=Address("whatsapp_bsuid", BSUID)) == owner


@pytest.mark.django_db
def test_the_batch_resolver_matches_the_one_sender_resolver(django_assert_max_num_queries):
    known = contact_create(phone="+393351032246")
    senders = [
        SenderIdentity(addresses=(Address("whatsapp", "+393351032246"),)),
        SenderIdentity(addresses=(Address("whatsapp", "+34612345678"),), name="New"),
        SenderIdentity(addresses=(Address("whatsapp_bsuid", BSUID, "giulia"),)),
        SenderIdentity(
            addresses=(Address("whatsapp_bsuid", BSUID), Address("whatsapp", "+34699999999"))
        ),
        SenderIdentity(addresses=(Address("whatsapp", "+34612345678"),)),
    ]
    contacts = contacts_get_or_create_by_addresses(senders=senders)
    assert contacts[0] == known
    assert contacts[1] == contacts[4] and contacts[1].name == "New"
    assert contacts[2] == contacts[3]
    assert contacts[2].phone == "+34699999999"
    assert Contact.objects.count() == 3
    # Everyone known now: one query for the whole batch.
    with django_assert_max_num_queries(1):
        again = contacts_get_or_create_by_addresses(senders=senders)
    assert again == contacts


@pytest.mark.django_db
def test_the_batch_resolver_creates_new_phone_senders_with_a_few_statements(
    django_assert_max_num_queries,
):
    senders = [
        SenderIdentity(addresses=(Address("whatsapp", f"+3933510322{n:02d}"),)) for n in range(20)
    ]
    # Owners, phones, contacts insert, re-read, addresses insert.
    with django_assert_max_num_queries(5):
        contacts = contacts_get_or_create_by_addresses(senders=senders)
    assert len({c.pk for c in contacts}) == 20
    assert ContactAddress.objects.count() == 20


@pytest.fixture
def username_contact(db):
    contact, _ = contact_get_or_create_by_addresses(
        addresses=[Address("whatsapp_bsuid", BSUID, "giulia.shop")], name="Giulia"
    )
    return contact


def test_the_admin_finds_a_contact_by_username_or_user_id(admin_client, username_contact):
    contact_create(phone="+393331234567", name="Marco Neri")
    for term in ("giulia.sh", "1502576394"):
        page = admin_client.get("/admin/crm/contact/", {"q": term}).content.decode()
        assert ">Giulia</a>" in page
        assert "Marco Neri" not in page


def test_the_admin_lists_a_phoneless_contact_by_username_and_shows_its_addresses(
    admin_client, username_contact
):
    listing = admin_client.get("/admin/crm/contact/").content.decode()
    assert "giulia.shop" in listing
    page = admin_client.get(f"/admin/crm/contact/{username_contact.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert BSUID in text and "WhatsApp user id" in text
    # Saving the page without a phone keeps it phone-less (NULL, not "").
    response = admin_client.post(
        f"/admin/crm/contact/{username_contact.pk}/change/",
        {
            "kind": "lead",
            "name": "Giulia B.",
            "phone": "",
            "handle": "giulia.shop",
            "email": "",
            "company": "",
            "responsible": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    username_contact.refresh_from_db()
    assert username_contact.name == "Giulia B."
    assert username_contact.phone is None


def test_the_admin_refuses_a_new_contact_without_a_phone(admin_client):
    response = admin_client.post(
        "/admin/crm/contact/add/", {"kind": "lead", "name": "Nobody", "phone": ""}
    )
    assert response.status_code == 200
    assert "A new contact needs a phone number." in response.content.decode()
    assert not Contact.objects.exists()
