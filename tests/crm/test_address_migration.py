"""The data migration gives every existing contact its ("whatsapp", phone) address."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("crm", "0003_contactaddress")]
AFTER = [("crm", "0004_contact_whatsapp_addresses")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def test_every_contact_with_a_phone_gets_its_whatsapp_address_and_back():
    apps = migrate(BEFORE)
    Contact = apps.get_model("crm", "Contact")
    first = Contact.objects.create(phone="+393351032246", name="Giulia")
    second = Contact.objects.create(phone="+34612345678")
    Contact.objects.create(phone=None, handle="no.phone")
    try:
        apps = migrate(AFTER)
        ContactAddress = apps.get_model("crm", "ContactAddress")
        rows = set(ContactAddress.objects.values_list("contact_id", "transport", "address"))
        assert rows == {
            (first.pk, "whatsapp", "+393351032246"),
            (second.pk, "whatsapp", "+34612345678"),
        }
        assert all(ContactAddress.objects.values_list("verified", flat=True))

        # Going back refuses while a contact has no phone, with a reason ...
        with pytest.raises(RuntimeError, match="no phone"):
            migrate(BEFORE)
        apps.get_model("crm", "Contact").objects.filter(phone=None).delete()
        # ... and otherwise removes the addresses it made.
        apps = migrate(BEFORE)
        assert not apps.get_model("crm", "ContactAddress").objects.exists()
    finally:
        migrate(latest())
