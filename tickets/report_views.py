"""`/inbox/reports/`: the managers' figures as server-drawn charts and tables, each with a CSV.

The view parses the filters, rolls up any finished day of the period the scheduled job has not
reached yet, reads the selectors and draws the charts; who may look is decided in
accounts.selectors.user_may_see_reports."""

import csv
from datetime import timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from accounts.selectors import user_may_see_reports
from messaging.models import Channel
from tickets import report_charts
from tickets.report_models import ReportDuration
from tickets.report_rollup import local_today, report_rollup_missing
from tickets.report_selectors import (
    ReportPeriod,
    report_daily,
    report_durations,
    report_messages_by_transport,
    report_template_failures,
)

PERIODS = [
    ("7", gettext_lazy("Last 7 days")),
    ("30", gettext_lazy("Last 30 days")),
    ("90", gettext_lazy("Last 90 days")),
    ("365", gettext_lazy("Last year")),
    ("custom", gettext_lazy("Choose dates")),
]
MAX_DAYS = 400
CSV_REPORTS = ("daily", "durations", "messages", "failures")


class ReportFilterForm(forms.Form):
    period = forms.ChoiceField(choices=PERIODS, required=False, label=gettext_lazy("Period"))
    start = forms.DateField(
        required=False, label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        required=False, label=gettext_lazy("To"), widget=forms.DateInput(attrs={"type": "date"})
    )
    channel = forms.ModelChoiceField(
        queryset=Channel.objects.order_by("name"),
        required=False,
        empty_label=gettext_lazy("All channels"),
        label=gettext_lazy("Channel"),
    )

    def clean(self):
        data = super().clean()
        today = local_today()
        if data.get("period") == "custom":
            first, last = data.get("start"), data.get("end")
            if not first or not last:
                raise forms.ValidationError(_("Give both dates of the period."))
            if last < first:
                raise forms.ValidationError(_("The period ends before it starts."))
            if (last - first).days >= MAX_DAYS:
                raise forms.ValidationError(
                    _("A report covers at most %(n)s days.") % {"n": MAX_DAYS}
                )
        else:
            days = int(data.get("period") or 30)
            first, last = today - timedelta(days=days - 1), today
        data["first"], data["last"] = first, min(last, today)
        return data


def _period(request) -> tuple[ReportFilterForm, ReportPeriod]:
    if not user_may_see_reports(user=request.user):
        raise PermissionDenied(_("Reports are for managers."))
    form = ReportFilterForm(request.GET or None, initial={"period": "30"})
    if request.GET and form.is_valid():
        data = form.cleaned_data
        first, last, channel = data["first"], data["last"], data.get("channel")
    else:
        last = local_today()
        first, channel = last - timedelta(days=29), None
    # Finished days the scheduled job has not rolled up yet are rolled up now, once.
    report_rollup_missing(first=first, last=last)
    return form, ReportPeriod(first=first, last=last, channel_id=channel.pk if channel else None)


def _durations(period: ReportPeriod) -> list[dict]:
    sections = []
    for kind, title in (
        (ReportDuration.FIRST_RESPONSE, _("First response time")),
        (ReportDuration.RESOLUTION, _("Resolution time")),
        (ReportDuration.QUEUE_WAIT, _("Time waiting in the queue")),
    ):
        for by, by_title in (("agent", _("per agent")), ("channel", _("per channel"))):
            rows = report_durations(period=period, kind=kind, by=by)
            sections.append(
                {
                    "id": f"{kind}-{by}",
                    "title": f"{title} {by_title}",
                    "by": by,
                    "rows": rows,
                    "chart": report_charts.chart_durations(rows, title=f"{title} {by_title}")
                    if rows
                    else "",
                }
            )
    return sections


@login_required
@require_GET
def reports_page(request):
    form, period = _period(request)
    daily = report_daily(period=period)
    channel_types = report_messages_by_transport(period=period)
    failures = report_template_failures(period=period)
    totals = {
        key: sum(row[key] for row in daily)
        for key in ("opened", "closed", "messages_in", "messages_out", "queue_entered")
    }
    return render(
        request,
        "inbox/reports.html",
        {
            "form": form,
            "period": period,
            "query": request.GET.urlencode(),
            "totals": totals,
            "daily": daily,
            "chart_conversations": report_charts.chart_conversations(daily),
            "chart_queue": report_charts.chart_queue(daily),
            "durations": _durations(period),
            # Not "messages": base.html shows Django's flash messages under that name.
            "channel_types": channel_types,
            "chart_messages": report_charts.chart_messages(channel_types) if channel_types else "",
            "failures": failures,
            "chart_failures": report_charts.chart_failures(failures) if failures else "",
        },
    )


def _csv_rows(report: str, period: ReportPeriod):
    if report == "daily":
        yield [
            "date",
            "opened",
            "closed",
            "messages_in",
            "messages_out",
            "template_failed",
            "queue_entered",
            "queue_waiting",
        ]
        for row in report_daily(period=period):
            yield [
                row["day"].isoformat(),
                row["opened"],
                row["closed"],
                row["messages_in"],
                row["messages_out"],
                row["template_failed"],
                row["queue_entered"],
                row["queue_waiting"],
            ]
    elif report == "durations":
        yield ["measure", "by", "name", "count", "median_seconds", "p90_seconds"]
        for kind in ReportDuration.values:
            for by in ("agent", "channel"):
                for row in report_durations(period=period, kind=kind, by=by):
                    yield [kind, by, row["label"], row["count"], row["median"], row["p90"]]
    elif report == "messages":
        yield ["channel_type", "received", "sent"]
        for row in report_messages_by_transport(period=period):
            yield [row["transport"], row["in"], row["out"]]
    else:
        yield ["error_code", "failures"]
        for row in report_template_failures(period=period):
            yield [row["code"], row["count"]]


def _cell(value):
    # A spreadsheet runs a cell that starts with = + - @ as a formula: names come from people.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


@login_required
@require_GET
def report_csv(request, report):
    if report not in CSV_REPORTS:
        raise Http404
    _form, period = _period(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"switchboard-{report}-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    for row in _csv_rows(report, period):
        writer.writerow([_cell(value) for value in row])
    return response
