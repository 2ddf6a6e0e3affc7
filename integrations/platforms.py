"""Which code owns each platform's settings: a messaging provider, a CRM connector or the shop.

The union of the two registries plus the e-commerce shop; no third list of class paths. An unknown
platform is an error.
"""

from integrations.connectors import CONNECTORS
from messaging.providers import PROVIDERS

ECOMMERCE = "ecommerce"


class EcommercePlatform:
    """An external shop that calls Switchboard with business events; it is never called back."""

    key = ECOMMERCE
    label = "E-commerce shop"
    setting_fields = ("shop_url",)
    secret_fields = ()

    def __init__(self, *, settings, secrets):
        self.settings = dict(settings)

    @classmethod
    def validate_config(cls, *, settings, secrets) -> dict[str, str]:
        url = settings.get("shop_url", "")
        if url and not url.startswith(("https://", "http://")):
            return {"shop_url": "Enter the shop's address, starting with https://."}
        return {}

    def verify_credentials(self) -> str:
        return "Nothing to verify: the shop calls Switchboard with its API key."


def platform_class(platform: str):
    if platform in PROVIDERS:
        return PROVIDERS.get(platform)
    if platform in CONNECTORS:
        return CONNECTORS.get(platform)
    if platform == ECOMMERCE:
        return EcommercePlatform
    raise LookupError(f"No code is registered for the platform {platform!r}.")


def platform_keys() -> tuple[str, ...]:
    return (*PROVIDERS.keys(), *CONNECTORS.keys(), ECOMMERCE)


def platform_choices() -> list[tuple[str, str]]:
    """`IntegrationAccount.platform` choices (a callable: nothing is imported at model load)."""
    return [(key, platform_class(key).label) for key in platform_keys()]


def platform_client(account):
    return platform_class(account.platform)(settings=account.settings, secrets=account.secrets)
