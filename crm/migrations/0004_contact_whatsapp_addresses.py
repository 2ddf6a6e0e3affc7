"""Every contact with a phone gets its ("whatsapp", E.164) address, which inbound mirrors from now
on."""

from django.db import migrations

CHUNK = 2000


def forwards(apps, schema_editor):
    Contact = apps.get_model("crm", "Contact")
    ContactAddress = apps.get_model("crm", "ContactAddress")
    # Defensive: the old column was NOT NULL with no blank check; "" would now break the index.
    Contact.objects.filter(phone="").update(phone=None)
    rows = Contact.objects.exclude(phone=None).order_by("pk")
    last = 0
    while True:
        chunk = list(
            rows.filter(pk__gt=last).values_list("pk", "phone", "created_at", "updated_at")[:CHUNK]
        )
        if not chunk:
            return
        ContactAddress.objects.bulk_create(
            [
                ContactAddress(
                    contact_id=pk,
                    transport="whatsapp",
                    address=phone,
                    first_seen_at=created_at,
                    last_seen_at=updated_at,
                    verified=True,
                )
                for pk, phone, created_at, updated_at in chunk
            ],
            ignore_conflicts=True,
        )
        last = chunk[-1][0]


def backwards(apps, schema_editor):
    Contact = apps.get_model("crm", "Contact")
    ContactAddress = apps.get_model("crm", "ContactAddress")
    phoneless = Contact.objects.filter(phone=None).count()
    if phoneless:
        # Going back further would make the phone NOT NULL again and fail half-way on these.
        raise RuntimeError(
            f"{phoneless} contacts have no phone (WhatsApp username or Telegram users); the "
            "schema before contact addresses cannot hold them. Give them a phone or delete them "
            "first."
        )
    ContactAddress.objects.filter(transport="whatsapp").delete()


class Migration(migrations.Migration):
    dependencies = [("crm", "0003_contactaddress")]

    operations = [migrations.RunPython(forwards, backwards)]
