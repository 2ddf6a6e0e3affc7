"""The connector registry: one stable key per platform, mapped to its class path.

The keys are `IntegrationAccount.platform` values. An unknown key is an error, never a silent
fallback.
"""

from messaging.registry import Registry


class UnknownConnector(LookupError):
    pass


CONNECTORS = Registry(
    "connector",
    {
        "vtenext": "integrations.connectors.vtenext.VtenextConnector",
        "activecampaign": "integrations.connectors.activecampaign.ActiveCampaignConnector",
        "clerk": "integrations.connectors.clerk.ClerkConnector",
    },
    unknown=UnknownConnector,
)

connector_class = CONNECTORS.get
