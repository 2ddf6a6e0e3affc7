"""Helpdesk tickets: opened from customer messages (or by staff from a conversation), fed by the
customer's later messages as comments, answered by staff comments that go out on WhatsApp."""

import uuid
from collections.abc import Sequence

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.selectors import contact_is_writable_by
from messaging.models import Channel, Conversation, Message, MessageTemplate
from messaging.providers.base import MessageType
from messaging.services import (
    MessageRefused,
    TemplateContent,
    TextContent,
    conversation_ticket_link,
    message_send,
)
from tickets.message_text import description_entry, message_as_text, message_time
from tickets.models import Ticket, TicketComment, TicketPriority, TicketStatus
from tickets.routing import conversation_claim
from tickets.selectors import ticket_open_of_contact, ticket_reply_channel
from tickets.template_parameters import parameter_paths_check, parameters_fill

# A reaction decorates an earlier message and a system message is WhatsApp's, not the customer's:
# neither is something the customer told the helpdesk.
NOT_CUSTOMER_WORDS = frozenset({MessageType.REACTION, MessageType.SYSTEM})


class TicketRefused(MessageRefused):
    """The ticket action cannot be done as asked; the text says why. A `MessageRefused`, so a
    caller that sends messages handles both with one `except`."""


# ---------------------------------------------------------------------------------------------
# Opening


def _priority_for(channel: Channel | None) -> str:
    priority = channel.default_ticket_priority if channel else ""
    return priority if priority in TicketPriority.values else TicketPriority.NORMAL


def _ticket_get_or_open(
    *,
    contact,
    channel: Channel | None,
    first_message: Message | None,
    assignee=None,
    none_open: bool = False,
) -> tuple[Ticket, bool]:
    """The contact's open ticket, or a new one.

    Concurrent openers are decided by the partial unique index `ticket_one_open_per_contact`:
    the insert runs in a savepoint and the loser reads the winner's ticket. The number comes from
    the row id, so it is unique without a counter that concurrent openers would fight over.
    """
    # `none_open`: the caller has just looked; a ticket opened since is the index's to catch.
    existing = None if none_open else ticket_open_of_contact(contact=contact)
    if existing is not None:
        return existing, False
    opened = message_time(first_message) if first_message else timezone.localtime()
    try:
        with transaction.atomic():
            ticket = Ticket.objects.create(
                # A placeholder that cannot clash, replaced by TT<id> in the same savepoint.
                number=f"new-{uuid.uuid4().hex[:16]}",
                title=f"{opened:%Y-%m-%d %H:%M:%S} - {contact.reach or contact}",
                contact=contact,
                channel=channel,
                assignee=assignee,
                priority=_priority_for(channel),
                status=TicketStatus.OPEN,
                description=description_entry(first_message) if first_message else "",
            )
            ticket.number = f"TT{ticket.pk}"
            Ticket.objects.filter(pk=ticket.pk).update(number=ticket.number)
    except IntegrityError:
        existing = ticket_open_of_contact(contact=contact)
        if existing is None:
            raise
        return existing, False
    return ticket, True


def _conversation_link(conversation: Conversation, ticket: Ticket) -> None:
    if conversation.ticket_id != ticket.pk:
        conversation_ticket_link(conversation_id=conversation.pk, ticket=ticket)
        conversation.ticket = ticket


def _customer_comment(*, ticket_id: int, message: Message) -> TicketComment:
    """The customer's message as a comment of the ticket, not saved yet."""
    return TicketComment(
        ticket_id=ticket_id,
        author=None,
        author_kind=TicketComment.AuthorKind.CUSTOMER,
        text=message_as_text(message),
        message=message,
        created_at=message_time(message),
    )


def _customer_comment_add(*, ticket: Ticket, message: Message) -> TicketComment:
    comment = _customer_comment(ticket_id=ticket.pk, message=message)
    comment.save(force_insert=True)
    return comment


def _customer_responded(ticket: Ticket) -> bool:
    """Mark the ticket as answered by the customer; False if it was closed meanwhile."""
    now = timezone.now()
    changed = (
        Ticket.objects.filter(pk=ticket.pk)
        .exclude(status=TicketStatus.CLOSED)
        .update(status=TicketStatus.CUSTOMER_RESPONDED, updated_at=now)
    )
    if changed:
        ticket.status, ticket.updated_at = TicketStatus.CUSTOMER_RESPONDED, now
    return bool(changed)


def tickets_messages_receive(*, messages: Sequence[Message]) -> None:
    """`ticket_message_receive` for a drain's messages, in arrival order, with the common case
    written together: messages whose conversation already has an open ticket become comments and
    their tickets `customer_responded` with three statements for all of them (ticket rows locked
    in id order). The rest go one by one, in order: no ticket yet, a closed one, or one closed
    meanwhile. Which way a conversation goes is decided before anything is written, so all of
    its messages go the same way and its comments keep their order."""
    on_open = [
        message
        for message in messages
        if message.direction == Message.Direction.INBOUND
        and message.type not in NOT_CUSTOMER_WORDS
        and message.conversation.ticket is not None
        and message.conversation.ticket.status != TicketStatus.CLOSED
    ]
    filed: list[Message] = []
    if on_open:
        still_open = set(
            Ticket.objects.select_for_update()
            .filter(pk__in={message.conversation.ticket_id for message in on_open})
            .exclude(status=TicketStatus.CLOSED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        filed = [message for message in on_open if message.conversation.ticket_id in still_open]
    if filed:
        now = timezone.now()
        Ticket.objects.filter(pk__in=still_open).update(
            status=TicketStatus.CUSTOMER_RESPONDED, updated_at=now
        )
        for message in filed:
            ticket = message.conversation.ticket
            ticket.status, ticket.updated_at = TicketStatus.CUSTOMER_RESPONDED, now
        TicketComment.objects.bulk_create(
            [
                _customer_comment(ticket_id=message.conversation.ticket_id, message=message)
                for message in filed
            ]
        )
    done = {message.pk for message in filed}
    for message in messages:
        if message.pk not in done:
            ticket_message_receive(message=message)


def ticket_message_receive(*, message: Message) -> Ticket | None:
    """File one stored inbound message under the contact's ticket.

    An open ticket (the conversation's, else the contact's on any channel) gets the message as a
    customer comment and `customer_responded`; without one, a channel that creates tickets opens
    one with the message as its description. The conversation ends linked to that ticket.
    """
    if message.direction != Message.Direction.INBOUND or message.type in NOT_CUSTOMER_WORDS:
        return None
    # The inbound pipeline hands over the conversation it has just loaded, with its contact,
    # channel and ticket: nothing to fetch again for every message.
    conversation = message.conversation
    contact, channel = conversation.contact, conversation.channel
    ticket = conversation.ticket
    if ticket is None or ticket.status == TicketStatus.CLOSED:
        ticket = ticket_open_of_contact(contact=contact)
    if ticket is not None and _customer_responded(ticket):
        _conversation_link(conversation, ticket)
        _customer_comment_add(ticket=ticket, message=message)
        return ticket
    if not channel.auto_create_tickets:
        return None
    ticket, created = _ticket_get_or_open(
        contact=contact,
        channel=channel,
        first_message=message,
        assignee=channel.default_ticket_assignee,
        none_open=ticket is None,
    )
    _conversation_link(conversation, ticket)
    if not created:
        _customer_responded(ticket)
        _customer_comment_add(ticket=ticket, message=message)
    return ticket


def _check_writable(*, ticket_contact, actor) -> None:
    if not contact_is_writable_by(user=actor, contact=ticket_contact):
        raise TicketRefused(
            f"{actor} may not work on tickets of {ticket_contact}: it is not one of their clients.",
            code="not_writable",
        )


@transaction.atomic
def ticket_open_from_conversation(*, conversation: Conversation, actor) -> tuple[Ticket, bool]:
    """Open a ticket by hand for a conversation (for channels that do not open them by themselves).

    The conversation's first customer message becomes the description and its later ones become
    comments. A contact who already has an open ticket gets the conversation linked to it instead.
    Returns (ticket, created).
    """
    conversation = Conversation.objects.select_related("contact", "channel", "ticket").get(
        pk=conversation.pk
    )
    contact, channel = conversation.contact, conversation.channel
    _check_writable(ticket_contact=contact, actor=actor)
    if conversation.ticket is not None and conversation.ticket.status != TicketStatus.CLOSED:
        return conversation.ticket, False
    customer_messages = list(
        conversation.messages.filter(direction=Message.Direction.INBOUND)
        .exclude(type__in=NOT_CUSTOMER_WORDS)
        .order_by("created_at", "pk")
    )
    first = customer_messages[0] if customer_messages else None
    ticket, created = _ticket_get_or_open(
        contact=contact,
        channel=channel,
        first_message=first,
        assignee=channel.default_ticket_assignee or actor,
    )
    _conversation_link(conversation, ticket)
    if created:
        for later in customer_messages[1:]:
            _customer_comment_add(ticket=ticket, message=later)
    return ticket, created


# ---------------------------------------------------------------------------------------------
# Comments


def _utility_template_content(*, ticket: Ticket, channel, author, text: str) -> TemplateContent:
    """The channel's utility template carrying a staff comment, for when free text cannot go."""
    contact = ticket.contact
    template = channel.utility_template
    if template is None:
        hours = channel.capabilities.service_window_hours
        raise TicketRefused(
            f"The {hours}-hour customer-service window is closed and no utility template is "
            f"configured on channel {channel.name!r}: set one on the channel (Helpdesk section), "
            "add an internal note, or wait for the customer to write.",
            code="outside_window_no_template",
        )
    try:
        params = parameters_fill(
            paths=channel.utility_template_parameters,
            ticket=ticket,
            contact=contact,
            channel=channel,
            author=author,
            comment_text=text,
        )
    except ValueError as exc:
        raise TicketRefused(f"Channel {channel.name!r}: {exc}", code="template_parameters") from exc
    return TemplateContent(template=template, body_params=tuple(params))


def ticket_assignee_follow(*, ticket_id: int, user) -> None:
    """The ticket follows its conversation to the agent who now has it."""
    Ticket.objects.filter(pk=ticket_id).update(assignee=user)


def _reply_send(*, ticket: Ticket, author, text: str) -> Message:
    """Send a staff comment to the customer: as text inside the customer-service window,
    otherwise with the channel's utility template. Raises before anything is stored when
    neither is possible."""
    channel = ticket_reply_channel(ticket=ticket)
    if channel is None:
        raise TicketRefused(
            f"Ticket {ticket.number} has no conversation and no channel: there is nowhere to send "
            "the comment.",
            code="no_channel",
        )
    return message_send(
        channel=channel,
        contact=ticket.contact,
        content=TextContent(text=text),
        actor=author,
        when_window_closed=lambda: _utility_template_content(
            ticket=ticket, channel=channel, author=author, text=text
        ),
    )


def _claim_new_client(*, ticket: Ticket, author) -> None:
    """A public comment is a reply: a sales rep answering a new first-responder client claims
    it first, as a reply from the inbox does, so two reps never both write to one new client.
    The claim is one conditional UPDATE; the loser gets `ConversationTaken` and sends nothing."""
    latest = (
        ticket.conversations.select_related("contact__responsible", "channel")
        .order_by("-opened_at", "-pk")
        .first()
    )
    if latest is not None and latest.contact.responsible_id is None:
        conversation_claim(conversation=latest, user=author)


def ticket_comment_add(*, ticket: Ticket, author, text: str, internal: bool = False):
    """Add a staff comment. A public one is sent to the customer on WhatsApp and the ticket waits
    for their response; an internal note stays with staff. Refusals raise `MessageRefused`
    (`TicketRefused` is one) and leave nothing stored or sent."""
    text = (text or "").strip()
    if not text:
        raise TicketRefused("The comment is empty.", code="empty")
    _check_writable(ticket_contact=ticket.contact, actor=author)
    if internal:
        return TicketComment.objects.create(
            ticket=ticket,
            author=author,
            author_kind=TicketComment.AuthorKind.STAFF,
            text=text,
            is_internal=True,
        )
    if ticket.status == TicketStatus.CLOSED:
        raise TicketRefused(
            f"Ticket {ticket.number} is closed: reopen it to write to the customer, or add an "
            "internal note.",
            code="ticket_closed",
        )
    with transaction.atomic():
        if author is not None:
            _claim_new_client(ticket=ticket, author=author)
        message = _reply_send(ticket=ticket, author=author, text=text)
        # A send outside an open conversation opened a new one: it belongs to this ticket too.
        conversation_ticket_link(conversation_id=message.conversation_id, ticket=ticket)
        comment = TicketComment.objects.create(
            ticket=ticket,
            author=author,
            author_kind=TicketComment.AuthorKind.STAFF,
            text=text,
            message=message,
        )
        now = timezone.now()
        Ticket.objects.filter(pk=ticket.pk).update(
            status=TicketStatus.WAITING_FOR_RESPONSE, updated_at=now
        )
        ticket.status, ticket.updated_at = TicketStatus.WAITING_FOR_RESPONSE, now
    return comment


# ---------------------------------------------------------------------------------------------
# Status and assignment


def ticket_status_set(*, ticket: Ticket, status: str, actor) -> Ticket:
    if status not in TicketStatus.values:
        raise TicketRefused(
            f"{status!r} is not a ticket status: use one of {', '.join(TicketStatus.values)}.",
            code="invalid_status",
        )
    _check_writable(ticket_contact=ticket.contact, actor=actor)
    if status == ticket.status:
        return ticket
    now = timezone.now()
    changes = {
        "status": status,
        "updated_at": now,
        "closed_at": now if status == TicketStatus.CLOSED else None,
    }
    try:
        with transaction.atomic():
            Ticket.objects.filter(pk=ticket.pk).update(**changes)
    except IntegrityError:
        # Reopening while the contact already has another open ticket.
        other = ticket_open_of_contact(contact=ticket.contact)
        raise TicketRefused(
            f"{ticket.contact} already has the open ticket {other.number if other else ''}: "
            f"close it before reopening {ticket.number}, or comment there.",
            code="another_ticket_open",
        ) from None
    for name, value in changes.items():
        setattr(ticket, name, value)
    return ticket


def ticket_close(*, ticket: Ticket, actor) -> Ticket:
    return ticket_status_set(ticket=ticket, status=TicketStatus.CLOSED, actor=actor)


def ticket_reopen(*, ticket: Ticket, actor) -> Ticket:
    if ticket.status != TicketStatus.CLOSED:
        return ticket
    return ticket_status_set(ticket=ticket, status=TicketStatus.OPEN, actor=actor)


def ticket_assign(*, ticket: Ticket, assignee, actor) -> Ticket:
    """Give the ticket to `assignee` (None leaves it unassigned)."""
    _check_writable(ticket_contact=ticket.contact, actor=actor)
    if assignee is not None and not (assignee.is_active and assignee.is_staff):
        raise TicketRefused(f"{assignee} is not an active member of staff.", code="not_staff")
    now = timezone.now()
    Ticket.objects.filter(pk=ticket.pk).update(assignee=assignee, updated_at=now)
    ticket.assignee, ticket.updated_at = assignee, now
    return ticket


# ---------------------------------------------------------------------------------------------
# Channel set-up

# What a customer needs to recognise a reply that reopens the window: who, which request, what.
UTILITY_PARAMETERS = ("contact.name", "ticket.number", "comment.text")


def _language_rank(language: str, preferred: Sequence[str]) -> int:
    """Lower is better: an exact preferred code, then the same base language (`en` for
    `en_US`), in the order of preference; anything else last."""
    code = language.replace("-", "_").lower()
    for rank, wanted in enumerate(preferred):
        wanted = wanted.replace("-", "_").lower()
        if code == wanted:
            return 2 * rank
        if code.split("_")[0] == wanted.split("_")[0]:
            return 2 * rank + 1
    return 2 * len(preferred)


@transaction.atomic
def channel_helpdesk_defaults_apply(
    *,
    channel: Channel,
    template_name: str = "ticket_update",
    parameters: Sequence[str] = UTILITY_PARAMETERS,
    languages: Sequence[str] | None = None,
    priority: str = TicketPriority.NORMAL,
    auto_create_tickets: bool = True,
) -> MessageTemplate:
    """Make a channel a helpdesk line: customer messages open tickets, and staff comments sent
    after the customer-service window closed go out with the account's approved `template_name`.

    Of that template's synced languages, the first of `languages` wins (default: the site's
    LANGUAGE_CODE), then one of the same base language, then the first approved one. Templates
    must have been synced (`templates_sync`) first; a missing or unusable template is refused
    with the reason and the channel is left as it was.
    """
    if priority not in TicketPriority.values:
        raise TicketRefused(
            f"{priority!r} is not a ticket priority: use one of {', '.join(TicketPriority.values)}."
        )
    try:
        paths = parameter_paths_check(list(parameters))
    except ValueError as exc:
        raise TicketRefused(str(exc)) from exc
    approved = list(
        MessageTemplate.objects.filter(
            account_id=channel.account_id, name=template_name, status=MessageTemplate.APPROVED
        )
    )
    if not approved:
        raise TicketRefused(
            f"The account of channel {channel.name!r} has no approved template named "
            f'{template_name!r}: sync its templates first (channel list, "Sync templates now").'
        )
    preferred = list(languages) if languages else [settings.LANGUAGE_CODE]
    template = min(approved, key=lambda t: (_language_rank(t.language, preferred), t.language))
    if template.body_param_count != len(paths):
        raise TicketRefused(
            f"{template.name} [{template.language}] takes {template.body_param_count} body "
            f"parameter(s); {len(paths)} given."
        )
    changes = {
        "auto_create_tickets": auto_create_tickets,
        "default_ticket_priority": priority,
        "utility_template": template,
        "utility_template_parameters": paths,
    }
    Channel.objects.filter(pk=channel.pk).update(**changes)
    for name, value in changes.items():
        setattr(channel, name, value)
    return template


def ticket_echo_receive(*, message: Message) -> TicketComment | None:
    """An echo (an agent wrote to the customer outside Switchboard: their phone, the provider's
    app) joins the conversation's open ticket as that agent's public comment, as a reply from
    the ticket would; the ticket then waits for the customer."""
    conversation = message.conversation
    ticket = conversation.ticket
    if ticket is None or ticket.status == TicketStatus.CLOSED:
        ticket = ticket_open_of_contact(contact=conversation.contact)
    if ticket is None:
        return None
    conversation_ticket_link(conversation_id=conversation.pk, ticket=ticket)
    comment = TicketComment.objects.create(
        ticket=ticket,
        author=message.sent_by,
        author_kind=TicketComment.AuthorKind.STAFF,
        text=message_as_text(message),
        message=message,
        created_at=message_time(message),
    )
    Ticket.objects.filter(pk=ticket.pk).update(
        status=TicketStatus.WAITING_FOR_RESPONSE, updated_at=timezone.now()
    )
    return comment
