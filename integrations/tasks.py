"""Task-cluster entry points for integration jobs: thin, each calls one service."""

from integrations import services


def jobs_run_due() -> list[str]:
    """Every minute: hand each due SyncJob to the cluster as its own task."""
    return services.jobs_run_due()


def sync_job_run(job_id: int, manual: bool = False) -> str:
    try:
        run = services.sync_job_run(job_id=job_id, manual=manual)
    except services.JobRefused as exc:
        # Another worker holds the job, or it was stopped meanwhile: nothing to do.
        return str(exc)
    return run.outcome


def crm_mirrors_push() -> dict:
    """After a CRM change is committed: push it to the platforms that mirror our CRM."""
    from messaging.queueing import task_wake_clear

    task_wake_clear(flag="crm-mirror")
    return services.crm_mirrors_push()
