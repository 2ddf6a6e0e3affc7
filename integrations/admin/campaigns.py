"""Campaigns in the admin: the form (template and parameters, channel or service, segment,
schedule, throttle), and the campaign page: preview, start, pause, resume, cancel, a progress
bar while it runs, totals, the per-recipient table and its CSV export."""

import csv

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin_scoping import RoleScopedAdminMixin
from accounts.models import Role, User
from crm.models import Company, ContactKind
from integrations.campaign_models import Campaign
from integrations.campaign_selectors import (
    CONSENT_CHOICES,
    PARAMETER_PATHS,
    campaign_list_visible_to,
    campaign_preview,
    campaign_progress_percent,
    campaign_recipients,
    campaign_totals,
    recipient_status,
)
from integrations.services.campaigns import (
    CampaignInvalid,
    campaign_cancel,
    campaign_check,
    campaign_pause,
    campaign_resume,
    campaign_start,
)
from messaging.models import MessageTemplate

RECIPIENTS_PER_PAGE = 50
SEGMENT_FIELDS = {
    "segment_kind": "kind",
    "segment_company": "company",
    "segment_responsible": "responsible",
    "segment_last_interaction_after": "last_interaction_after",
    "segment_last_interaction_before": "last_interaction_before",
    "segment_consent": "consent",
}


class CampaignForm(forms.ModelForm):
    parameters_text = forms.CharField(
        label=gettext_lazy("Parameters"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("One per line, in order: a constant, or a contact field: %(paths)s.")
        % {"paths": ", ".join(PARAMETER_PATHS)},
    )
    segment_kind = forms.ChoiceField(
        label=gettext_lazy("Kind"),
        required=False,
        choices=[("", gettext_lazy("Any")), *ContactKind.choices],
    )
    segment_company = forms.ModelChoiceField(
        label=gettext_lazy("Company"), required=False, queryset=Company.objects.order_by("name")
    )
    segment_responsible = forms.ModelChoiceField(
        label=gettext_lazy("Responsible"),
        required=False,
        queryset=User.objects.filter(is_active=True).order_by("username"),
    )
    segment_last_interaction_after = forms.DateField(
        label=gettext_lazy("Last interaction on or after"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    segment_last_interaction_before = forms.DateField(
        label=gettext_lazy("Last interaction before"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    segment_consent = forms.ChoiceField(
        label=gettext_lazy("Marketing consent"),
        required=False,
        choices=[("", gettext_lazy("Any"))] + [(c.value, c.label) for c in CONSENT_CHOICES],
    )
    scheduled_at = forms.SplitDateTimeField(
        label=gettext_lazy("Send at"),
        required=False,
        widget=admin.widgets.AdminSplitDateTime,
        help_text=gettext_lazy("In the business's time zone (%(zone)s). Empty: when started.")
        % {"zone": timezone.get_current_timezone_name()},
    )

    class Meta:
        model = Campaign
        fields = ("name", "template", "channel", "service", "throttle_per_second")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "template" not in self.fields:
            return  # started: the page shows the campaign, nothing is edited
        self.fields["template"].queryset = MessageTemplate.objects.filter(
            status=MessageTemplate.APPROVED, category__iexact="MARKETING"
        ).select_related("account")
        campaign = self.instance
        self.fields["parameters_text"].initial = "\n".join(map(str, campaign.parameters or []))
        for name, key in SEGMENT_FIELDS.items():
            self.fields[name].initial = (campaign.segment or {}).get(key)
        if campaign.scheduled_at:
            self.fields["scheduled_at"].initial = timezone.localtime(campaign.scheduled_at)

    def clean(self):
        data = super().clean()
        if "parameters_text" not in self.fields:
            return data
        campaign = self.instance
        lines = (data.get("parameters_text") or "").splitlines()
        campaign.parameters = [line.strip() for line in lines if line.strip()]
        segment = {}
        for name, key in SEGMENT_FIELDS.items():
            value = data.get(name)
            if value in (None, ""):
                continue
            segment[key] = value.pk if hasattr(value, "pk") else str(value)
        campaign.segment = segment
        campaign.scheduled_at = data.get("scheduled_at")
        for name in ("name", "template", "channel", "service", "throttle_per_second"):
            if name in data:
                setattr(campaign, name, data[name])
        if data.get("template") is None:
            return data
        try:
            campaign_check(campaign=campaign)
        except CampaignInvalid as exc:
            field = {"segment": None, "parameters": "parameters_text"}.get(exc.field, exc.field)
            if field not in self.fields:
                field = None
            self.add_error(field, str(exc))
        return data


def _campaigns_visible(*, user):
    return campaign_list_visible_to(user=user)


@admin.register(Campaign)
class CampaignAdmin(RoleScopedAdminMixin, admin.ModelAdmin):
    role_selector = staticmethod(_campaigns_visible)
    role_can_change = (Role.MANAGER,)
    role_can_add = (Role.MANAGER,)
    form = CampaignForm
    change_form_template = "admin/integrations/campaign/change_form.html"
    list_display = ("name", "status", "template", "channel", "scheduled_at", "audience_count")
    list_filter = ("status",)
    search_fields = ("name",)
    list_select_related = ("template", "channel")
    fieldsets = (
        (None, {"fields": ("name", "template", "parameters_text", "channel", "service")}),
        (
            gettext_lazy("Segment"),
            {
                "fields": tuple(SEGMENT_FIELDS),
                "description": gettext_lazy(
                    "Contacts the channel can reach that match every filter given. Who has not "
                    "opted in is listed as skipped, with the reason."
                ),
            },
        ),
        (gettext_lazy("Schedule and pace"), {"fields": ("scheduled_at", "throttle_per_second")}),
    )

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            return ("name", "template", "channel", "service", "throttle_per_second")
        return ()

    def get_fieldsets(self, request, obj=None):
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            return ((None, {"fields": self.get_readonly_fields(request, obj)}),)
        return super().get_fieldsets(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/action/<str:action>/",
                wrap(self.action_view),
                name="integrations_campaign_action",
            ),
            path(
                "<int:pk>/progress/",
                wrap(self.progress_view),
                name="integrations_campaign_progress",
            ),
            path(
                "<int:pk>/recipients.csv",
                wrap(self.csv_view),
                name="integrations_campaign_csv",
            ),
            *super().get_urls(),
        ]

    def _campaign(self, request, pk: int) -> Campaign:
        return get_object_or_404(self.get_queryset(request), pk=pk)

    def action_view(self, request, pk: int, action: str):
        campaign = self._campaign(request, pk)
        change_url = reverse("admin:integrations_campaign_change", args=[pk])
        if request.method != "POST" or not self.has_change_permission(request, campaign):
            return HttpResponseRedirect(change_url)
        if action == "preview":
            return HttpResponseRedirect(f"{change_url}?preview=1")
        services = {
            "start": (campaign_start, _("The campaign started.")),
            "pause": (campaign_pause, _("The campaign is paused.")),
            "resume": (campaign_resume, _("The campaign resumed.")),
            "cancel": (campaign_cancel, _("The campaign is cancelled.")),
        }
        if action not in services:
            return HttpResponseRedirect(change_url)
        service, done = services[action]
        try:
            campaign = service(campaign=campaign)
        except CampaignInvalid as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            if campaign.status == Campaign.Status.SCHEDULED:
                done = _("The campaign is scheduled for %(when)s.") % {
                    "when": timezone.localtime(campaign.scheduled_at).strftime("%Y-%m-%d %H:%M")
                }
            self.message_user(request, done)
        return HttpResponseRedirect(change_url)

    def progress_view(self, request, pk: int):
        campaign = self._campaign(request, pk)
        totals = campaign_totals(campaign=campaign)
        return JsonResponse(
            {
                "status": campaign.status,
                "status_label": campaign.get_status_display(),
                "percent": campaign_progress_percent(totals),
                "totals": totals,
            }
        )

    def csv_view(self, request, pk: int):
        campaign = self._campaign(request, pk)

        class Echo:
            def write(self, value):
                return value

        writer = csv.writer(Echo())

        def rows():
            yield writer.writerow(
                [
                    "contact_id",
                    "name",
                    "phone",
                    "status",
                    "detail",
                    "message_id",
                    "sent_at",
                    "delivered_at",
                    "read_at",
                    "replied",
                ]
            )
            for row in campaign_recipients(campaign=campaign).iterator(chunk_size=2000):
                status, detail = recipient_status(row)
                message = row.message
                yield writer.writerow(
                    [
                        row.contact_id,
                        row.contact.name,
                        row.contact.phone or "",
                        status,
                        detail,
                        message.pk if message else "",
                        message.sent_at.isoformat() if message and message.sent_at else "",
                        message.delivered_at.isoformat()
                        if message and message.delivered_at
                        else "",
                        message.read_at.isoformat() if message and message.read_at else "",
                        "yes" if row.replied else "",
                    ]
                )

        response = StreamingHttpResponse(rows(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="campaign-{pk}.csv"'
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        campaign = self.get_object(request, object_id)
        if campaign is not None:
            extra_context.update(self._page_context(request, campaign))
        return super().change_view(request, object_id, form_url, extra_context)

    def _page_context(self, request, campaign: Campaign) -> dict:
        status = Campaign.Status
        context = {
            "campaign": campaign,
            "can_act": self.has_change_permission(request, campaign),
            "actions_allowed": {
                "preview": campaign.status == status.DRAFT,
                "start": campaign.status == status.DRAFT,
                "pause": campaign.status in (status.RUNNING, status.SCHEDULED),
                "resume": campaign.status == status.PAUSED,
                "cancel": campaign.status
                in (status.DRAFT, status.SCHEDULED, status.RUNNING, status.PAUSED),
            },
            "progress_url": reverse("admin:integrations_campaign_progress", args=[campaign.pk]),
            "csv_url": reverse("admin:integrations_campaign_csv", args=[campaign.pk]),
        }
        if request.GET.get("preview"):
            try:
                count, samples = campaign_preview(campaign=campaign)
                context["preview"] = {"count": count, "samples": samples}
            except CampaignInvalid as exc:
                context["preview_error"] = str(exc)
        if campaign.status != status.DRAFT:
            totals = campaign_totals(campaign=campaign)
            page = Paginator(campaign_recipients(campaign=campaign), RECIPIENTS_PER_PAGE).get_page(
                request.GET.get("page")
            )
            context.update(
                {
                    "totals": totals,
                    "percent": campaign_progress_percent(totals),
                    "recipients_page": page,
                    "recipient_rows": [(row, *recipient_status(row)) for row in page],
                }
            )
        return context
