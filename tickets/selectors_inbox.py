"""What the agent workspace reads around a conversation: labels for list rows, canned
responses, notes, the ticket panel and the contact panel. Each list is one query (or one per
relation), never one per row."""

from django.db.models import Q, QuerySet, prefetch_related_objects

from accounts.models import Role
from accounts.selectors import agent_list_for_transfer, user_role
from crm.models import ContactAddress
from messaging.models import Conversation
from messaging.selectors import conversation_list_visible_to
from tickets.models import Ticket
from tickets.models_inbox import CannedResponse, ConversationNote, Label
from tickets.selectors import ticket_comments

CANNED_LIMIT = 20
EARLIER_LIMIT = 20


def label_list() -> QuerySet[Label]:
    return Label.objects.order_by("name")


def conversations_with_labels(conversations: list[Conversation]) -> list[Conversation]:
    """Each row's labels, read in one query for the whole page."""
    prefetch_related_objects(conversations, "labels")
    return conversations


def conversation_filter_by_label(*, conversations: QuerySet, label_id: int | None) -> QuerySet:
    if not label_id:
        return conversations
    tagged = Label.conversations.through.objects.filter(label_id=label_id).values("conversation_id")
    return conversations.filter(pk__in=tagged)


def canned_response_list_for(*, user, term: str = "") -> QuerySet[CannedResponse]:
    """The shared canned responses and the user's own, matching `term` by shortcode (a prefix,
    as typed after /), title or text."""
    canned = CannedResponse.objects.filter(Q(owner__isnull=True) | Q(owner=user))
    term = term.strip().lstrip("/")
    if term:
        canned = canned.filter(
            Q(shortcode__istartswith=term) | Q(title__icontains=term) | Q(text__icontains=term)
        )
    return canned.order_by("shortcode", "owner_id", "pk")[:CANNED_LIMIT]


def canned_response_for(*, user, pk) -> CannedResponse | None:
    return (
        CannedResponse.objects.filter(Q(owner__isnull=True) | Q(owner=user)).filter(pk=pk).first()
    )


def conversation_notes(*, conversation: Conversation, after_id: int = 0) -> list[ConversationNote]:
    notes = conversation.notes.select_related("author")
    if after_id:
        notes = notes.filter(pk__gt=after_id)
    return list(notes.order_by("created_at", "pk"))


def conversation_note_last_id(*, conversation: Conversation) -> int:
    return conversation.notes.order_by("-pk").values_list("pk", flat=True).first() or 0


def ticket_panel(*, ticket: Ticket | None, user) -> dict | None:
    """The linked ticket as the side panel shows it: its comments (with their authors, one
    query) and the assignees the user may choose."""
    if ticket is None:
        return None
    if user_role(user=user) == Role.MANAGER:
        assignees = list(agent_list_for_transfer())
    else:
        # A sales rep may take the ticket or leave it with whoever has it.
        assignees = [user]
        if ticket.assignee is not None and ticket.assignee_id != user.pk:
            assignees.append(ticket.assignee)
    return {
        "ticket": ticket,
        "comments": list(ticket_comments(ticket=ticket)),
        "assignees": assignees,
    }


def contact_addresses(*, contact) -> list[ContactAddress]:
    return list(contact.addresses.order_by("transport", "address"))


def contact_earlier_conversations(*, contact, user, exclude_pk: int) -> list[Conversation]:
    """The contact's other conversations on every channel that the user may see, newest
    first."""
    return list(
        conversation_list_visible_to(user=user)
        .filter(contact=contact)
        .exclude(pk=exclude_pk)
        .select_related("channel")
        .order_by("-opened_at", "-pk")[:EARLIER_LIMIT]
    )
