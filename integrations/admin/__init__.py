"""The integrations admin: accounts, sync jobs and their runs, links and conflicts, API keys,
notification rules and business events."""

from integrations.admin import (  # noqa: F401  (registers the admins)
    accounts,
    campaigns,
    gdpr,
    jobs,
    notifications,
    records,
)
