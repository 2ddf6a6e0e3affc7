from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from integrations.connectors.base import ConnectorError
from integrations.models import ExternalLink, IntegrationAccount, SyncConflict
from integrations.services import RecordSendRefused, record_send
from integrations.services.customers import MODELS, PUSH_SCOPE


class SendRecordForm(forms.Form):
    account = forms.ModelChoiceField(queryset=IntegrationAccount.objects.none())

    def __init__(self, *args, object_type: str, **kwargs):
        super().__init__(*args, **kwargs)
        platforms = [p for p, scope in PUSH_SCOPE.items() if object_type in scope]
        self.fields["account"].queryset = IntegrationAccount.objects.filter(
            is_active=True, platform__in=platforms
        )


@admin.register(ExternalLink)
class ExternalLinkAdmin(admin.ModelAdmin):
    list_display = (
        "account",
        "object_type",
        "local_id",
        "external_id",
        "external_kind",
        "remote_modified_at",
        "synced_at",
    )
    list_filter = ("account", "object_type")
    search_fields = ("external_id",)
    list_select_related = ("account",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view(self.send_record_view)
        return [
            path(
                "send/<str:object_type>/<int:object_id>/",
                view,
                name="integrations_send_record",
            ),
            *super().get_urls(),
        ]

    def send_record_view(self, request, object_type, object_id):
        """Push one contact or company to a chosen account now and show what the platform said."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Send {object_type} #{object_id} to a platform",
            "object_type": object_type,
        }
        if object_type not in MODELS:
            context["error"] = f"Only contacts and companies can be sent, not {object_type!r}."
            return TemplateResponse(request, "admin/integrations/externallink/send.html", context)
        if not request.user.has_perm(f"crm.change_{object_type}"):
            raise PermissionDenied
        # A number past the primary key's range is a missing record, not a database error.
        in_range = object_id < 2**63
        obj = MODELS[object_type].objects.filter(pk=object_id).first() if in_range else None
        context["record"] = obj
        if obj is None:
            context["error"] = f"There is no {object_type} #{object_id}."
            return TemplateResponse(request, "admin/integrations/externallink/send.html", context)
        form = SendRecordForm(request.POST or None, object_type=object_type)
        if request.method == "POST" and form.is_valid():
            account = form.cleaned_data["account"]
            try:
                external_id = record_send(account=account, object_type=object_type, local_id=obj.pk)
            except (RecordSendRefused, ConnectorError) as exc:
                context["error"] = f"{account}: {getattr(exc, 'message', '') or exc}"
            else:
                context["sent"] = {"account": account, "external_id": external_id}
        context["form"] = form
        context["links"] = ExternalLink.objects.filter(
            object_type=object_type, local_id=obj.pk
        ).select_related("account")
        return TemplateResponse(request, "admin/integrations/externallink/send.html", context)


@admin.register(SyncConflict)
class SyncConflictAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "account",
        "object_type",
        "local_id",
        "external_id",
        "winner",
        "local_modified_at",
        "remote_modified_at",
    )
    list_filter = ("winner", "account", "object_type")
    search_fields = ("external_id",)
    list_select_related = ("account",)
    readonly_fields = [f.name for f in SyncConflict._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
