"""API keys (shown once), notification rules and the read-only log of business events."""

from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin

from integrations.models import AccountAPIKey, BusinessEvent, NotificationRule


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
