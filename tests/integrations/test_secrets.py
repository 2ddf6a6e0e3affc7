import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from integrations.models import IntegrationAccount

pytestmark = pytest.mark.django_db


def raw_secrets(account):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secrets FROM integrations_integrationaccount WHERE id = %s", [account.pk]
        )
        return cursor.fetchone()[0]


def make_account():
    return IntegrationAccount.objects.create(
        description="WABA", platform="whatsapp_cloud", secrets={"access_token": "EAAsecret-value"}
    )


def test_secrets_are_encrypted_in_the_database():
    account = make_account()
    stored = raw_secrets(account)
    assert "EAAsecret-value" not in stored
    assert IntegrationAccount.objects.get(pk=account.pk).secrets == {
        "access_token": "EAAsecret-value"
    }


def test_rotation_re_encrypts_with_the_new_key_and_the_old_key_can_go(settings):
    old_key = settings.SECRETS_ENCRYPTION_KEYS[0]
    account = make_account()
    new_key = Fernet.generate_key().decode()
    settings.SECRETS_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_secrets")
    settings.SECRETS_ENCRYPTION_KEYS = [new_key]
    assert IntegrationAccount.objects.get(pk=account.pk).secrets["access_token"] == (
        "EAAsecret-value"
    )
    assert Fernet(new_key.encode()).decrypt(raw_secrets(account).encode())


def test_secrets_never_show_in_the_admin_after_saving(admin_client):
    account = make_account()
    page = admin_client.get(f"/admin/integrations/integrationaccount/{account.pk}/change/")
    assert page.status_code == 200
    assert "EAAsecret-value" not in page.content.decode()
