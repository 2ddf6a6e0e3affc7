"""Task-cluster entry points for campaigns: take ids, call one service."""

from integrations.services import campaigns


def campaign_run(campaign_id: int) -> dict:
    report = campaigns.campaign_run(campaign_id=campaign_id)
    return {"sent": report.sent, "skipped": report.skipped, "finished": report.finished}


def campaigns_tick() -> int:
    """Every minute: scheduled campaigns whose time came start; idle running ones are woken."""
    return campaigns.campaigns_start_due()
