"""Who handles a conversation: routing of new clients, claiming by the first responder, the
round-robin queue, transfers and closing.

Rules:
- a returning client (the contact has a responsible user) goes to that user;
- first responder: a new client is offered to every available sales rep working the channel (the
  crm visibility rule shows it to them); the first reply claims the client with one conditional
  UPDATE, so of two simultaneous replies exactly one wins and the other sends nothing;
- round robin: a new client goes to the next available sales rep of the channel with free
  capacity (the one who waited longest); when everyone is full the conversation waits in a
  queue that drains as soon as capacity frees (close, transfer, availability, capacity,
  a service gaining agents or channels);
- a channel's agents are its service's (messaging.agent_selectors), or, for a channel without
  a service, the profiles that list it; capacity is counted per channel type across every
  service (an agent's own maximum for the type, else their general one);
- a conversation a website widget started has the widget's service, whose agents take the
  channel's place for it (offering, round robin and its place in the queue).

Tickets sits right of messaging and crm, so this module may touch conversations, contacts,
tickets and deals; accounts learns of capacity changes through its CAPACITY_CHANGED_HANDLERS list.
"""

import logging

from django.db import transaction
from django.db.models import F, Min
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import AgentProfile, Role
from accounts.selectors import user_role
from accounts.services import agent_assigned_mark
from crm.models import Contact
from crm.selectors import contact_is_writable_by
from crm.services import contact_assign_responsible, contact_claim, deal_open_for_new_client
from messaging.agent_selectors import (
    agent_profile_filter_for_channel,
    agent_profile_filter_for_conversation,
    agent_profiles_with_room,
    channel_list_worked_by,
    transport_label,
)
from messaging.live import live_conversation_changed
from messaging.models import Channel, Conversation, MessageTemplate, RoutingMode
from messaging.services import (
    MessageRefused,
    channel_lock,
    conversation_assign,
    conversation_mark_closed,
    conversation_queue,
    conversations_close_expired,
    message_send_template,
    message_send_text,
)

logger = logging.getLogger(__name__)

OPEN = Conversation.Status.OPEN


class ConversationTaken(MessageRefused):
    """Another agent claimed this new client first; nothing was sent."""

    code = "conversation_taken"


class AgentAtCapacity(MessageRefused):
    """The agent already holds their maximum of open conversations of this channel type."""

    code = "agent_at_capacity"


class RoutingRefused(Exception):
    """The user may not do this (transfer, close) or the target cannot take the conversation."""


def _display(user) -> str:
    return user.get_full_name() or user.get_username()


# ---------------------------------------------------------------------------------------------
# Capacity and the next agent


def routing_candidates(*, channel: Channel, conversation: Conversation | None = None):
    """Sales reps who may receive a new client of `channel` now, in round-robin order: the
    channel's agents (its service's, or those listing it; the conversation's own service's when
    a website widget gave it one), available, active, below their maximum for the channel's
    type; the one assigned longest ago (or never) first."""
    who = (
        agent_profile_filter_for_conversation(conversation=conversation)
        if conversation is not None
        else agent_profile_filter_for_channel(channel=channel)
    )
    agents = AgentProfile.objects.filter(
        who,
        role=Role.SALES_REP,
        is_available=True,
        user__is_active=True,
    )
    return agent_profiles_with_room(profiles=agents, transport=channel.transport).order_by(
        F("last_assigned_at").asc(nulls_first=True), "pk"
    )


def _lock_agent_with_room(
    profile_pk: int, transport: str, *, available_only: bool = True
) -> AgentProfile | None:
    """Lock the agent's profile row, then count their load: an agent working several channels
    (or services) of one type can be picked, or claim, from two of them at once, and the
    second must see the first's assignment before counting. The count runs after the lock is
    granted, so on PostgreSQL it sees what the first transaction committed."""
    locked = AgentProfile.objects.select_for_update().filter(pk=profile_pk)
    if available_only:
        locked = locked.filter(is_available=True)
    if not list(locked.values_list("pk")):
        return None
    return agent_profiles_with_room(
        profiles=AgentProfile.objects.filter(pk=profile_pk), transport=transport
    ).first()


def _next_agent(channel: Channel, conversation: Conversation) -> AgentProfile | None:
    """The next candidate, re-checked under a lock on their profile."""
    for profile in routing_candidates(channel=channel, conversation=conversation):
        locked = _lock_agent_with_room(profile.pk, channel.transport)
        if locked is not None:
            return locked
    return None


def _lock_channel(channel: Channel) -> None:
    # Serialises round-robin picks of one channel, so "next in turn" means one thing.
    channel_lock(channel=channel)


# ---------------------------------------------------------------------------------------------
# Assignment


def _assign(*, conversation: Conversation, user, claim_contact: bool) -> None:
    """Hand a conversation to `user`: the conversation, its ticket and (for a new client) the
    contact and a deal in the channel's pipeline."""
    # Imported here: tickets.services imports this module (conversation_claim).
    from tickets.services import ticket_assignee_follow

    now = timezone.now()
    conversation_assign(conversation=conversation, user=user, at=now)
    if conversation.ticket_id:
        ticket_assignee_follow(ticket_id=conversation.ticket_id, user=user)
    agent_assigned_mark(user=user, at=now)
    if claim_contact and contact_claim(contact=conversation.contact, user=user):
        _open_new_client_deal(conversation=conversation, user=user)


def _open_new_client_deal(*, conversation: Conversation, user) -> None:
    channel = conversation.channel
    if channel.new_client_pipeline_id is None:
        return
    deal_open_for_new_client(
        contact=conversation.contact,
        pipeline=channel.new_client_pipeline,
        stage=channel.new_client_stage,
        responsible=user,
    )


def _round_robin_assign(*, conversation: Conversation) -> bool:
    _lock_channel(conversation.channel)
    profile = _next_agent(conversation.channel, conversation)
    if profile is None:
        conversation_queue(conversation=conversation, at=timezone.now())
        return False
    _assign(conversation=conversation, user=profile.user, claim_contact=True)
    return True


def route_on_inbound(*, message, conversation_created: bool) -> None:
    """Inbound pipeline step (after the ticket step): route the message's conversation."""
    # The conversation the pipeline loaded, with its contact and channel: no second fetch. Most
    # messages belong to a conversation that is already assigned, and cost nothing more here.
    conversation = message.conversation
    if conversation.status != OPEN or conversation.assignee_id:
        return
    returning = conversation.contact.responsible_id is not None
    if returning or conversation.channel.routing_mode == RoutingMode.ROUND_ROBIN:
        _route(conversation)
    # First responder: nothing to do now; the channel's agents see the client until one replies.


@transaction.atomic
def _route(conversation: Conversation) -> None:
    if conversation.contact.responsible_id is not None:
        _assign(
            conversation=conversation, user=conversation.contact.responsible, claim_contact=False
        )
        return
    _round_robin_assign(conversation=conversation)


def routing_queue_drain(*, channel: Channel | None = None) -> int:
    """Assign waiting round-robin conversations while agents have capacity; returns how many.

    Each assignment is its own transaction under the channel lock; the waiting row is taken with
    SKIP LOCKED so a conversation being routed by its own inbound message is left to it.
    """
    channels = Channel.objects.filter(routing_mode=RoutingMode.ROUND_ROBIN)
    if channel is not None:
        channels = channels.filter(pk=channel.pk)
    waiting_channels = channels.filter(
        conversations__status=OPEN, conversations__queued_at__isnull=False
    ).distinct()
    assigned = 0
    for each in waiting_channels:
        while _drain_one(each):
            assigned += 1
    return assigned


def _drain_one(channel: Channel) -> bool:
    """Assign one waiting conversation of `channel`, the longest waiting that someone can take.

    The channel's own clients and those a website widget routed to another service are answered
    by different agents, so each group waits in its own line: the first of each is tried in
    turn, and a full service never holds up another's clients."""
    with transaction.atomic():
        _lock_channel(channel)
        queued = Conversation.objects.filter(
            channel=channel, status=OPEN, queued_at__isnull=False
        ).order_by("queued_at", "pk")
        groups = (
            queued.order_by()
            .values_list("service_id")
            .annotate(first=Min("queued_at"))
            .order_by("first")
        )
        for service_id, _first in groups:
            waiting = queued.select_for_update(skip_locked=True).filter(service=service_id).first()
            if waiting is not None and _assign_waiting(channel, waiting):
                return True
        return False


def _assign_waiting(channel: Channel, waiting: Conversation) -> bool:
    waiting = Conversation.objects.select_related("contact", "channel").get(pk=waiting.pk)
    if waiting.contact.responsible is not None:
        _assign(conversation=waiting, user=waiting.contact.responsible, claim_contact=False)
        return True
    profile = _next_agent(channel, waiting)
    if profile is None:
        return False
    _assign(conversation=waiting, user=profile.user, claim_contact=True)
    return True


def routing_on_capacity_changed(*, profile: AgentProfile) -> None:
    """accounts.services.CAPACITY_CHANGED_HANDLERS entry: an agent became available or gained
    capacity, so waiting conversations on their channels may move."""
    worked = channel_list_worked_by(user=profile.user).filter(routing_mode=RoutingMode.ROUND_ROBIN)
    # Clients a website widget sent to one of the agent's services may wait on a line of
    # another service.
    widget_routed = Channel.objects.filter(
        routing_mode=RoutingMode.ROUND_ROBIN,
        conversations__status=OPEN,
        conversations__queued_at__isnull=False,
        conversations__service__agents=profile,
    )
    pks = {*worked.values_list("pk", flat=True), *widget_routed.values_list("pk", flat=True)}
    for channel in Channel.objects.filter(pk__in=pks):
        routing_queue_drain(channel=channel)


def _drain_after_freeing(*, channel: Channel, user_id: int | None) -> None:
    """A conversation of `channel` left its agent: drain that channel's queue now, and, once
    this commits, the queues of every other round-robin channel of the same type the agent
    works (in any service), since their maximum is counted per type across all of them.

    The other channels wait for the commit so that each of their assignments is a short
    transaction of its own: taking their locks while this one still holds a channel and a
    profile could deadlock with a routing that holds them in the other order."""
    routing_queue_drain(channel=channel)
    if user_id is None:
        return

    def drain_others():
        others = (
            channel_list_worked_by(user=user_id)
            .filter(routing_mode=RoutingMode.ROUND_ROBIN, transport=channel.transport)
            .exclude(pk=channel.pk)
        )
        for other in others:
            routing_queue_drain(channel=other)

    transaction.on_commit(drain_others)


def routing_on_service_changed(*, service) -> None:
    """messaging.service_setup.SERVICE_CHANGED_HANDLERS entry: a service gained agents or
    channels, or was switched on; any waiting round-robin client may now have someone (a
    channel that left the service goes back to the agents listing it, so drain them all: only
    channels with someone waiting are visited)."""
    routing_queue_drain()


# ---------------------------------------------------------------------------------------------
# Claiming and replying


@transaction.atomic
def conversation_claim(*, conversation: Conversation, user) -> Conversation:
    """Make `user` the responsible of a new client and the assignee of the conversation.

    The contact row is claimed with one UPDATE ... WHERE responsible IS NULL: under concurrency
    the database lets exactly one of the competing transactions change it, and the others see
    zero rows changed and learn who won.
    """
    if user_role(user=user) != Role.SALES_REP:
        return conversation  # managers answer without taking the client over
    contact = conversation.contact
    if contact.responsible_id == user.pk:
        if conversation.assignee_id != user.pk:
            _assign(conversation=conversation, user=user, claim_contact=False)
        return conversation
    if contact.responsible_id is not None:
        raise ConversationTaken(
            _("Already taken by %(name)s.") % {"name": _display(contact.responsible)}
        )
    _check_room_to_claim(conversation=conversation, user=user)
    # The reps this new client is offered to lose it with the claim: they are told too.
    live_conversation_changed(conversation_ids=[conversation.pk], audience_may_change=True)
    if not contact_claim(contact=contact, user=user):
        winner = Contact.objects.select_related("responsible").get(pk=contact.pk).responsible
        raise ConversationTaken(
            _("Already taken by %(name)s.")
            % {"name": _display(winner) if winner else _("another agent")}
        )
    _assign(conversation=conversation, user=user, claim_contact=False)
    _open_new_client_deal(conversation=conversation, user=user)
    return conversation


def _check_room_to_claim(*, conversation: Conversation, user) -> None:
    """A new client counts towards the agent's maximum for the channel's type: at the maximum,
    the claim is refused and nothing is sent. The profile row stays locked until the reply
    commits, so two claims by one agent at once are counted one after the other."""
    profile = AgentProfile.objects.filter(user=user).only("pk").first()
    transport = conversation.channel.transport
    if profile and _lock_agent_with_room(profile.pk, transport, available_only=False) is None:
        raise AgentAtCapacity(
            _(
                "You are at your maximum of open %(type)s conversations: close one before "
                "taking a new client."
            )
            % {"type": transport_label(transport)}
        )


def _check_may_reply(*, conversation: Conversation, user) -> None:
    if not contact_is_writable_by(user=user, contact=conversation.contact):
        # Read again: a colleague may have claimed the client after `_fresh` read it, and the
        # check above already saw their claim.
        responsible = (
            Contact.objects.select_related("responsible")
            .get(pk=conversation.contact_id)
            .responsible
        )
        if responsible is not None and user_role(user=user) == Role.SALES_REP:
            raise ConversationTaken(
                _("Already taken by %(name)s.") % {"name": _display(responsible)}
            )
        raise MessageRefused(_("You may not write to this client."), code="not_writable")


def _fresh(conversation: Conversation) -> Conversation:
    return Conversation.objects.select_related("contact__responsible", "channel").get(
        pk=conversation.pk
    )


@transaction.atomic
def conversation_reply(*, conversation: Conversation, user, text: str, reply_to=None):
    """Reply with free text, claiming a new client first; if the claim is lost, nothing is sent
    and `ConversationTaken` names the winner."""
    conversation = conversation_reply_begin(conversation=conversation, user=user)
    return message_send_text(
        channel=conversation.channel,
        contact=conversation.contact,
        text=text,
        actor=user,
        reply_to=reply_to,
    )


def conversation_reply_begin(*, conversation: Conversation, user) -> Conversation:
    """What every reply does before it sends: read the conversation again, check the user may
    reply, claim a new client. Call inside the transaction that sends."""
    conversation = _fresh(conversation)
    _check_may_reply(conversation=conversation, user=user)
    conversation_claim(conversation=conversation, user=user)
    return conversation


@transaction.atomic
def conversation_reply_template(
    *,
    conversation: Conversation,
    user,
    template: MessageTemplate,
    body_params: list[str] | None = None,
    header_params: list[str] | None = None,
):
    """Reply with an approved template (the way back in once the customer-service window has
    closed)."""
    conversation = _fresh(conversation)
    _check_may_reply(conversation=conversation, user=user)
    conversation_claim(conversation=conversation, user=user)
    return message_send_template(
        channel=conversation.channel,
        contact=conversation.contact,
        template=template,
        body_params=body_params,
        header_params=header_params,
        actor=user,
    )


# ---------------------------------------------------------------------------------------------
# Transfer and close


@transaction.atomic
def conversation_transfer(*, conversation: Conversation, to_user, actor) -> Conversation:
    """A manager hands a conversation (and its client) to another agent; the previous
    assignee's freed capacity drains the queue."""
    if user_role(user=actor) != Role.MANAGER:
        raise RoutingRefused(_("Only managers can transfer conversations."))
    if not to_user.is_active or user_role(user=to_user) not in (Role.SALES_REP, Role.MANAGER):
        raise RoutingRefused(_("%(name)s cannot take conversations.") % {"name": _display(to_user)})
    conversation = Conversation.objects.select_related("contact", "channel").get(pk=conversation.pk)
    if conversation.status != OPEN:
        raise RoutingRefused(_("The conversation is closed."))
    freed = conversation.assignee_id
    _assign(conversation=conversation, user=to_user, claim_contact=False)
    contact_assign_responsible(contact=conversation.contact, responsible=to_user, actor=actor)
    _drain_after_freeing(channel=conversation.channel, user_id=freed)
    return conversation


@transaction.atomic
def conversation_close(*, conversation: Conversation, actor) -> bool:
    """Close an open conversation by hand; its agent's freed capacity drains the queue."""
    if not contact_is_writable_by(user=actor, contact=conversation.contact):
        raise RoutingRefused(_("You may not close this conversation."))
    freed = (
        Conversation.objects.filter(pk=conversation.pk)
        .values_list("assignee_id", flat=True)
        .first()
    )
    closed = conversation_mark_closed(conversation=conversation)
    if closed:
        _drain_after_freeing(channel=conversation.channel, user_id=freed)
    return bool(closed)


def conversations_close_due() -> dict:
    """The scheduled close_conversations job: close expired conversations, then hand waiting
    round-robin clients to the agents this freed."""
    closed = conversations_close_expired()
    return {"closed": closed, "assigned": routing_queue_drain() if closed else 0}


def route_on_echo(*, message, conversation_created: bool) -> None:
    """Echo pipeline step: a message an agent wrote outside Switchboard (their phone, the
    provider's app) is their reply, so it claims a new client like a reply from the inbox. An
    echo without a known author, or one the claim rules refuse, changes no routing."""
    if message.sent_by_id is None:
        return
    conversation = message.conversation
    if conversation.status != OPEN:
        return
    try:
        with transaction.atomic():
            conversation_claim(conversation=_fresh(conversation), user=message.sent_by)
    except ConversationTaken:
        logger.info("echo %s: the client is someone else's; routing unchanged", message.pk)


@transaction.atomic
def conversation_route_new(*, conversation: Conversation) -> None:
    """Route a conversation as its first inbound message would, unless it is routed already
    (a concurrent message got there first): read again under the channel lock."""
    _lock_channel(conversation.channel)
    conversation = Conversation.objects.select_related("contact__responsible", "channel").get(
        pk=conversation.pk
    )
    if conversation.status != OPEN or conversation.assignee_id:
        return
    if conversation.contact.responsible_id is None and (
        conversation.channel.routing_mode != RoutingMode.ROUND_ROBIN
    ):
        return  # first responder: the first reply decides
    _route(conversation)
