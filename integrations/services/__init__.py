"""Integration services, by concern: accounts, scheduled jobs, customer sync. Import from here."""

from integrations.services.accounts import (
    AccountConfigInvalid,
    account_contact_link,
    account_save,
    account_set_active,
    account_verify_credentials,
    secrets_rotate,
)
from integrations.services.crm_mirror import account_crm_push, crm_mirrors_push
from integrations.services.customers import RecordSendRefused, customers_sync, record_send
from integrations.services.jobs import (
    JobRefused,
    JobReport,
    ScheduleInvalid,
    job_reset,
    job_run_enqueue,
    job_run_now,
    job_schedule_set,
    jobs_run_due,
    sync_job_run,
)
from integrations.services.maintenance import (
    conversations_close,
    messaging_redrive,
    templates_sync_all,
)

__all__ = [
    "AccountConfigInvalid",
    "JobRefused",
    "JobReport",
    "RecordSendRefused",
    "ScheduleInvalid",
    "account_contact_link",
    "account_crm_push",
    "account_save",
    "account_set_active",
    "account_verify_credentials",
    "conversations_close",
    "crm_mirrors_push",
    "customers_sync",
    "job_reset",
    "job_run_enqueue",
    "job_run_now",
    "job_schedule_set",
    "jobs_run_due",
    "messaging_redrive",
    "record_send",
    "secrets_rotate",
    "sync_job_run",
    "templates_sync_all",
]
