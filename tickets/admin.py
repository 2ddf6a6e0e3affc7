"""The helpdesk in the operator console: tickets with their history and a comment box, plus the
ticket parts of the conversation and channel pages (which live in messaging, an app to our left,
so they are extended here rather than made to import tickets)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.defaultfilters import urlize
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from accounts.admin_scoping import RoleScopedAdminMixin
from crm.selectors import contact_ids_by_phone, contact_is_writable_by
from messaging.admin import ChannelAdmin, ConversationAdmin
from messaging.models import Channel, Conversation, Message
from messaging.services import MessageRefused
from tickets.models import Ticket, TicketComment, TicketPriority, TicketStatus
from tickets.routing import RoutingRefused, conversation_close, conversation_reply
from tickets.selectors import (
    ticket_comment_list_visible_to,
    ticket_comments,
    ticket_conversations,
    ticket_list,
    ticket_list_visible_to,
    ticket_media_message,
    ticket_search_phone,
    ticket_totals_set,
)
from tickets.services import (
    ticket_assign,
    ticket_close,
    ticket_comment_add,
    ticket_open_from_conversation,
    ticket_reopen,
    ticket_status_set,
)
from tickets.template_parameters import parameter_paths_check

S = Message.Status


def delivery_ticks(message: Message | None) -> str:
    """WhatsApp's ticks for a message we sent, as staff know them from their phones."""
    if message is None:
        return ""
    if message.status == S.READ:
        return mark_safe('<span style="color:#34b7f1" title="read">✓✓ read</span>')
    if message.status == S.DELIVERED:
        return mark_safe('<span title="delivered">✓✓ delivered</span>')
    if message.status == S.SENT:
        return mark_safe('<span title="sent">✓ sent</span>')
    if message.status == S.FAILED:
        reason = message.error_title or message.error_detail or "no reason given"
        return format_html('<span style="color:#ba2121">✗ failed: {}</span>', reason)
    return format_html("<span>🕓 {}</span>", message.get_status_display().lower())


# Shown in the browser; anything else (HTML, SVG, scripts, office files) is downloaded, so a
# customer's file can never run as a page of the operator console.
INLINE_MEDIA = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def media_response(message: Message) -> FileResponse:
    mime = str((message.payload or {}).get("mime_type") or "").split(";")[0].strip().lower()
    inline = mime in INLINE_MEDIA or mime.startswith(("audio/", "video/"))
    return FileResponse(
        message.media_file.open("rb"),
        as_attachment=not inline,
        filename=message.media_file.name.rsplit("/", 1)[-1],
        content_type=mime if inline else "application/octet-stream",
    )


def _staff_users():
    return get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")


class TicketActionForm(ActionForm):
    assignee = forms.ModelChoiceField(
        queryset=_staff_users(), required=False, label=_("Assign to"), empty_label=_("(nobody)")
    )


def _contact_writable(*, user, obj) -> bool:
    return contact_is_writable_by(user=user, contact=obj.contact)


@admin.register(Ticket)
class TicketAdmin(RoleScopedAdminMixin, admin.ModelAdmin):
    role_selector = staticmethod(ticket_list_visible_to)
    role_object_writable = staticmethod(_contact_writable)
    list_display = (
        "number",
        "title",
        "contact",
        "channel",
        "assignee",
        "priority",
        "status",
        "comment_count",
        "updated_at",
    )
    list_display_links = ("number", "title")
    list_filter = ("status", "channel", "assignee", "priority")
    search_fields = ("number", "contact__name", "contact__phone")
    fields = (
        "number",
        "title",
        "status",
        "priority",
        "assignee",
        "contact",
        "channel",
        "created_at",
        "updated_at",
        "closed_at",
        "description_text",
    )
    # Status and assignee change through the buttons below, which call the services.
    readonly_fields = (
        "number",
        "status",
        "assignee",
        "contact",
        "channel",
        "created_at",
        "updated_at",
        "closed_at",
        "description_text",
    )
    actions = ["close", "reopen", "assign_to_me", "assign"]
    action_form = TicketActionForm
    change_form_template = "admin/tickets/ticket/change_form.html"

    def get_queryset(self, request):
        # Scoped to the viewer's tickets by the mixin, then with what the list shows per row.
        return ticket_list(queryset=super().get_queryset(request))

    def page_rows_prepare(self, rows):
        ticket_totals_set(tickets=rows)

    def get_search_results(self, request, queryset, search_term):
        contact_ids = contact_ids_by_phone(term=search_term) if search_term else []
        if contact_ids:
            # The exact number first: an index lookup, not a scan of every contact's phone.
            return queryset.filter(contact_id__in=contact_ids), False
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        phone = ticket_search_phone(term=search_term) if search_term else None
        if phone:
            # A number written any way ("0039 335 1032246", "335 103 2246") finds its contact.
            queryset |= self.get_queryset(request).filter(Q(contact__phone=phone))
        return queryset, may_have_duplicates

    def has_add_permission(self, request):
        # Tickets open from conversations (by themselves or with the conversation's action).
        return False

    @admin.display(description=_("Comments"))
    def comment_count(self, obj):
        return obj.comment_total

    @admin.display(description=_("Description"))
    def description_text(self, obj):
        # urlize escapes the text; media in the description are links to the media page.
        return format_html('<div style="white-space:pre-wrap">{}</div>', urlize(obj.description))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        ticket = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if ticket is not None:
            comments = list(ticket_comments(ticket=ticket))
            for comment in comments:
                comment.ticks = delivery_ticks(comment.message) if comment.message else ""
            extra_context.update(
                comments=comments,
                conversations=ticket_conversations(ticket=ticket),
                statuses=TicketStatus.choices,
                staff_users=_staff_users(),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        def view(func):
            return self.admin_site.admin_view(func)

        return [
            path("<int:pk>/comment/", view(self.comment_view), name="tickets_ticket_comment"),
            path("<int:pk>/status/", view(self.status_view), name="tickets_ticket_status"),
            path("<int:pk>/assign/", view(self.assign_view), name="tickets_ticket_assign"),
            path("media/<int:message_pk>/", view(self.media_view), name="tickets_ticket_media"),
            *super().get_urls(),
        ]

    def _ticket_for_post(self, request, pk):
        # A ticket the viewer may not see is a 404. One they may only read still reaches the
        # service, which refuses with its reason (quality control posting by hand sees why).
        ticket = get_object_or_404(
            Ticket.objects.filter(pk__in=self.get_queryset(request).values("pk")).select_related(
                "contact", "channel"
            ),
            pk=pk,
        )
        return ticket, request.method == "POST"

    def _back(self, pk):
        return redirect(reverse("admin:tickets_ticket_change", args=[pk]))

    def comment_view(self, request, pk):
        ticket, allowed = self._ticket_for_post(request, pk)
        if allowed:
            internal = bool(request.POST.get("internal"))
            try:
                ticket_comment_add(
                    ticket=ticket,
                    author=request.user,
                    text=request.POST.get("text", ""),
                    internal=internal,
                )
            except MessageRefused as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(
                    request,
                    "Internal note added."
                    if internal
                    else "Comment sent to the customer; its ticks appear as statuses arrive.",
                )
        return self._back(pk)

    def media_view(self, request, message_pk):
        message = (
            ticket_media_message(user=request.user, message_id=message_pk)
            if self.has_view_permission(request)
            else None
        )
        if message is None:
            raise Http404("No media of a ticket you may see has this number.")
        if not message.media_file:
            why = f": {message.media_error}" if message.media_error else ""
            return HttpResponse(
                f"This {message.type} is not downloaded yet "
                f"({message.get_media_state_display().lower()}{why}). Downloads are retried; "
                "the message's page in the admin has a 'Retry media download' action.",
                status=404,
                content_type="text/plain; charset=utf-8",
            )
        return media_response(message)

    def status_view(self, request, pk):
        ticket, allowed = self._ticket_for_post(request, pk)
        if allowed:
            try:
                ticket_status_set(
                    ticket=ticket, status=request.POST.get("status", ""), actor=request.user
                )
            except MessageRefused as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"{ticket.number} is now {ticket.get_status_display()}.")
        return self._back(pk)

    def assign_view(self, request, pk):
        ticket, allowed = self._ticket_for_post(request, pk)
        if allowed:
            chosen = request.POST.get("assignee") or None
            assignee = _staff_users().filter(pk=chosen).first() if chosen else None
            if chosen and assignee is None:
                self.message_user(request, "Choose an active member of staff.", messages.ERROR)
            elif self._assign(request, ticket, assignee):
                self.message_user(
                    request,
                    f"{ticket.number} is now "
                    + (f"assigned to {assignee}." if assignee else "unassigned."),
                )
        return self._back(pk)

    def _assign(self, request, ticket, assignee) -> bool:
        try:
            ticket_assign(ticket=ticket, assignee=assignee, actor=request.user)
        except MessageRefused as exc:
            self.message_user(request, f"{ticket.number}: {exc}", messages.ERROR)
            return False
        return True

    def _each(self, request, queryset, service, done: str):
        count = 0
        for ticket in queryset.select_related("contact"):
            try:
                service(ticket)
            except MessageRefused as exc:
                self.message_user(request, f"{ticket.number}: {exc}", messages.ERROR)
            else:
                count += 1
        self.message_user(request, f"{count} ticket(s) {done}.")

    @admin.action(description=_("Close selected tickets"))
    def close(self, request, queryset):
        self._each(
            request, queryset, lambda t: ticket_close(ticket=t, actor=request.user), "closed"
        )

    @admin.action(description=_("Reopen selected tickets"))
    def reopen(self, request, queryset):
        self._each(
            request, queryset, lambda t: ticket_reopen(ticket=t, actor=request.user), "reopened"
        )

    @admin.action(description=_("Assign selected tickets to me"))
    def assign_to_me(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda t: ticket_assign(ticket=t, assignee=request.user, actor=request.user),
            "assigned to you",
        )

    @admin.action(description=_("Assign selected tickets to the person chosen above"))
    def assign(self, request, queryset):
        chosen = request.POST.get("assignee") or None
        assignee = _staff_users().filter(pk=chosen).first() if chosen else None
        if chosen and assignee is None:
            self.message_user(request, "Choose an active member of staff.", messages.ERROR)
            return
        self._each(
            request,
            queryset,
            lambda t: ticket_assign(ticket=t, assignee=assignee, actor=request.user),
            f"assigned to {assignee}" if assignee else "unassigned",
        )


@admin.register(TicketComment)
class TicketCommentAdmin(RoleScopedAdminMixin, admin.ModelAdmin):
    """The comment history across tickets, read-only: comments are added on the ticket page."""

    role_selector = staticmethod(ticket_comment_list_visible_to)
    list_display = ("created_at", "ticket", "author_kind", "author", "is_internal", "short_text")
    list_filter = ("author_kind", "is_internal")
    list_select_related = ("ticket", "author")
    search_fields = ("ticket__number", "text")
    readonly_fields = [f.name for f in TicketComment._meta.fields]

    @admin.display(description=_("Text"))
    def short_text(self, obj):
        return obj.text[:80]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# ---------------------------------------------------------------------------------------------
# The conversation and channel pages, with their ticket parts


class HelpdeskConversationAdmin(ConversationAdmin):
    actions = [*ConversationAdmin.actions, "open_ticket", "close_conversations"]
    # Labels are the tickets app's: the conversation list filters by them here.
    list_filter = (*ConversationAdmin.list_filter, "labels")
    change_form_template = "admin/tickets/conversation/change_form.html"

    def reply_send(self, request, conversation, text: str):
        # Through routing: a sales rep answering a new first-responder client from here claims
        # it, and one who was beaten to it learns who took it (ConversationTaken) with nothing
        # sent, as in the inbox.
        return conversation_reply(conversation=conversation, user=request.user, text=text)

    def get_urls(self):
        open_ticket = self.admin_site.admin_view(self.open_ticket_view)
        return [
            path("<int:pk>/open-ticket/", open_ticket, name="messaging_conversation_open_ticket"),
            *super().get_urls(),
        ]

    def _open(self, request, conversation) -> Ticket | None:
        try:
            ticket, created = ticket_open_from_conversation(
                conversation=conversation, actor=request.user
            )
        except MessageRefused as exc:
            self.message_user(request, f"Conversation #{conversation.pk}: {exc}", messages.ERROR)
            return None
        verb = "opened" if created else "linked (the contact's open ticket)"
        self.message_user(
            request, f"Conversation #{conversation.pk}: ticket {ticket.number} {verb}."
        )
        return ticket

    @admin.action(description=_("Open a ticket for the selected conversations"))
    def open_ticket(self, request, queryset):
        for conversation in queryset:
            self._open(request, conversation)

    @admin.action(description=_("Close the selected conversations"), permissions=["change"])
    def close_conversations(self, request, queryset):
        closed = 0
        for conversation in queryset.select_related("contact", "channel"):
            try:
                closed += conversation_close(conversation=conversation, actor=request.user)
            except (MessageRefused, RoutingRefused) as exc:
                self.message_user(
                    request, f"Conversation #{conversation.pk}: {exc}", messages.ERROR
                )
        self.message_user(request, f"{closed} conversation(s) closed.")

    def open_ticket_view(self, request, pk):
        conversation = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method == "POST":
            ticket = self._open(request, conversation)
            if ticket is not None:
                return redirect(reverse("admin:tickets_ticket_change", args=[ticket.pk]))
        return redirect(reverse("admin:messaging_conversation_change", args=[pk]))


HELPDESK_FIELDS = (
    "auto_create_tickets",
    "default_ticket_priority",
    "default_ticket_assignee",
    "utility_template",
    "utility_template_parameters",
)


class HelpdeskChannelForm(forms.ModelForm):
    default_ticket_priority = forms.ChoiceField(
        choices=TicketPriority.choices, initial=TicketPriority.NORMAL
    )

    class Meta:
        model = Channel
        fields = "__all__"  # noqa: DJ007  (the channel admin decides what it shows)

    def clean_utility_template_parameters(self):
        paths = self.cleaned_data.get("utility_template_parameters") or []
        try:
            return parameter_paths_check(paths)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean(self):
        cleaned = super().clean()
        template = cleaned.get("utility_template")
        paths = cleaned.get("utility_template_parameters")
        account = cleaned.get("account")
        if template is None or paths is None:
            return cleaned
        if account is not None and template.account_id != account.pk:
            self.add_error("utility_template", "This template belongs to another account.")
        elif not template.is_approved:
            self.add_error(
                "utility_template", f"This template is {template.status}: choose an approved one."
            )
        elif len(paths) != template.body_param_count:
            self.add_error(
                "utility_template_parameters",
                f"{template.name} takes {template.body_param_count} body parameter(s); "
                f"{len(paths)} given.",
            )
        return cleaned


class HelpdeskChannelAdmin(ChannelAdmin):
    form = HelpdeskChannelForm

    def get_list_display(self, request):
        return (*super().get_list_display(request), "auto_create_tickets")

    def get_fieldsets(self, request, obj=None):
        # Whatever the channel page shows, with the helpdesk settings gathered in one section.
        fieldsets = [
            (
                name,
                {**options, "fields": [f for f in options["fields"] if f not in HELPDESK_FIELDS]},
            )
            for name, options in super().get_fieldsets(request, obj)
        ]
        helpdesk = {
            "fields": HELPDESK_FIELDS,
            "description": "A customer message opens a ticket when automatic creation is on. "
            "Staff comments sent after the customer-service window closed go out with the "
            "utility template; its body parameters are paths such as ticket.number, "
            "ticket.title, comment.text, contact.name.",
        }
        return [*fieldsets, ("Helpdesk", helpdesk)]


for model, model_admin in (
    (Conversation, HelpdeskConversationAdmin),
    (Channel, HelpdeskChannelAdmin),
):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)


# Labels and canned responses for the agent workspace.
from tickets import admin_inbox  # noqa: E402, F401
