"""Platforms that mirror our CRM (they receive users, contacts, deals and funnels and never send
changes back): platform key -> the class that pushes to it. The key is the account's platform,
also the key of its messaging provider."""

from messaging.registry import Registry


class UnknownMirror(LookupError):
    pass


CRM_MIRRORS = Registry(
    "CRM mirror",
    {"wazzup": "integrations.connectors.wazzup_crm.WazzupCrmMirror"},
    unknown=UnknownMirror,
)
