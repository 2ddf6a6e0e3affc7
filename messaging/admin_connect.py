"""Connect and Disconnect on the channel admin, for providers whose webhook is registered by an
API call (a Telegram bot): buttons on the channel page that call the connect services, and a
panel with what the platform last said about the webhook."""

from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from messaging.models import Channel
from messaging.providers import provider_class
from messaging.services import (
    ChannelConnectFailed,
    channel_connect,
    channel_disconnect,
    channel_webhook_refresh,
)

ACTIONS = {
    "connect": (channel_connect, "Connected: the webhook is registered."),
    "disconnect": (channel_disconnect, "Disconnected: the webhook is removed."),
    "refresh": (channel_webhook_refresh, "Webhook status read again."),
}


def connects_webhook(channel: Channel | None) -> bool:
    return channel is not None and provider_class(channel.provider).connects_webhook


class ChannelConnectAdminMixin:
    change_form_template = "admin/messaging/channel/change_form.html"

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        extra = [
            path(
                f"<int:pk>/{action}/",
                self.admin_site.admin_view(require_POST(self._action_view(action))),
                name=f"{info[0]}_{info[1]}_{action}",
            )
            for action in ACTIONS
        ]
        return extra + super().get_urls()

    def _action_view(self, action):
        service, done = ACTIONS[action]

        def view(request, pk):
            channel = get_object_or_404(Channel, pk=pk)
            if not self.has_change_permission(request, channel):
                return redirect("admin:index")
            try:
                service(channel=channel)
            except ChannelConnectFailed as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, done, messages.SUCCESS)
                warning = channel.config.get("webhook_warning") if action == "connect" else ""
                if warning:
                    self.message_user(request, warning, messages.WARNING)
            return redirect("admin:messaging_channel_change", pk)

        return view

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "webhook_status"] if connects_webhook(obj) else fields

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not connects_webhook(obj):
            return fieldsets
        # First, and only there (the default fieldset lists every read-only field too).
        others = [
            (name, {**options, "fields": [f for f in options["fields"] if f != "webhook_status"]})
            for name, options in fieldsets
        ]
        return [("Webhook", {"fields": ["webhook_status"]}), *others]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        channel = Channel.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        extra_context = {
            **(extra_context or {}),
            "connects_webhook": connects_webhook(channel),
            "webhook_connected": bool(channel and channel.config.get("webhook_connected")),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="Webhook")
    def webhook_status(self, obj):
        config = obj.config or {}
        if not config.get("webhook_connected"):
            return format_html(
                '<span id="webhook-status">{}</span>',
                "Not connected. Save the bot token, then press Connect.",
            )
        info = config.get("webhook_info") or {}
        rows = [
            ("Bot", f"@{config.get('bot_username', '')} ({config.get('bot_id', '')})"),
            ("URL", info.get("url", "")),
            ("Pending updates", info.get("pending_update_count", "")),
            ("Last error", info.get("last_error_message") or "none"),
            ("Checked", info.get("checked_at", "")),
        ]
        if config.get("webhook_warning"):
            rows.append(("Warning", config["webhook_warning"]))
        return format_html(
            '<dl id="webhook-status">{}</dl>',
            format_html_join("", "<dt>{}</dt><dd>{}</dd>", rows),
        )
