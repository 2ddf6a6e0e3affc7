"""What the agent workspace writes: replies with attachments, quotes and canned responses;
internal notes; labels on conversations; the linked ticket and the contact edited from the side
panel. Every function checks the acting user's role here, so a form posted by hand is refused
as the page would refuse it."""

import re
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Role
from accounts.selectors import user_role
from crm.models import Company
from crm.selectors import company_list_visible_to, contact_is_writable_by
from crm.services import WriteRefused, company_create, contact_update
from messaging.models import Conversation, Message
from messaging.services import MessageRefused, TextContent, message_send
from messaging.services.attachments import (
    Attachment,
    attachment_check,
    attachment_send,
    attachment_upload,
)
from tickets.models import Ticket, TicketPriority
from tickets.models_inbox import CannedResponse, ConversationNote, Label
from tickets.routing import conversation_reply_begin
from tickets.services import TicketRefused, ticket_assign, ticket_status_set

# A variable a canned response left unfilled: the agent must give it before sending.
VARIABLE = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")


class InboxRefused(MessageRefused):
    """A workspace action refused; the text says why (shown to the agent as it is)."""


def _check_writer(*, user, contact) -> None:
    if not contact_is_writable_by(user=user, contact=contact):
        raise InboxRefused(_("You may not change this client's records."), code="not_writable")


# ---------------------------------------------------------------------------------------------
# Replies


def conversation_compose_send(
    *,
    conversation: Conversation,
    user,
    text: str = "",
    attachments: Sequence[Attachment] = (),
    reply_to: Message | None = None,
) -> list[Message]:
    """Send what the reply box holds: the text, then each attachment, in one transaction.

    Every attachment is checked against the channel's capabilities (and the window, role and
    consent rules of `message_send`) before anything is uploaded; a refusal or a failed upload
    leaves nothing queued. A text still holding a canned response's unfilled variable is
    refused, so `{{contact.first_name}}` never reaches a customer.
    """
    text = (text or "").strip()
    if not text and not attachments:
        raise InboxRefused(_("Write a message or attach a file."), code="empty")
    unfilled = VARIABLE.search(text)
    if unfilled:
        raise InboxRefused(
            _("Fill in %(variable)s before sending.") % {"variable": unfilled.group(0)},
            code="unfilled_variable",
        )
    if reply_to is not None and (
        reply_to.conversation.contact_id != conversation.contact_id
        or reply_to.channel_id != conversation.channel_id
        or not reply_to.provider_message_id
    ):
        raise InboxRefused(_("That message cannot be quoted here."), code="bad_quote")
    with transaction.atomic():
        conversation = conversation_reply_begin(conversation=conversation, user=user)
        channel, contact = conversation.channel, conversation.contact
        kinds = [
            attachment_check(channel=channel, contact=contact, attachment=a, actor=user)
            for a in attachments
        ]
        contents = [
            attachment_upload(channel=channel, attachment=a, kind=kind)
            for a, kind in zip(attachments, kinds, strict=True)
        ]
        sent = []
        if text:
            sent.append(
                message_send(
                    channel=channel,
                    contact=contact,
                    content=TextContent(text=text),
                    actor=user,
                    reply_to=reply_to,
                )
            )
        for attachment, content in zip(attachments, contents, strict=True):
            sent.append(
                attachment_send(
                    channel=channel,
                    contact=contact,
                    content=content,
                    attachment=attachment,
                    actor=user,
                    reply_to=None if sent else reply_to,
                )
            )
    return sent


def canned_attachment(*, canned: CannedResponse) -> Attachment | None:
    if not canned.attachment:
        return None
    with canned.attachment.open("rb") as handle:
        data = handle.read()
    return Attachment(data=data, filename=canned.attachment.name.rsplit("/", 1)[-1])


# ---------------------------------------------------------------------------------------------
# Canned responses


def _first_name(name: str) -> str:
    return name.split()[0] if name and name.split() else ""


def canned_variables(*, conversation: Conversation, user) -> dict[str, str]:
    """The values a canned response may use here; a blank one is asked of the agent."""
    contact = conversation.contact
    ticket = conversation.ticket
    return {
        "contact.first_name": _first_name(contact.name),
        "contact.name": contact.name,
        "contact.email": contact.email,
        "agent.name": user.get_full_name() or user.get_username(),
        "agent.first_name": user.first_name or user.get_username(),
        "ticket.number": ticket.number if ticket is not None else "",
    }


def canned_response_render(
    *, canned: CannedResponse, conversation: Conversation, user
) -> tuple[str, list[str]]:
    """The canned text with what is known filled in, and the variables left for the agent (in
    order, once each), unknown names included."""
    values = canned_variables(conversation=conversation, user=user)
    missing: list[str] = []

    def fill(match):
        value = values.get(match.group(1), "")
        if not value:
            if match.group(1) not in missing:
                missing.append(match.group(1))
            return "{{" + match.group(1) + "}}"
        return value

    return VARIABLE.sub(fill, canned.text), missing


# ---------------------------------------------------------------------------------------------
# Notes


def conversation_note_add(*, conversation: Conversation, user, text: str) -> ConversationNote:
    """An internal note in the thread: staff read it, nothing is sent."""
    _check_writer(user=user, contact=conversation.contact)
    text = (text or "").strip()
    if not text:
        raise InboxRefused(_("The note is empty."), code="empty")
    return ConversationNote.objects.create(conversation=conversation, author=user, text=text)


# ---------------------------------------------------------------------------------------------
# Labels


def conversation_label_add(*, conversation: Conversation, label: Label, user) -> None:
    _check_writer(user=user, contact=conversation.contact)
    # The through table's unique pair makes a second add (a double click) a no-op.
    label.conversations.add(conversation)


def conversation_label_remove(*, conversation: Conversation, label: Label, user) -> None:
    _check_writer(user=user, contact=conversation.contact)
    label.conversations.remove(conversation)


@transaction.atomic
def conversation_labels_set(*, conversation: Conversation, labels: Sequence[Label], user) -> None:
    """Exactly these labels on the conversation (the API's PUT)."""
    _check_writer(user=user, contact=conversation.contact)
    # Two sets at once end as one of them, not as their union: one writer at a time.
    list(Conversation.objects.select_for_update().filter(pk=conversation.pk).values("pk"))
    Label.conversations.through.objects.filter(conversation_id=conversation.pk).exclude(
        label_id__in=[label.pk for label in labels]
    ).delete()
    through = Label.conversations.through
    through.objects.bulk_create(
        [through(label_id=label.pk, conversation_id=conversation.pk) for label in labels],
        ignore_conflicts=True,
    )


# ---------------------------------------------------------------------------------------------
# The linked ticket


def ticket_priority_set(*, ticket: Ticket, priority: str, actor) -> Ticket:
    if priority not in TicketPriority.values:
        raise TicketRefused(f"{priority!r} is not a priority.", code="invalid_priority")
    if not contact_is_writable_by(user=actor, contact=ticket.contact):
        raise TicketRefused(_("You may not change this client's records."), code="not_writable")
    if priority == ticket.priority:
        return ticket
    now = timezone.now()
    Ticket.objects.filter(pk=ticket.pk).update(priority=priority, updated_at=now)
    ticket.priority, ticket.updated_at = priority, now
    return ticket


@transaction.atomic
def ticket_panel_update(*, ticket: Ticket, actor, status: str, priority: str, assignee) -> Ticket:
    """Status, priority and assignee from the side panel. A sales rep may take the ticket or
    leave it as it is; giving it to someone else is a manager's decision, as a transfer is."""
    if not contact_is_writable_by(user=actor, contact=ticket.contact):
        raise TicketRefused(_("You may not change this client's records."), code="not_writable")
    if (
        user_role(user=actor) != Role.MANAGER
        and assignee is not None
        and assignee.pk not in (actor.pk, ticket.assignee_id)
    ):
        raise TicketRefused(_("Only managers give a ticket to someone else."), code="not_writable")
    ticket = ticket_status_set(ticket=ticket, status=status, actor=actor)
    ticket = ticket_priority_set(ticket=ticket, priority=priority, actor=actor)
    if (assignee.pk if assignee else None) != ticket.assignee_id:
        ticket = ticket_assign(ticket=ticket, assignee=assignee, actor=actor)
    return ticket


# ---------------------------------------------------------------------------------------------
# The contact


def _company_named(*, name: str, actor) -> Company | None:
    name = name.strip()
    if not name:
        return None
    existing = company_list_visible_to(user=actor).filter(name__iexact=name).first()
    if existing is not None:
        return existing
    if Company.objects.filter(name__iexact=name).exists():
        raise WriteRefused(
            _("A company named %(name)s exists but is not yours: ask a manager.") % {"name": name}
        )
    role = user_role(user=actor)
    return company_create(
        name=name, actor=actor, responsible=actor if role == Role.SALES_REP else None
    )


@transaction.atomic
def contact_panel_update(*, contact, actor, name: str, email: str, company_name: str):
    """Name, e-mail and company from the side panel; a company typed that the user cannot see
    yet is created for them (a rep's new company is theirs)."""
    if not contact_is_writable_by(user=actor, contact=contact):
        raise WriteRefused(_("You may not change this client's records."))
    company = _company_named(name=company_name, actor=actor)
    return contact_update(
        contact=contact, actor=actor, name=name.strip(), email=email.strip(), company=company
    )


# ---------------------------------------------------------------------------------------------
# Canned responses and labels in the admin


def canned_response_save(*, canned: CannedResponse, actor) -> CannedResponse:
    """Managers keep shared and anyone's canned responses; a sales rep keeps only their own
    (what they save is theirs); quality control only reads."""
    role = user_role(user=actor)
    if role == Role.SALES_REP:
        stored_owner = (
            CannedResponse.objects.filter(pk=canned.pk).values_list("owner_id", flat=True).first()
            if canned.pk
            else actor.pk
        )
        if stored_owner != actor.pk:
            raise WriteRefused(_("Only managers change shared canned responses."))
        canned.owner = actor
    elif role != Role.MANAGER:
        raise WriteRefused(_("Quality control only reads canned responses."))
    canned.full_clean()
    canned.save()
    return canned


def label_save(*, label: Label, actor) -> Label:
    if user_role(user=actor) != Role.MANAGER:
        raise WriteRefused(_("Only managers define labels."))
    label.full_clean()
    label.save()
    return label
