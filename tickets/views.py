"""The agent inbox: the conversations a user may see, a conversation page with the reply box, and
JSON endpoints the page reads when a pushed event says something changed (or polls, while its
socket cannot open). Views parse input and call selectors and services; who may see and do what
is decided there, never here."""

import mimetypes

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Role
from accounts.selectors import agent_list_for_transfer, agent_profile_of, user_role
from accounts.services import agent_profile_update, conversation_read_mark
from crm.models import ConsentPurpose
from crm.selectors import contact_is_writable_by, deal_menu_for
from crm.services_consent import consent_current, consent_lines
from messaging.models import Channel, Conversation, Message
from messaging.providers.base import TemplateKind
from messaging.selectors import (
    InboxBox,
    conversation_inbox_list,
    conversation_list_visible_to,
    conversation_messages,
    conversation_outbound_statuses,
    conversation_reachable_for_reply,
    conversation_window,
    message_list_visible_to,
    message_reactions_current,
    reaction_is_superseded,
    template_list_fillable,
)
from messaging.services import MessageRefused
from tickets.inbox_preferences import inbox_preference_of, inbox_preference_update
from tickets.routing import (
    ConversationTaken,
    RoutingRefused,
    conversation_close,
    conversation_reply_template,
    conversation_transfer,
)
from tickets.selectors_inbox import (
    conversation_filter_by_label,
    conversations_with_labels,
    label_list,
)
from tickets.views_inbox import thread_with_notes, workspace_context

LIST_LIMIT = 100
INLINE_MEDIA_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}


def _conversation_for(user, pk) -> Conversation:
    """The conversation if the user may see it; 404 otherwise (no hint that it exists)."""
    visible = conversation_list_visible_to(user=user).select_related(
        "contact__responsible",
        "contact__company",
        "channel",
        "assignee",
        "ticket__assignee",
        "ticket__contact",
    )
    return get_object_or_404(visible, pk=pk)


def _conversation_for_reply(user, pk) -> Conversation:
    reachable = conversation_reachable_for_reply(user=user).select_related(
        "contact__responsible", "channel"
    )
    return get_object_or_404(reachable, pk=pk)


def _person(user) -> str:
    """A user as the inbox pages show them: full name, else username."""
    return user.get_full_name() or user.get_username()


def _admin_url(name: str, *args, query: dict | None = None) -> str | None:
    try:
        url = reverse(name, args=args)
    except NoReverseMatch:
        return None  # that admin is not installed
    return f"{url}?{urlencode(query)}" if query else url


ANY_STATUS = "any"


class _AgentChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return _person(obj)


class InboxFilterForm(forms.Form):
    box = forms.ChoiceField(
        choices=[
            (InboxBox.ALL, gettext_lazy("All I may see")),
            (InboxBox.MINE, gettext_lazy("Mine")),
            (InboxBox.WAITING, gettext_lazy("Waiting for you")),
            (InboxBox.UNASSIGNED, gettext_lazy("Unassigned")),
        ],
        required=False,
    )
    status = forms.ChoiceField(
        choices=[
            ("open", gettext_lazy("Open")),
            ("closed", gettext_lazy("Closed")),
            (ANY_STATUS, gettext_lazy("Any status")),
        ],
        required=False,
    )
    channel = forms.ModelChoiceField(
        queryset=Channel.objects.all(), required=False, empty_label=gettext_lazy("All channels")
    )
    assignee = _AgentChoice(
        queryset=agent_list_for_transfer(), required=False, empty_label=gettext_lazy("Any agent")
    )
    q = forms.CharField(required=False, max_length=100, label=gettext_lazy("Search"))
    label = forms.ModelChoiceField(
        queryset=label_list(), required=False, empty_label=gettext_lazy("All labels")
    )


def _filtered_list(request):
    form = InboxFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    status = data.get("status") or "open"
    conversations = conversation_inbox_list(
        user=request.user,
        box=data.get("box") or InboxBox.ALL,
        status=None if status == ANY_STATUS else status,
        channel_id=data["channel"].pk if data.get("channel") else None,
        assignee_id=data["assignee"].pk if data.get("assignee") else None,
        term=data.get("q") or "",
    )
    conversations = conversation_filter_by_label(
        conversations=conversations, label_id=data["label"].pk if data.get("label") else None
    )
    return form, conversations_with_labels(list(conversations[:LIST_LIMIT]))


def _row(conversation: Conversation) -> dict:
    contact = conversation.contact
    return {
        "id": conversation.pk,
        "html": render_to_string("inbox/_row.html", {"c": conversation}),
        # For the tab title, the sound and the desktop notification (the page decides which
        # rows are news by comparing these with what it showed).
        "unread": conversation.unread_count,
        "name": contact.name or contact.reach,
        "preview": conversation.last_message_preview,
    }


@login_required
@require_GET
def inbox_index(request):
    form, conversations = _filtered_list(request)
    profile = agent_profile_of(user=request.user)
    return render(
        request,
        "inbox/index.html",
        {
            "form": form,
            "conversations": conversations,
            "unread_total": sum(c.unread_count for c in conversations),
            "profile": profile,
            "role": user_role(user=request.user),
            "query": request.GET.urlencode(),
            "preference": inbox_preference_of(user=request.user),
            "i18n": _list_strings(),
        },
    )


def _list_strings() -> dict:
    """What the list page's script writes, in the user's language."""
    return {
        "title": _("Inbox"),
        "new_message": _("New message from %s"),
        "denied": _("The browser blocks notifications for this site: allow them in its settings."),
    }


@login_required
@require_GET
def inbox_list_json(request):
    """The list as the filters select it now: the page swaps it in, so a poll after a network
    drop shows exactly the current state."""
    _form, conversations = _filtered_list(request)
    return JsonResponse(
        {
            "now": timezone.now().isoformat(),
            "rows": [_row(c) for c in conversations],
            "unread_total": sum(c.unread_count for c in conversations),
            "empty": _("No conversations."),
        }
    )


@login_required
@require_POST
def inbox_preferences_view(request):
    inbox_preference_update(
        user=request.user,
        sound=request.POST.get("sound") == "1",
        desktop_notifications=request.POST.get("desktop_notifications") == "1",
    )
    messages.success(request, _("Notification settings saved."))
    return redirect("inbox:index")


def _thread_context(conversation: Conversation, thread: list[Message]) -> list[dict]:
    # Replies and reactions point at provider ids: resolve them within the page, no query per row.
    by_provider_id = {m.provider_message_id: m for m in thread if m.provider_message_id}
    items = []
    for m in thread:
        item = {
            "m": m,
            "quoted": by_provider_id.get(m.reply_to_provider_id or ""),
            "reactions": message_reactions_current(message=m),
        }
        if m.type == "reaction":
            reacted = by_provider_id.get(m.payload.get("message_id", ""))
            if reaction_is_superseded(
                reaction=m, reacted=reacted, contact_id=conversation.contact_id
            ):
                continue
            item["reacted_to"] = reacted
        items.append(item)
    return items


def _render_messages(request, conversation, thread) -> list[dict]:
    return [
        {
            "id": item["m"].pk,
            "html": render_to_string("inbox/_message.html", {"item": item}, request=request),
        }
        for item in _thread_context(conversation, thread)
    ]


def _reply_state(user, conversation: Conversation) -> dict:
    channel = conversation.channel
    caps = channel.capabilities
    window = conversation_window(channel=channel, contact=conversation.contact)
    may_write = contact_is_writable_by(user=user, contact=conversation.contact)
    left = window.time_left
    return {
        "may_write": may_write,
        "window_open": window.is_open,
        "window_closes_at": window.closes_at.isoformat() if window.closes_at else None,
        # None: the channel has no customer-service window, so there is nothing to count down.
        "window_hours": window.hours,
        "seconds_left": int(left.total_seconds()) if left is not None else None,
        "max_text_length": caps.max_text_length,
        "templates_enabled": caps.template_kind != TemplateKind.NONE,
    }


def _page_strings() -> dict:
    """Strings the page script shows when a poll changes something, in the user's language."""
    return {
        "queued": _("Queued"),
        "sending": _("Sending"),
        "sent": _("Sent"),
        "delivered": _("Delivered"),
        "read": _("Read"),
        "failed": _("Failed"),
        "unknown": _("Unknown"),
        "left": _("Window open: %s left"),
        "closed": _("Window closed"),
        "unassigned": _("unassigned"),
    }


@login_required
@require_GET
def conversation_page(request, pk):
    conversation = _conversation_for(request.user, pk)
    thread = conversation_messages(conversation=conversation)
    role = user_role(user=request.user)
    contact = conversation.contact
    deals = deal_menu_for(contact=contact, user=request.user)
    agents = agent_list_for_transfer() if role == Role.MANAGER else []
    templates = list(template_list_fillable(channel=conversation.channel))
    conversation_read_mark(user=request.user, conversation=conversation)
    marketing = consent_current(
        contact=contact,
        purpose=ConsentPurpose.MARKETING,
        transports=type(conversation.channel.get_provider()).recipient_transports,
    )
    state = _reply_state(request.user, conversation)
    rows = _render_messages(request, conversation, thread)
    return render(
        request,
        "inbox/conversation.html",
        {
            **workspace_context(request=request, conversation=conversation),
            "c": conversation,
            "contact": contact,
            "marketing": marketing,
            "consent_lines": consent_lines(contact=contact),
            "messages_html": thread_with_notes(
                request=request, conversation=conversation, thread=thread, rows=rows
            ),
            "last_id": thread[-1].pk if thread else 0,
            "state": state,
            "role": role,
            "deals": [(deal, _admin_url("admin:crm_deal_change", deal.pk)) for deal in deals[:50]],
            "deal_add_url": _admin_url("admin:crm_deal_add", query={"contacts": contact.pk}),
            "contact_url": _admin_url("admin:crm_contact_change", contact.pk),
            "ticket_url": _admin_url("admin:tickets_ticket_change", conversation.ticket_id)
            if conversation.ticket_id
            else None,
            "templates": templates,
            "templates_json": [
                {
                    "id": t.pk,
                    "label": f"{t.name} [{t.language}]",
                    "body": next(
                        (c.get("text", "") for c in t.components if c.get("type") == "BODY"), ""
                    ),
                    "body_params": t.body_param_count,
                    "header_params": t.header_param_count,
                }
                for t in templates
            ],
            "agents": agents,
            "i18n": _page_strings(),
        },
    )


@login_required
@require_GET
def conversation_poll(request, pk):
    """What changed since the page's cursor: new messages after `after` (a message id), the
    current ticks of recent outbound messages, and whether the reply box is usable."""
    conversation = _conversation_for(request.user, pk)
    try:
        after = max(int(request.GET.get("after", "0")), 0)
    except ValueError:
        return JsonResponse({"error": _("`after` must be a message id.")}, status=400)
    thread = conversation_messages(conversation=conversation, after_id=after)
    if thread:
        conversation_read_mark(user=request.user, conversation=conversation)
    statuses = conversation_outbound_statuses(conversation=conversation)
    return JsonResponse(
        {
            "messages": _render_messages(request, conversation, thread),
            "last_id": thread[-1].pk if thread else after,
            "statuses": [
                {
                    "id": s["pk"],
                    "status": s["status"],
                    "error": s["error_title"],
                    "code": s["error_code"],
                }
                for s in statuses
            ],
            "state": _reply_state(request.user, conversation),
            # The page shows a transfer made elsewhere without a reload.
            "assignee": _person(conversation.assignee) if conversation.assignee else None,
        }
    )


def _to_sent(sent: Message):
    # A send from a closed conversation's page opens a new conversation: follow the message
    # there, or the agent is left on a page where what they sent never appears.
    return redirect("inbox:conversation", pk=sent.conversation_id)


def _taken(request, exc):
    # The client is someone else's now, so their conversation page is closed to this user: say
    # so on the list instead.
    messages.error(request, str(exc))
    return redirect("inbox:index")


@login_required
@require_POST
def conversation_template_view(request, pk):
    conversation = _conversation_for_reply(request.user, pk)
    chosen = request.POST.get("template", "")
    template = (
        template_list_fillable(channel=conversation.channel)
        .filter(pk=chosen if chosen.isdigit() else 0)
        .first()
    )
    if template is None:
        messages.error(request, _("Choose a template."))
        return redirect("inbox:conversation", pk=conversation.pk)
    body = [value.strip() for value in request.POST.getlist("body_params")]
    header = [value.strip() for value in request.POST.getlist("header_params")]
    if any(not value for value in body + header):
        messages.error(request, _("Fill in every template parameter."))
        return redirect("inbox:conversation", pk=conversation.pk)
    try:
        sent = conversation_reply_template(
            conversation=conversation,
            user=request.user,
            template=template,
            body_params=body,
            header_params=header,
        )
    except ConversationTaken as exc:
        return _taken(request, exc)
    except MessageRefused as exc:
        messages.error(request, str(exc))
        return redirect("inbox:conversation", pk=conversation.pk)
    return _to_sent(sent)


@login_required
@require_POST
def conversation_transfer_view(request, pk):
    conversation = _conversation_for(request.user, pk)
    to_user = get_user_model().objects.filter(pk=request.POST.get("to_user") or 0).first()
    if to_user is None:
        messages.error(request, _("Choose an agent."))
        return redirect("inbox:conversation", pk=conversation.pk)
    try:
        conversation_transfer(conversation=conversation, to_user=to_user, actor=request.user)
    except RoutingRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Transferred to %(name)s.") % {"name": _person(to_user)})
    return redirect("inbox:conversation", pk=conversation.pk)


@login_required
@require_POST
def conversation_close_view(request, pk):
    conversation = _conversation_for(request.user, pk)
    try:
        conversation_close(conversation=conversation, actor=request.user)
    except RoutingRefused as exc:
        messages.error(request, str(exc))
    return redirect("inbox:conversation", pk=conversation.pk)


@login_required
@require_POST
def availability_view(request):
    profile = agent_profile_of(user=request.user)
    if profile is None:
        raise Http404
    agent_profile_update(profile=profile, is_available=request.POST.get("available") == "1")
    return redirect("inbox:index")


@login_required
@require_GET
def message_media(request, pk):
    """A stored attachment, for users who may see its conversation."""
    message = get_object_or_404(message_list_visible_to(user=request.user), pk=pk)
    if not message.media_file:
        raise Http404
    # Customers choose these files: only plain raster images render inline, anything else (an
    # SVG or HTML could carry script) downloads, and the sandbox CSP keeps it inert either way.
    content_type, _encoding = mimetypes.guess_type(message.media_file.name)
    inline = content_type in INLINE_MEDIA_TYPES
    response = FileResponse(
        message.media_file.open("rb"),
        as_attachment=not inline,
        content_type=content_type if inline else "application/octet-stream",
    )
    response["Content-Security-Policy"] = "sandbox"
    return response
