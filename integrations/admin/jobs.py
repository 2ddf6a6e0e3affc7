from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from integrations.models import JobRun, SyncJob
from integrations.services import (
    JobRefused,
    ScheduleInvalid,
    job_reset,
    job_run_now,
    job_schedule_set,
)

RECENT_RUNS = 20


class ScheduleForm(forms.Form):
    kind = forms.ChoiceField(choices=SyncJob.ScheduleKind.choices, widget=forms.RadioSelect)
    daily_at = forms.TimeField(
        label="Daily at (HH:MM)", required=False, input_formats=["%H:%M"], help_text="Local time."
    )
    every_seconds = forms.IntegerField(
        label="Every N seconds",
        required=False,
        min_value=1,
        help_text="Due jobs are started once a minute, so shorter intervals run every minute.",
    )
    window_days = forms.IntegerField(
        label="Time window (days)",
        required=False,
        min_value=1,
        help_text="Days of modifications to look back. Blank keeps each job's own.",
    )

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind == SyncJob.ScheduleKind.DAILY and cleaned.get("daily_at") is None:
            self.add_error("daily_at", "A daily schedule needs a time, as HH:MM.")
        if kind == SyncJob.ScheduleKind.INTERVAL and not cleaned.get("every_seconds"):
            self.add_error("every_seconds", "An interval schedule needs a number of seconds.")
        return cleaned


@admin.register(SyncJob)
class SyncJobAdmin(admin.ModelAdmin):
    list_display = (
        "is_active",
        "name",
        "state",
        "attempts_label",
        "last_run_at",
        "schedule",
        "window_days",
        "next_run_at",
        "last_error_short",
    )
    list_display_links = ("name",)
    list_filter = ("is_active", "state")
    search_fields = ("name",)
    actions = ["run_now", "set_schedule", "reset_attempts"]
    fields = (
        "name",
        "is_active",
        "state",
        "attempts_label",
        "max_attempts",
        "schedule",
        "window_days",
        "last_run_at",
        "next_run_at",
        "lease_until",
        "last_error",
        "recent_runs",
    )
    readonly_fields = (
        "name",
        "state",
        "attempts_label",
        "schedule",
        "last_run_at",
        "next_run_at",
        "lease_until",
        "last_error",
        "recent_runs",
    )

    def has_add_permission(self, request):
        # Jobs are the names in integrations.jobs.JOBS, created by `manage.py setup_schedules`.
        return False

    @admin.display(description="Attempts")
    def attempts_label(self, obj):
        return f"{obj.attempts} / {obj.max_attempts}"

    @admin.display(description="Schedule")
    def schedule(self, obj):
        return obj.schedule_label

    @admin.display(description="Last error")
    def last_error_short(self, obj):
        return (obj.last_error or "")[:100]

    @admin.display(description=f"Last {RECENT_RUNS} runs")
    def recent_runs(self, obj):
        runs = obj.runs.all()[:RECENT_RUNS]
        if not runs:
            return "No run yet."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td><td>{}</td></tr>",
            (
                (
                    f"{run.started_at:%Y-%m-%d %H:%M:%S}",
                    run.get_outcome_display(),
                    _counts_text(run.counts),
                    run.log,
                    run.error,
                )
                for run in runs
            ),
        )
        return format_html(
            "<table><thead><tr><th>Started</th><th>Outcome</th><th>Counts</th><th>Log</th>"
            "<th>Error</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.action(description="Run now")
    def run_now(self, request, queryset):
        # Handed to the task cluster: a CRM sync can outlast a web request. The run's row says
        # how it went.
        for job in queryset:
            try:
                job_run_now(job=job)
            except JobRefused as exc:
                self.message_user(request, str(exc), messages.WARNING)
                continue
            self.message_user(request, f"{job.name}: started; its run appears below the job.")

    @admin.action(description="Set the schedule")
    def set_schedule(self, request, queryset):
        if "apply" in request.POST:
            form = ScheduleForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                for job in queryset:
                    try:
                        job_schedule_set(
                            job=job,
                            kind=data["kind"],
                            daily_at=data.get("daily_at"),
                            every_seconds=data.get("every_seconds"),
                            window_days=data.get("window_days"),
                        )
                    except ScheduleInvalid as exc:
                        self.message_user(request, f"{job.name}: {exc}", messages.ERROR)
                        continue
                    self.message_user(
                        request, f"{job.name}: {job.schedule_label}, window {job.window_days} d."
                    )
                return None
        else:
            first = queryset.first()
            form = ScheduleForm(
                initial={
                    "kind": first.schedule_kind if first else SyncJob.ScheduleKind.INTERVAL,
                    "daily_at": first.daily_at.strftime("%H:%M")
                    if first and first.daily_at
                    else "",
                    "every_seconds": first.every_seconds if first else None,
                }
            )
        return TemplateResponse(
            request,
            "admin/integrations/syncjob/set_schedule.html",
            {
                **self.admin_site.each_context(request),
                "title": "Set the schedule",
                "opts": self.model._meta,
                "form": form,
                "jobs": queryset,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Reset attempts (starts a stopped job again)")
    def reset_attempts(self, request, queryset):
        for job in queryset:
            job_reset(job=job)
        self.message_user(request, f"{queryset.count()} job(s) reset: attempts back to 0.")


def _counts_text(counts: dict) -> str:
    flat = {k: v for k, v in (counts or {}).items() if isinstance(v, int)}
    return ", ".join(f"{k} {v}" for k, v in sorted(flat.items())) or "no counts"


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = ("job", "started_at", "finished_at", "outcome", "counts_short", "error_short")
    list_filter = ("outcome", "job", "manual")
    list_select_related = ("job",)
    date_hierarchy = "started_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Counts")
    def counts_short(self, obj):
        return _counts_text(obj.counts)[:150]

    @admin.display(description="Error")
    def error_short(self, obj):
        return (obj.error or "")[:120]
