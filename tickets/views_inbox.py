"""The conversation page's workspace: the reply box's extras (attachments, quotes, canned
responses), internal notes, labels, and the ticket and contact side panels. Views parse input
and call tickets.services_inbox; the roles are checked there."""

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from messaging.models import Conversation, Message
from messaging.selectors import conversation_list_visible_to, conversation_reachable_for_reply
from messaging.services import MessageRefused
from messaging.services.attachments import Attachment
from tickets.models import TicketPriority, TicketStatus
from tickets.routing import ConversationTaken
from tickets.selectors_inbox import (
    canned_response_for,
    canned_response_list_for,
    contact_addresses,
    contact_earlier_conversations,
    conversation_note_last_id,
    conversation_notes,
    label_list,
    ticket_panel,
)
from tickets.services_inbox import (
    canned_attachment,
    canned_response_render,
    contact_panel_update,
    conversation_compose_send,
    conversation_label_add,
    conversation_label_remove,
    conversation_note_add,
    ticket_panel_update,
)

MAX_ATTACHMENT_BYTES = 100 * 1024 * 1024


def _visible(user, pk) -> Conversation:
    """The conversation if the user may see it; 404 otherwise (no hint that it exists)."""
    visible = conversation_list_visible_to(user=user).select_related(
        "contact__responsible", "channel", "ticket__contact", "ticket__assignee"
    )
    return get_object_or_404(visible, pk=pk)


def _back(conversation):
    return redirect("inbox:conversation", pk=conversation.pk)


# ---------------------------------------------------------------------------------------------
# What the conversation page adds


def workspace_context(*, request, conversation: Conversation) -> dict:
    """The side panels and composer data of the conversation page."""
    user = request.user
    caps = conversation.channel.capabilities
    return {
        "labels_all": list(label_list()),
        "labels_on": list(conversation.labels.all()),
        "ticket_panel": ticket_panel(ticket=conversation.ticket, user=user),
        "ticket_statuses": TicketStatus.choices,
        "ticket_priorities": TicketPriority.choices,
        "addresses": contact_addresses(contact=conversation.contact),
        "earlier": contact_earlier_conversations(
            contact=conversation.contact, user=user, exclude_pk=conversation.pk
        ),
        "notes_json": {
            "url": reverse("inbox:notes", args=[conversation.pk]),
            "last_id": conversation_note_last_id(conversation=conversation),
        },
        "composer_json": {
            # What the browser checks a chosen file against before it uploads anything.
            "media": {
                kind: {"mime_types": sorted(limit.mime_types), "max_bytes": limit.max_bytes}
                for kind, limit in caps.media.items()
            },
            "strings": {
                "too_big": _("The file is %(size)s MB; this channel takes at most %(max)s MB."),
                "no_type": _("This channel cannot send this kind of file (%(type)s)."),
                "fill": _("Fill in"),
                "apply": _("Apply"),
                "unfilled": _("Fill in %(variable)s before sending."),
                "none": _("No canned response matches."),
            },
        },
    }


def _note_row(request, note) -> dict:
    return {
        "id": f"n{note.pk}",
        "html": render_to_string("inbox/_note.html", {"note": note}, request=request),
    }


def thread_with_notes(*, request, conversation, thread: list[Message], rows: list[dict]):
    """The rendered thread with the internal notes placed by time among the messages."""
    notes = conversation_notes(conversation=conversation)
    if not notes:
        return rows
    at = {m.pk: m.created_at for m in thread}
    entries = [(at[row["id"]], 0, row) for row in rows]
    entries += [(note.created_at, 1, _note_row(request, note)) for note in notes]
    entries.sort(key=lambda entry: (entry[0], entry[1]))
    return [row for _at, _kind, row in entries]


# ---------------------------------------------------------------------------------------------
# Reply box


class ComposeForm(forms.Form):
    text = forms.CharField(required=False, widget=forms.Textarea)
    reply_to = forms.IntegerField(required=False)
    canned = forms.IntegerField(required=False)

    def __init__(self, *args, max_length: int, **kwargs):
        super().__init__(*args, **kwargs)
        # The channel's own text limit, so a reply the provider would refuse never leaves.
        self.fields["text"].max_length = max_length
        self.fields["text"].validators.append(MaxLengthValidator(max_length))


@login_required
@require_POST
def conversation_reply_view(request, pk):
    """The reply box: text, attachments, a canned response's attachment, a quoted message."""
    reachable = conversation_reachable_for_reply(user=request.user).select_related(
        "contact__responsible", "channel"
    )
    conversation = get_object_or_404(reachable, pk=pk)
    limit = conversation.channel.capabilities.max_text_length
    form = ComposeForm(request.POST, max_length=limit)
    if not form.is_valid():
        messages.error(
            request, _("Write a message first (at most %(n)s characters).") % {"n": limit}
        )
        return _back(conversation)
    attachments = []
    for upload in request.FILES.getlist("attachment"):
        if upload.size > MAX_ATTACHMENT_BYTES:
            messages.error(request, _("The file is too large."))
            return _back(conversation)
        attachments.append(
            Attachment(data=upload.read(), filename=upload.name, mime_type=upload.content_type)
        )
    if form.cleaned_data["canned"]:
        canned = canned_response_for(user=request.user, pk=form.cleaned_data["canned"])
        extra = canned_attachment(canned=canned) if canned is not None else None
        if extra is not None:
            attachments.append(extra)
    reply_to = None
    if form.cleaned_data["reply_to"]:
        reply_to = (
            Message.objects.select_related("conversation")
            .filter(pk=form.cleaned_data["reply_to"], conversation__contact=conversation.contact)
            .first()
        )
    try:
        sent = conversation_compose_send(
            conversation=conversation,
            user=request.user,
            text=form.cleaned_data["text"],
            attachments=attachments,
            reply_to=reply_to,
        )
    except ConversationTaken as exc:
        # The client is someone else's now, so this page is closed to the user: say so on the
        # list instead.
        messages.error(request, str(exc))
        return redirect("inbox:index")
    except MessageRefused as exc:
        messages.error(request, str(exc))
        return _back(conversation)
    # A send from a closed conversation's page opens a new conversation: follow it there.
    return redirect("inbox:conversation", pk=sent[0].conversation_id)


@login_required
@require_GET
def notes_json(request, pk):
    """Notes written after the note id `after`, so a page open elsewhere shows them live."""
    conversation = _visible(request.user, pk)
    try:
        after = max(int(request.GET.get("after", "0")), 0)
    except ValueError:
        return JsonResponse({"error": _("`after` must be a note id.")}, status=400)
    notes = conversation_notes(conversation=conversation, after_id=after)
    return JsonResponse(
        {
            "notes": [_note_row(request, note) for note in notes],
            "last_id": notes[-1].pk if notes else after,
        }
    )


@login_required
@require_GET
def canned_json(request, pk):
    """Canned responses matching `q`, filled in for this conversation."""
    conversation = _visible(request.user, pk)
    results = []
    for canned in canned_response_list_for(user=request.user, term=request.GET.get("q", "")):
        text, missing = canned_response_render(
            canned=canned, conversation=conversation, user=request.user
        )
        results.append(
            {
                "id": canned.pk,
                "shortcode": canned.shortcode,
                "title": canned.title,
                "text": text,
                "missing": missing,
                "personal": canned.owner_id is not None,
                "attachment": canned.attachment.name.rsplit("/", 1)[-1]
                if canned.attachment
                else "",
            }
        )
    return JsonResponse({"results": results})


# ---------------------------------------------------------------------------------------------
# Notes and labels


@login_required
@require_POST
def note_add(request, pk):
    conversation = _visible(request.user, pk)
    try:
        conversation_note_add(
            conversation=conversation, user=request.user, text=request.POST.get("text", "")
        )
    except MessageRefused as exc:
        messages.error(request, str(exc))
    return _back(conversation)


@login_required
@require_POST
def label_change(request, pk):
    conversation = _visible(request.user, pk)
    label = label_list().filter(pk=request.POST.get("label") or 0).first()
    if label is None:
        messages.error(request, _("Choose a label."))
        return _back(conversation)
    change = (
        conversation_label_remove
        if request.POST.get("action") == "remove"
        else conversation_label_add
    )
    try:
        change(conversation=conversation, label=label, user=request.user)
    except MessageRefused as exc:
        messages.error(request, str(exc))
    return _back(conversation)


# ---------------------------------------------------------------------------------------------
# Side panels


class TicketPanelForm(forms.Form):
    status = forms.ChoiceField(choices=TicketStatus.choices)
    priority = forms.ChoiceField(choices=TicketPriority.choices)
    assignee = forms.IntegerField(required=False)


@login_required
@require_POST
def ticket_change(request, pk):
    conversation = _visible(request.user, pk)
    ticket = conversation.ticket
    form = TicketPanelForm(request.POST)
    if ticket is None or not form.is_valid():
        messages.error(request, _("Choose a status and a priority."))
        return _back(conversation)
    assignee = None
    if form.cleaned_data["assignee"]:
        assignee = get_user_model().objects.filter(pk=form.cleaned_data["assignee"]).first()
    try:
        ticket_panel_update(
            ticket=ticket,
            actor=request.user,
            status=form.cleaned_data["status"],
            priority=form.cleaned_data["priority"],
            assignee=assignee,
        )
    except MessageRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Ticket %(number)s saved.") % {"number": ticket.number})
    return _back(conversation)


class ContactPanelForm(forms.Form):
    name = forms.CharField(required=False, max_length=200, label=gettext_lazy("Name"))
    email = forms.EmailField(required=False, label=gettext_lazy("E-mail"))
    company = forms.CharField(required=False, max_length=120, label=gettext_lazy("Company"))


@login_required
@require_POST
def contact_change(request, pk):
    conversation = _visible(request.user, pk)
    form = ContactPanelForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        messages.error(request, errors)
        return _back(conversation)
    try:
        contact_panel_update(
            contact=conversation.contact,
            actor=request.user,
            name=form.cleaned_data["name"],
            email=form.cleaned_data["email"],
            company_name=form.cleaned_data["company"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Contact saved."))
    return _back(conversation)
