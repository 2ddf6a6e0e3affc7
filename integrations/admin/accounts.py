from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from integrations.admin.provider_accounts import provider_account_context, provider_account_urls
from integrations.models import IntegrationAccount
from integrations.platforms import platform_choices, platform_class, platform_keys
from integrations.selectors import account_dependents
from integrations.services import (
    AccountConfigInvalid,
    account_save,
    account_set_active,
    account_verify_credentials,
)
from messaging.providers import PROVIDERS
from messaging.webhook_accounts import webhook_url


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

    change_form_template = "admin/integrations/integrationaccount/change_form.html"
    delete_confirmation_template = "admin/integrations/integrationaccount/delete_confirmation.html"

    def get_urls(self):
        view = self.admin_site.admin_view(self.verify_view)
        return [
            path("<int:object_id>/verify/", view, name="integrations_account_verify"),
            *provider_account_urls(self),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        account = IntegrationAccount.objects.filter(pk=object_id).first()
        extra_context = {**(extra_context or {}), **provider_account_context(account)}
        return super().change_view(request, object_id, form_url, extra_context)

    def verify_view(self, request, object_id):
        """The per-account "Verify credentials" button: POST only, the result as a message."""
        account = get_object_or_404(IntegrationAccount, pk=min(object_id, 2**63 - 1))
        if not self.has_change_permission(request, account):
            return redirect("admin:index")
        if request.method == "POST":
            self._verify_one(request, account)
        return redirect(reverse("admin:integrations_integrationaccount_change", args=[account.pk]))

    def _verify_one(self, request, account):
        ok, said = account_verify_credentials(account=account)
        if ok:
            self.message_user(request, f"{account}: credentials verified. {said}", messages.SUCCESS)
        else:
            self.message_user(request, f"{account}: verification failed. {said}", messages.ERROR)

    def delete_view(self, request, object_id, extra_context=None):
        account = IntegrationAccount.objects.filter(pk=object_id).first()
        extra_context = {**(extra_context or {})}
        if account is not None:
            extra_context["dependents"] = account_dependents(account=account)
        return super().delete_view(request, object_id, extra_context)

    @admin.display(description="Last error")
    def last_error_short(self, obj):
        return (obj.last_error or "")[:80]

    @admin.display(description="Webhook URL")
    def webhook_url(self, obj):
        if obj.platform not in PROVIDERS or not obj.pk:
            return "—"
        rows = PROVIDERS.get(obj.platform).setup_urls(webhook_url(obj))
        if len(rows) == 1:
            return format_html("<code>{}</code>", rows[0][1])
        return format_html_join(mark_safe("<br>"), '{}:<br><code class="setup-url">{}</code>', rows)

    def _platform(self, request, obj):
        return obj.platform if obj else request.GET.get("platform") or request.POST.get("platform")

    def add_view(self, request, form_url="", extra_context=None):
        if self._platform(request, None) not in platform_keys():
            return TemplateResponse(
                request,
                "admin/integrations/choose_platform.html",
                {
                    **self.admin_site.each_context(request),
                    "platforms": platform_choices(),
                    "opts": self.model._meta,
                    "title": "Choose the platform of the new account",
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
            self._verify_one(request, account)

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
