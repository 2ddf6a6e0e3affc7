"""The connector registry: one stable key per platform, mapped to its class path.

The keys match `integrations.models.Platform`. An unknown key is an error, never a silent
fallback.
"""

from django.utils.module_loading import import_string

CONNECTORS = {
    "vtenext": "integrations.connectors.vtenext.VtenextConnector",
    "activecampaign": "integrations.connectors.activecampaign.ActiveCampaignConnector",
    "clerk": "integrations.connectors.clerk.ClerkConnector",
}


class UnknownConnector(LookupError):
    pass


def connector_class(key: str):
    try:
        path = CONNECTORS[key]
    except KeyError:
        raise UnknownConnector(f"No connector is registered as {key!r}.") from None
    return import_string(path)
