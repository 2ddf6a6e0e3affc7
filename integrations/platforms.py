"""Which code owns each platform's settings: the messaging provider or the CRM connector.

One literal dict, like the provider registry; an unknown platform is an error.
"""

from django.utils.module_loading import import_string

from integrations.models import Platform

PLATFORMS = {
    Platform.WHATSAPP_CLOUD: "messaging.providers.whatsapp_cloud.WhatsAppCloudProvider",
    Platform.VTENEXT: "integrations.connectors.vtenext.VtenextConnector",
    Platform.ACTIVECAMPAIGN: "integrations.connectors.activecampaign.ActiveCampaignConnector",
    Platform.CLERK: "integrations.connectors.clerk.ClerkConnector",
    Platform.ECOMMERCE: "integrations.platforms.EcommercePlatform",
}


class EcommercePlatform:
    """An external shop that calls Switchboard with business events; it is never called back."""

    key = "ecommerce"
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
    try:
        return import_string(PLATFORMS[platform])
    except KeyError:
        raise LookupError(f"No code is registered for the platform {platform!r}.") from None


def platform_client(account):
    return platform_class(account.platform)(settings=account.settings, secrets=account.secrets)
