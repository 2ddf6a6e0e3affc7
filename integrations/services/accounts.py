from django.db import transaction
from django.utils import timezone

from integrations.models import AccountContact, IntegrationAccount
from integrations.platforms import platform_class, platform_client
from messaging.models import Channel


class AccountConfigInvalid(Exception):
    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {error}" for field, error in errors.items()))


@transaction.atomic
def account_save(
    *,
    account: IntegrationAccount,
    settings: dict,
    secrets: dict,
) -> IntegrationAccount:
    """Validate with the platform's own code, then save. A blank secret keeps the stored one."""
    merged_secrets = {**account.secrets, **{k: v for k, v in secrets.items() if v}}
    errors = platform_class(account.platform).validate_config(
        settings=settings, secrets=merged_secrets
    )
    if errors:
        raise AccountConfigInvalid(errors)
    account.settings = settings
    account.secrets = merged_secrets
    account.save()
    return account


def account_verify_credentials(*, account: IntegrationAccount) -> tuple[bool, str]:
    """Call the platform with the stored credentials and record the outcome on the account."""
    client = platform_client(account)
    try:
        said = client.verify_credentials()
    except Exception as exc:  # every platform error type ends up shown to the operator
        message = getattr(exc, "message", "") or str(exc) or type(exc).__name__
        IntegrationAccount.objects.filter(pk=account.pk).update(
            is_healthy=False, last_error=message, last_error_at=timezone.now()
        )
        return False, message
    IntegrationAccount.objects.filter(pk=account.pk).update(is_healthy=True, last_error="")
    account.channels.update(is_healthy=True, last_error="")
    return True, said


def account_set_active(*, account: IntegrationAccount, active: bool) -> IntegrationAccount:
    """Deactivating keeps every setting; the account's jobs and channels stop working."""
    IntegrationAccount.objects.filter(pk=account.pk).update(is_active=active)
    account.is_active = active
    return account


def secrets_rotate() -> int:
    """Re-encrypt every account's and channel's secrets with the first key of
    SECRETS_ENCRYPTION_KEYS; returns how many rows were rewritten."""
    count = 0
    for account in IntegrationAccount.objects.all():
        account.save(update_fields=["secrets"])
        count += 1
    for channel in Channel.objects.exclude(secrets=""):
        channel.save(update_fields=["secrets"])
        count += 1
    return count


def account_contact_link(*, account, contact) -> None:
    """Record that an account deals with a contact (its API key may then see it); inserting a
    link that exists changes nothing."""
    AccountContact.objects.bulk_create(
        [AccountContact(account=account, contact=contact)], ignore_conflicts=True
    )
