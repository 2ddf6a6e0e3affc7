import pytest
from django.db import IntegrityError, transaction

from crm.models import Contact, ContactKind
from crm.phones import PhoneNumberInvalid
from crm.services import ContactPhoneTaken, contact_create, contact_update

pytestmark = pytest.mark.django_db


def test_it_stores_the_phone_in_e164():
    contact = contact_create(phone="0039 335 103 2246", name="Giulia")
    assert contact.phone == "+393351032246"
    assert contact.kind == ContactKind.LEAD


def test_the_database_rejects_a_second_contact_with_the_same_phone():
    Contact.objects.create(phone="+393351032246", name="First")
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(phone="+393351032246", name="Second")


def test_the_service_rejects_the_same_phone_in_another_format_with_a_clear_error():
    first = contact_create(phone="+39 335 103 2246", name="First")
    with pytest.raises(ContactPhoneTaken) as excinfo:
        contact_create(phone="393351032246", name="Second")
    assert str(excinfo.value) == (
        f"The phone +393351032246 already belongs to contact #{first.pk} (First (+393351032246))."
    )
    assert Contact.objects.count() == 1


def test_update_refuses_a_phone_taken_by_another_contact():
    contact_create(phone="+393351032246", name="First")
    second = contact_create(phone="+34612345678", name="Second")
    with pytest.raises(ContactPhoneTaken):
        contact_update(contact=second, phone="0039 335 1032246")
    second.refresh_from_db()
    assert second.phone == "+34612345678"


def test_the_service_refuses_an_invalid_phone():
    with pytest.raises(PhoneNumberInvalid):
        contact_create(phone="not a number")
    assert Contact.objects.count() == 0


def test_admin_finds_a_contact_by_phone_in_any_format(admin_client):
    contact_create(phone="+393351032246", name="Giulia Conti")
    contact_create(phone="+34612345678", name="Lucía García")
    for term in ("0039 335 103 2246", "335 103 2246", "393351032246", "Giulia"):
        response = admin_client.get("/admin/crm/contact/", {"q": term})
        assert response.status_code == 200
        assert "Giulia Conti" in response.content.decode(), term
        assert "Lucía García" not in response.content.decode(), term


def test_admin_form_normalises_the_phone(admin_client):
    response = admin_client.post(
        "/admin/crm/contact/add/",
        {"kind": "lead", "name": "New", "phone": "0034 612 345 678", "email": ""},
    )
    assert response.status_code == 302, response.content.decode()
    assert Contact.objects.get().phone == "+34612345678"


def test_admin_form_shows_the_phone_error(admin_client):
    response = admin_client.post(
        "/admin/crm/contact/add/", {"kind": "lead", "name": "New", "phone": "hello"}
    )
    assert response.status_code == 200
    assert "is not a valid phone number" in response.content.decode()
