from django import forms
from django.contrib import admin, messages
from django.db.models import F
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.admin_scoping import RoleScopedAdminMixin, RoleScopedInlineMixin
from accounts.models import Role
from crm.selectors import contact_is_writable_by
from messaging.admin_connect import ChannelConnectAdminMixin
from messaging.models import Channel, Conversation, Message, MessageTemplate, WebhookEvent
from messaging.providers import provider_class
from messaging.providers.base import ProviderError
from messaging.selectors import (
    conversation_list_visible_to,
    conversation_message_totals,
    conversation_search,
    message_list_visible_to,
    message_search,
)
from messaging.services import (
    MessageRefused,
    media_fetch_enqueue,
    message_delivery_retry,
    message_mark_read,
    message_send_text,
    templates_sync,
    webhook_event_reprocess,
)

# Channels, webhook events and templates are operator settings: only administrators (Django's
# own model permissions, which staff roles are not given) see them.


class ChannelProviderFields:
    """Mixed into the channel admin's form: the provider's own channel settings and secrets,
    added by `channel_form_for` the way the account form adds the platform's."""

    provider_key = ""

    def clean(self):
        cleaned = super().clean()
        if not self.provider_key:
            return cleaned
        klass = provider_class(self.provider_key)
        config = dict(cleaned.get("config") or {})
        for name in klass.channel_setting_fields:
            config[name] = cleaned.get(f"setting_{name}", "")
        cleaned["config"] = config
        given = {n: cleaned.get(f"secret_{n}", "") for n in klass.channel_secret_fields}
        self.channel_secrets = {**self.instance.secrets, **{k: v for k, v in given.items() if v}}
        for field, error in klass.validate_channel_config(
            config=config, secrets=self.channel_secrets
        ).items():
            name = (
                f"setting_{field}" if field in klass.channel_setting_fields else f"secret_{field}"
            )
            self.add_error(name if name in self.fields else None, error)
        return cleaned

    def save(self, commit=True):
        if self.provider_key:
            self.instance.secrets = self.channel_secrets
        return super().save(commit)


def channel_form_for(channel: Channel | None, base: type[forms.ModelForm]):
    """`base` with the channel's provider fields (known once the channel exists)."""
    if channel is None:
        return base
    klass = provider_class(channel.provider)
    attrs = {"provider_key": channel.provider}
    for name in klass.channel_setting_fields:
        attrs[f"setting_{name}"] = forms.CharField(
            label=name.replace("_", " ").capitalize(),
            required=False,
            initial=channel.config.get(name, ""),
        )
    for name in klass.channel_secret_fields:
        stored = bool(channel.secrets.get(name))
        attrs[f"secret_{name}"] = forms.CharField(
            label=name.replace("_", " ").capitalize(),
            required=False,
            widget=forms.PasswordInput(render_value=False),
            help_text="Stored (hidden). Leave blank to keep it." if stored else "Secret.",
        )
    return type("ProviderChannelForm", (ChannelProviderFields, base), attrs)


@admin.register(Channel)
class ChannelAdmin(ChannelConnectAdminMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "display_number",
        "external_id",
        "account",
        "service",
        "transport",
        "provider_state",
        "is_healthy",
        "error",
    )
    list_filter = ("provider", "transport", "service", "is_healthy", "account")
    list_select_related = ("account", "service")
    search_fields = ("name", "display_number", "external_id")
    readonly_fields = ("key", "is_healthy", "last_error", "last_error_at", "created_at")
    # Never shown back: set through the provider's secret fields.
    exclude = ("secrets",)
    actions = ["sync_templates"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = channel_form_for(obj, kwargs.get("form") or self.form)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        # The provider's fields are declared on the form class, so list them explicitly.
        fieldsets = super().get_fieldsets(request, obj)
        form = channel_form_for(obj, self.form)
        extra = [n for n in form.base_fields if n.startswith(("setting_", "secret_"))]
        if extra:
            # Only there: the default fieldset lists the form's declared fields too, and a field
            # shown twice posts two values.
            fieldsets = [
                (name, {**options, "fields": [f for f in options["fields"] if f not in extra]})
                for name, options in fieldsets
            ]
            fieldsets = [*fieldsets, ("Provider settings for this channel", {"fields": extra})]
        return fieldsets

    @admin.display(description=_("Last error"))
    def error(self, obj):
        return (obj.last_error or "")[:80]

    @admin.display(description=_("State at the provider"))
    def provider_state(self, obj):
        # Providers that report a channel's state (Wazzup: active, qr, notEnoughMoney...).
        return obj.config.get("state") or "-"

    @admin.action(description=_("Sync templates now (for the channel's account)"))
    def sync_templates(self, request, queryset):
        for account in {channel.account for channel in queryset.select_related("account")}:
            _sync_templates(self, request, account)


def _sync_templates(model_admin, request, account):
    try:
        counts = templates_sync(account=account)
    except ProviderError as exc:
        model_admin.message_user(request, f"{account}: {exc.message}", messages.ERROR)
        return
    model_admin.message_user(
        request,
        f"{account}: {counts['seen']} templates read, {counts['created']} new, "
        f"{counts['deleted']} no longer on the platform.",
    )


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("id", "provider", "account", "received_at", "state", "signature_valid", "err")
    list_filter = ("state", "signature_valid", "provider")
    list_select_related = ("account",)
    readonly_fields = [f.name for f in WebhookEvent._meta.fields if f.name != "body"] + ["payload"]
    exclude = ("body",)
    actions = ["reprocess"]

    @admin.display(description=_("Error"))
    def err(self, obj):
        return (obj.error or "")[:100]

    @admin.display(description=_("Body as received"))
    def payload(self, obj):
        return format_html(
            "<pre style='white-space:pre-wrap'>{}</pre>",
            bytes(obj.body).decode("utf-8", errors="replace"),
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Reprocess now"))
    def reprocess(self, request, queryset):
        for event in queryset.exclude(state=WebhookEvent.State.REJECTED):
            result = webhook_event_reprocess(event_id=event.pk)
            self.message_user(request, f"Event {event.pk}: {result.state} {result.error}".strip())


class MessageInline(RoleScopedInlineMixin, admin.TabularInline):
    model = Message
    fields = (
        "provider_message_id",
        "direction",
        "status",
        "created_at",
        "customer_text",
        "staff_text",
        "error_title",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("Customer"))
    def customer_text(self, obj):
        return obj.text if obj.direction == Message.Direction.INBOUND else ""

    @admin.display(description=_("Staff"))
    def staff_text(self, obj):
        return obj.text if obj.direction == Message.Direction.OUTBOUND else ""


class LastMessageStatusFilter(admin.SimpleListFilter):
    """The statuses a message can have, not the DISTINCT of every conversation's (a scan)."""

    title = "last message status"
    parameter_name = "last_message_status"

    def lookups(self, request, model_admin):
        return Message.Status.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(last_message_status=self.value())
        return queryset


@admin.register(Conversation)
class ConversationAdmin(RoleScopedAdminMixin, admin.ModelAdmin):
    role_selector = staticmethod(conversation_list_visible_to)
    role_object_writable = staticmethod(
        lambda *, user, obj: contact_is_writable_by(user=user, contact=obj.contact)
    )
    # Conversations open from messages (inbound, or a template sent to the contact).
    role_can_add = ()
    list_display = (
        "id",
        "contact",
        "channel",
        "assignee",
        "status",
        "opened_at",
        "last_message_at",
        "last_message_status",
        "message_count",
        "ticket",
    )
    list_filter = ("status", "channel", LastMessageStatusFilter, "widget")
    list_select_related = ("contact", "channel", "assignee", "ticket")
    search_fields = ("contact__name", "contact__phone")
    readonly_fields = (
        "channel",
        "contact",
        "opened_at",
        "closed_at",
        "last_inbound_at",
        "last_message_at",
        "last_message_status",
        # Kept by the services that store messages (the list's preview of the last one).
        "last_message_type",
        "last_message_direction",
        "last_message_preview",
        "started_by_template",
        "ticket",
        # Where a website widget started it (set by the first message's reference).
        "widget",
        "widget_page",
        "service",
    )
    inlines = [MessageInline]
    change_form_template = "admin/messaging/conversation/change_form.html"

    # The inbox's order, served by the conversation_recent index.
    ordering = (F("last_message_at").desc(nulls_last=True), "-pk")

    def get_search_results(self, request, queryset, search_term):
        return conversation_search(queryset=queryset, term=search_term), False

    def page_rows_prepare(self, rows):
        totals = conversation_message_totals(conversation_ids=[row.pk for row in rows])
        for row in rows:
            row.message_total = totals.get(row.pk, 0)

    def get_urls(self):
        reply = self.admin_site.admin_view(self.reply_view)
        return [
            path("<int:pk>/reply/", reply, name="messaging_conversation_reply"),
            *super().get_urls(),
        ]

    def reply_send(self, request, conversation, text: str):
        """Send the reply typed on the page; the service checks the role and the window."""
        return message_send_text(
            channel=conversation.channel,
            contact=conversation.contact,
            text=text,
            actor=request.user,
        )

    def reply_view(self, request, pk):
        # Only conversations the viewer may see: anyone else's is a 404, not a page.
        conversation = get_object_or_404(
            self.get_queryset(request).select_related("channel__account", "contact"), pk=pk
        )
        change_url = reverse("admin:messaging_conversation_change", args=[pk])
        if request.method != "POST":
            return redirect(change_url)
        try:
            self.reply_send(request, conversation, request.POST.get("text", ""))
        except MessageRefused as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, "Reply queued; its ticks appear as statuses arrive.")
        return redirect(change_url)

    @admin.display(description=_("Messages"))
    def message_count(self, obj):
        return obj.message_total


@admin.register(Message)
class MessageAdmin(RoleScopedAdminMixin, admin.ModelAdmin):
    role_selector = staticmethod(message_list_visible_to)
    role_object_writable = staticmethod(
        lambda *, user, obj: contact_is_writable_by(user=user, contact=obj.conversation.contact)
    )
    list_display = (
        "created_at",
        "direction",
        "type",
        "status",
        "contact",
        "short_text",
        "error_title",
        "media_state",
    )
    list_filter = ("status", "direction", "type", "channel", "media_state")
    list_select_related = ("conversation__contact", "channel")
    search_fields = ("provider_message_id", "text", "conversation__contact__phone")
    readonly_fields = [f.name for f in Message._meta.fields]
    actions = ["retry_delivery", "retry_media", "mark_read"]

    @admin.display(description=_("Contact"))
    def contact(self, obj):
        return obj.conversation.contact

    def get_search_results(self, request, queryset, search_term):
        return message_search(queryset=queryset, term=search_term), False

    @admin.display(description=_("Text"))
    def short_text(self, obj):
        return (obj.text or "")[:80]

    def has_add_permission(self, request):
        return False

    def has_operate_permission(self, request):
        # Retrying deliveries and downloads is operating the WhatsApp link, not client work.
        return self._role(request) == Role.MANAGER

    @admin.action(
        description=_("Retry delivery of failed outbound messages"), permissions=["operate"]
    )
    def retry_delivery(self, request, queryset):
        retried = message_delivery_retry(message_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, f"{retried} message(s) queued again.")

    @admin.action(description=_("Retry media download"), permissions=["operate"])
    def retry_media(self, request, queryset):
        ids = list(
            queryset.filter(media_state=Message.MediaState.FAILED).values_list("pk", flat=True)
        )
        for pk in ids:
            media_fetch_enqueue(message_id=pk)
        self.message_user(request, f"{len(ids)} download(s) started again.")

    @admin.action(description=_("Mark as read on WhatsApp"), permissions=["operate"])
    def mark_read(self, request, queryset):
        for message in queryset.filter(direction=Message.Direction.INBOUND).select_related(
            "channel__account"
        ):
            try:
                message_mark_read(message=message)
            except ProviderError as exc:
                self.message_user(request, f"{message}: {exc.message}", messages.ERROR)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "language",
        "category",
        "status",
        "body_param_count",
        "account",
        "synced_at",
    )
    list_filter = ("status", "category", "language", "account")
    list_select_related = ("account",)
    search_fields = ("name",)
    readonly_fields = [f.name for f in MessageTemplate._meta.fields]
    actions = ["sync_templates"]

    @admin.action(description=_("Sync templates now"))
    def sync_templates(self, request, queryset):
        for account in {t.account for t in queryset}:
            _sync_templates(self, request, account)


# Services and the maximum per channel type (their own module; registered by importing it).
# Website widgets, likewise.
from messaging import admin_services, widget_admin  # noqa: E402, F401
