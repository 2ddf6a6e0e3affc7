"""Settings of the campaign worker processes the killed-worker test starts: the real settings
(config.settings, no inline tasks), with leases and the status grace short enough for a test."""

from config.settings import *  # noqa: F403

CAMPAIGN_LEASE_SECONDS = 3
CAMPAIGN_STATUS_GRACE_SECONDS = 2
