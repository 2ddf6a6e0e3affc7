from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import (
    Case,
    F,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import ConversationReadMark, Role
from accounts.selectors import user_role
from config.row_totals import totals_for
from crm.models import Contact
from crm.selectors import contact_ids_by_phone, contact_ids_visible_to, contact_search
from messaging.agent_selectors import agent_transports_full, channel_list_worked_by
from messaging.models import Channel, Conversation, Message, MessageTemplate
from messaging.providers.base import TemplateKind


@dataclass(frozen=True)
class Window:
    """The customer-service window: free text only within `hours` of the customer's last
    message. `hours=None` means the channel has no such window: it is always open."""

    last_inbound_at: datetime | None
    closes_at: datetime | None
    hours: int | None = None

    @property
    def is_open(self) -> bool:
        if self.hours is None:
            return True
        return self.closes_at is not None and self.closes_at > timezone.now()

    @property
    def time_left(self) -> timedelta | None:
        """None when there is no window to run out."""
        if self.hours is None:
            return None
        if not self.is_open:
            return timedelta(0)
        return self.closes_at - timezone.now()


def conversation_window(*, channel: Channel, contact) -> Window:
    last = Conversation.objects.filter(channel=channel, contact=contact).aggregate(
        last=Max("last_inbound_at")
    )["last"]
    hours = channel.capabilities.service_window_hours
    if hours is None:
        return Window(last_inbound_at=last, closes_at=None, hours=None)
    return Window(
        last_inbound_at=last,
        closes_at=last + timedelta(hours=hours) if last else None,
        hours=hours,
    )


def conversation_list_visible_to(*, user) -> QuerySet[Conversation]:
    """Conversations of the clients the user sees (crm decides who those are), plus any
    conversation assigned to them."""
    role = user_role(user=user)
    if role in (Role.MANAGER, Role.QUALITY_CONTROL):
        return Conversation.objects.all()
    # The ids read first (as long as the user's portfolio): PostgreSQL cannot size a UNION in a
    # subquery and would hash the whole table to join it; with the ids it reads their rows.
    conversation_ids = [row["pk"] for row in conversation_ids_of(user=user)]
    conversations = Conversation.objects.filter(pk__any=conversation_ids)
    return conversations.exclude(_offers_hidden_from(user=user, role=role))


def _offers_hidden_from(*, user, role, prefix: str = "") -> Q:
    """What a sales rep is not shown: a first-responder offer of a channel type the agent is
    full on (they could not take it, the claim would be refused, until one of theirs closes).
    `prefix` reaches the conversation from a related row ("conversation__")."""
    full = agent_transports_full(user=user) if role == Role.SALES_REP else ()
    if not full:
        return Q()  # excludes nothing
    return Q(
        **{
            f"{prefix}contact__responsible__isnull": True,
            f"{prefix}assignee__isnull": True,
            f"{prefix}channel__transport__in": full,
        }
    )


def conversation_ids_of(*, user) -> QuerySet:
    """Ids of the conversations of the clients a non-manager sees plus those assigned to them:
    a UNION of two index lookups rather than an OR the planner can only test row by row."""
    of_their_clients = (
        Conversation.objects.filter(contact_id__any=contact_ids_visible_to(user=user))
        .order_by()
        .values("pk")
    )
    assigned = Conversation.objects.filter(assignee=user).order_by().values("pk")
    return of_their_clients.union(assigned)


def message_search(*, queryset: QuerySet[Message], term: str) -> QuerySet[Message]:
    """A phone written any way finds the messages of that contact through its exact number;
    anything else is looked for in the text (a trigram index on PostgreSQL) and as a provider
    message id (the per-channel index: the few channels are listed)."""
    term = term.strip()
    if not term:
        return queryset
    contact_ids = contact_ids_by_phone(term=term)
    if contact_ids:
        conversations = Conversation.objects.filter(contact_id__in=contact_ids).values("pk")
        return queryset.filter(conversation_id__in=conversations)
    channel_ids = list(Channel.objects.values_list("pk", flat=True))
    return queryset.filter(
        Q(text__icontains=term) | Q(channel_id__in=channel_ids, provider_message_id=term)
    )


def conversation_search(*, queryset: QuerySet[Conversation], term: str) -> QuerySet[Conversation]:
    """Conversations of the contacts `crm.selectors.contact_search` finds (a phone any way, a
    name...)."""
    term = term.strip()
    if not term:
        return queryset
    contact_ids = contact_ids_by_phone(term=term)
    if contact_ids:
        return queryset.filter(contact_id__in=contact_ids)
    contacts = contact_search(queryset=Contact.objects.all(), term=term)
    return queryset.filter(contact_id__in=contacts.values("pk"))


def conversation_search_condition(*, term: str) -> Q:
    """Conversations whose contact matches (a name, any of its addresses, a phone written any
    way: `crm.selectors.contact_search`) or that hold a message with the text. A phone that is
    a contact's exact number is that contact's conversations alone, through the indexes."""
    term = term.strip()
    contact_ids = contact_ids_by_phone(term=term)
    if contact_ids:
        return Q(contact_id__in=contact_ids)
    contacts = contact_search(queryset=Contact.objects.all(), term=term).values("pk")
    # One semi-join over the messages the text finds (a trigram index on PostgreSQL), not a
    # look into every listed conversation's messages.
    with_text = Message.objects.filter(text__icontains=term).values("conversation_id")
    return Q(contact_id__in=contacts) | Q(pk__in=with_text)


def conversation_message_totals(*, conversation_ids) -> dict[int, int]:
    """Conversation id -> its number of messages, for a page of conversations."""
    return totals_for(Message.objects.all(), field="conversation_id", ids=conversation_ids)


def message_list_visible_to(*, user) -> QuerySet[Message]:
    """Messages of the conversations the user sees. Their ids are read first (as long as the
    user's portfolio) so PostgreSQL knows how few they are and reads the messages through the
    conversation index instead of scanning the table for them."""
    role = user_role(user=user)
    if role in (Role.MANAGER, Role.QUALITY_CONTROL):
        return Message.objects.all()
    conversation_ids = [row["pk"] for row in conversation_ids_of(user=user)]
    messages = Message.objects.filter(conversation_id__any=conversation_ids)
    return messages.exclude(_offers_hidden_from(user=user, role=role, prefix="conversation__"))


class InboxBox:
    MINE = "mine"
    UNASSIGNED = "unassigned"
    # The customer wrote last and the conversation is the user's, or nobody's yet.
    WAITING = "waiting"
    ALL = "all"
    CHOICES = (MINE, UNASSIGNED, WAITING, ALL)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _count(queryset) -> Coalesce:
    """A correlated COUNT(*) subquery, 0 when nothing matches."""
    counted = queryset.order_by().annotate(n=Func(Value(1), function="COUNT")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def conversation_inbox_list(
    *,
    user,
    box: str = InboxBox.ALL,
    status: str | None = Conversation.Status.OPEN,
    channel_id: int | None = None,
    assignee_id: int | None = None,
    term: str = "",
) -> QuerySet[Conversation]:
    """The inbox list: what the user may see, filtered, with the unread count for this user and
    the queue position of waiting conversations computed in the same query. The latest
    message's preview is a column of the conversation (messaging.previews)."""
    conversations = conversation_list_visible_to(user=user)
    if box == InboxBox.MINE:
        conversations = conversations.filter(assignee=user)
    elif box == InboxBox.UNASSIGNED:
        conversations = conversations.filter(assignee__isnull=True)
    elif box == InboxBox.WAITING:
        conversations = conversations.filter(
            Q(assignee=user) | Q(assignee__isnull=True),
            status=Conversation.Status.OPEN,
            last_message_direction=Message.Direction.INBOUND,
        )
    if status:
        conversations = conversations.filter(status=status)
    if channel_id:
        conversations = conversations.filter(channel_id=channel_id)
    if assignee_id:
        conversations = conversations.filter(assignee_id=assignee_id)
    if term.strip():
        conversations = conversations.filter(conversation_search_condition(term=term))
    last_read = ConversationReadMark.objects.filter(user=user, conversation=OuterRef("pk")).values(
        "last_read_at"
    )[:1]
    conversations = conversations.annotate(
        last_read_at=Coalesce(Subquery(last_read), Value(_EPOCH))
    )
    unread = Message.objects.filter(
        conversation=OuterRef("pk"),
        direction=Message.Direction.INBOUND,
        created_at__gt=OuterRef("last_read_at"),
    )
    ahead = Conversation.objects.filter(
        channel=OuterRef("channel"),
        status=Conversation.Status.OPEN,
        queued_at__isnull=False,
    ).filter(
        Q(queued_at__lt=OuterRef("queued_at"))
        | Q(queued_at=OuterRef("queued_at"), pk__lte=OuterRef("pk"))
    )
    return (
        conversations.select_related("contact", "channel", "assignee", "ticket")
        .annotate(
            unread_count=_count(unread),
            queue_position=Case(
                When(queued_at__isnull=False, status=Conversation.Status.OPEN, then=_count(ahead)),
                default=None,
                output_field=IntegerField(),
            ),
        )
        .order_by(F("last_message_at").desc(nulls_last=True), "-pk")
    )


def conversation_messages(*, conversation: Conversation, after_id: int = 0, limit: int = 200):
    """Messages of a conversation after a cursor (a message id), oldest first: the page loads
    the latest `limit`, the live poll asks for what came after the last one it holds."""
    messages = Message.objects.filter(conversation=conversation).select_related("sent_by")
    if after_id:
        return list(messages.filter(pk__gt=after_id).order_by("pk")[:limit])
    return list(reversed(messages.order_by("-pk")[:limit]))


def reaction_key(*, contact_id: int) -> str:
    """Whose reaction it is, as a reacted message's `reactions` keys it."""
    return f"contact:{contact_id}"


def message_reactions_current(*, message: Message) -> list[str]:
    """The emojis people react to this message with now (a removed reaction is not one)."""
    return [r["emoji"] for r in message.reactions.values() if r.get("emoji")]


def reaction_is_superseded(*, reaction: Message, reacted: Message | None, contact_id: int) -> bool:
    """True for a customer's reaction that a later one of theirs on the same message replaced
    (or took back): the thread shows only the current one, never a stale emoji."""
    if reaction.direction != Message.Direction.INBOUND or reacted is None:
        return False
    current = reacted.reactions.get(reaction_key(contact_id=contact_id))
    return current is not None and current.get("id") != reaction.provider_message_id


def conversation_outbound_statuses(*, conversation: Conversation, limit: int = 200) -> list[dict]:
    """The current status of the latest outbound messages, so a poll can move ticks on messages
    it already shows (statuses change without a new row, and may arrive while offline)."""
    rows = (
        Message.objects.filter(conversation=conversation, direction=Message.Direction.OUTBOUND)
        .order_by("-pk")
        .values("pk", "status", "error_code", "error_title")[:limit]
    )
    return list(rows)


def conversation_reachable_for_reply(*, user) -> QuerySet[Conversation]:
    """What a reply may be attempted on: the visible conversations plus those offered on the
    user's channels, so a rep who lost a client to a colleague reaches the service that says
    who took it instead of a bare 404."""
    offered = Conversation.objects.filter(
        Q(channel__in=channel_list_worked_by(user=user).values("pk"))
        | Q(service__is_active=True, service__agents__user=user)
    ).values("pk")
    visible = conversation_list_visible_to(user=user).values("pk")
    return Conversation.objects.filter(Q(pk__in=visible) | Q(pk__in=offered))


def template_list_fillable(*, channel: Channel) -> QuerySet[MessageTemplate]:
    """Approved templates a person can fill in a form: text parameters only, no media header,
    no button parameters."""
    if channel.capabilities.template_kind == TemplateKind.NONE:
        return MessageTemplate.objects.none()
    return MessageTemplate.objects.filter(
        account_id=channel.account_id, status=MessageTemplate.APPROVED, button_param_count=0
    ).exclude(header_format__in=("IMAGE", "VIDEO", "DOCUMENT", "LOCATION"))


def contact_start_links(*, contact) -> dict[str, str]:
    """Channel name -> a link that opens a chat with that channel and tells us who this contact
    is (a Telegram deep link whose /start token we signed), for the channels that have one: for
    a website, an email or a notification to hand to a known contact."""
    from crm.identity import contact_link_token_make

    token = contact_link_token_make(contact=contact)
    links = {}
    for channel in Channel.objects.filter(account__is_active=True).select_related("account"):
        link = channel.get_provider().start_link(token=token)
        if link:
            links[channel.name] = link
    return links
