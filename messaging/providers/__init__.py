"""The provider registry: one stable key per provider, mapped to its class path.

The keys are permanent database values (`Channel.provider`, `IntegrationAccount.platform`). An
unknown key is an error, never a silent fallback to some default provider.
"""

from messaging.registry import Registry


class UnknownProvider(LookupError):
    pass


PROVIDERS = Registry(
    "messaging provider",
    {
        "whatsapp_cloud": "messaging.providers.whatsapp_cloud.WhatsAppCloudProvider",
        "twilio": "messaging.providers.twilio.TwilioProvider",
        "telegram": "messaging.providers.telegram.TelegramProvider",
        "wazzup": "messaging.providers.wazzup.WazzupProvider",
    },
    unknown=UnknownProvider,
)

provider_class = PROVIDERS.get


def provider_choices() -> list[tuple[str, str]]:
    """`Channel.provider` choices (a callable, so the models never import a provider)."""
    return PROVIDERS.choices()
