"""The provider registry: one stable key per provider, mapped to its class path.

The keys are permanent database values (`Channel.provider`). An unknown key is an error, never a
silent fallback to some default provider.
"""

from django.utils.module_loading import import_string

PROVIDERS = {
    "whatsapp_cloud": "messaging.providers.whatsapp_cloud.WhatsAppCloudProvider",
}

PROVIDER_CHOICES = [("whatsapp_cloud", "WhatsApp Cloud API")]


class UnknownProvider(LookupError):
    pass


def provider_class(key: str):
    try:
        path = PROVIDERS[key]
    except KeyError:
        raise UnknownProvider(f"No messaging provider is registered as {key!r}.") from None
    return import_string(path)
