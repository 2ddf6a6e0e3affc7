"""The integrations admin: accounts, sync jobs and their runs, links and conflicts."""

from integrations.admin import accounts, jobs, records  # noqa: F401  (registers the admins)
