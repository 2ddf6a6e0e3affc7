from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html
from rest_framework_api_key.admin import APIKeyModelAdmin

from integrations.models import (
    AccountAPIKey,
    BusinessEvent,
    IntegrationAccount,
    NotificationRule,
    Platform,
)
from integrations.platforms import platform_class
from integrations.services import (
    AccountConfigInvalid,
    account_save,
    account_set_active,
    account_verify_credentials,
)


class AccountForm(forms.ModelForm):
    """Base form; the platform's own fields are added per platform by `account_form_for`."""

    class Meta:
        model = IntegrationAccount
        fields = ("description", "is_active")

    platform_key = ""

    def clean(self):
        cleaned = super().clean()
        klass = platform_class(self.platform_key)
        self.platform_settings = {n: cleaned.get(f"setting_{n}", "") for n in klass.setting_fields}
        self.platform_secrets = {n: cleaned.get(f"secret_{n}", "") for n in klass.secret_fields}
        self.instance.platform = self.platform_key
        merged = {**self.instance.secrets, **{k: v for k, v in self.platform_secrets.items() if v}}
        for field, error in klass.validate_config(
            settings=self.platform_settings, secrets=merged
        ).items():
            name = f"setting_{field}" if field in klass.setting_fields else f"secret_{field}"
            self.add_error(name if name in self.fields else None, error)
        return cleaned


def account_form_for(platform: str, instance: IntegrationAccount | None):
    klass = platform_class(platform)
    attrs = {"platform_key": platform}
    for name in klass.setting_fields:
        attrs[f"setting_{name}"] = forms.CharField(
            label=name.replace("_", " ").capitalize(),
            required=False,
            initial=(instance.settings.get(name, "") if instance else ""),
        )
    for name in klass.secret_fields:
        stored = bool(instance and instance.secrets.get(name))
        attrs[f"secret_{name}"] = forms.CharField(
            label=name.replace("_", " ").capitalize(),
            required=False,
            widget=forms.PasswordInput(render_value=False),
            help_text="Stored (hidden). Leave blank to keep it." if stored else "Secret.",
        )
    return type(f"{platform.title()}AccountForm", (AccountForm,), attrs)


@admin.register(IntegrationAccount)
class IntegrationAccountAdmin(admin.ModelAdmin):
    list_display = ("description", "platform", "is_active", "is_healthy", "last_error_short")
    list_filter = ("platform", "is_active", "is_healthy")
    search_fields = ("description",)
    readonly_fields = ("platform", "key", "webhook_url", "is_healthy", "last_error", "created_at")
    actions = ["verify_credentials", "activate", "deactivate"]

    @admin.display(description="Last error")
    def last_error_short(self, obj):
        return (obj.last_error or "")[:80]

    @admin.display(description="Webhook URL")
    def webhook_url(self, obj):
        from django.conf import settings

        if obj.platform != Platform.WHATSAPP_CLOUD or not obj.pk:
            return "—"
        return format_html(
            "<code>{}/webhooks/whatsapp/{}/</code>", settings.PUBLIC_BASE_URL, obj.key
        )

    def _platform(self, request, obj):
        return obj.platform if obj else request.GET.get("platform") or request.POST.get("platform")

    def add_view(self, request, form_url="", extra_context=None):
        if self._platform(request, None) not in Platform.values:
            return TemplateResponse(
                request,
                "admin/integrations/choose_platform.html",
                {
                    **self.admin_site.each_context(request),
                    "platforms": Platform.choices,
                    "opts": self.model._meta,
                    "title": "Choose the platform",
                },
            )
        return super().add_view(request, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        return account_form_for(self._platform(request, obj), obj)

    def get_fieldsets(self, request, obj=None):
        form = self.get_form(request, obj)
        own = [name for name in form.base_fields if name.startswith(("setting_", "secret_"))]
        read = [f for f in self.get_readonly_fields(request, obj) if obj or f == "platform"]
        return [
            (None, {"fields": ["description", "is_active", *read]}),
            ("Settings", {"fields": own}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ()

    def save_model(self, request, obj, form, change):
        obj.platform = form.platform_key
        try:
            account_save(
                account=obj, settings=form.platform_settings, secrets=form.platform_secrets
            )
        except AccountConfigInvalid as exc:  # the form validated already; this is a last guard
            messages.error(request, str(exc))

    @admin.action(description="Verify credentials")
    def verify_credentials(self, request, queryset):
        for account in queryset:
            ok, said = account_verify_credentials(account=account)
            level = messages.SUCCESS if ok else messages.ERROR
            self.message_user(request, f"{account}: {said}", level)

    @admin.action(description="Activate")
    def activate(self, request, queryset):
        for account in queryset:
            account_set_active(account=account, active=True)
        self.message_user(request, f"{queryset.count()} account(s) activated.")

    @admin.action(description="Deactivate (keeps every setting)")
    def deactivate(self, request, queryset):
        for account in queryset:
            account_set_active(account=account, active=False)
        self.message_user(request, f"{queryset.count()} account(s) deactivated.")


# ---------------------------------------------------------------------------------------------
# API keys, notification rules and the business-event log


@admin.register(AccountAPIKey)
class AccountAPIKeyAdmin(APIKeyModelAdmin):
    """Saving a new key shows it once, at the top of the page; only its hash is stored."""

    list_display = [*APIKeyModelAdmin.list_display, "account"]
    list_filter = [*APIKeyModelAdmin.list_filter, "account"]
    list_select_related = ["account"]


@admin.register(NotificationRule)
class NotificationRuleAdmin(admin.ModelAdmin):
    list_display = ["event_type", "account", "is_enabled", "channel", "template"]
    list_filter = ["event_type", "is_enabled", "account"]
    list_select_related = ["account", "channel", "template"]


@admin.register(BusinessEvent)
class BusinessEventAdmin(admin.ModelAdmin):
    """The log of every posted event and its outcome; events come only from the API."""

    list_display = ["created_at", "type", "external_id", "account", "state", "reason", "message"]
    list_filter = ["state", "type", "account"]
    search_fields = ["external_id", "recipient_phone"]
    list_select_related = ["account", "message"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
