"""Who is shown a conversation, asked the other way round: for a pushed event, the sales reps
whose inbox holds it. The same rules as `messaging.selectors.conversation_list_visible_to` and
`crm.selectors.contact_ids_of_rep` (tests/inbox/test_live_audience.py checks both agree for
every user); managers and quality control see everything and are not listed here."""

from collections import defaultdict

from django.contrib.auth import get_user_model

from accounts.models import AgentProfile, Role
from crm.models import Deal
from messaging.agent_selectors import agent_loads
from messaging.models import Conversation, RoutingMode

FIRST_RESPONDER = RoutingMode.FIRST_RESPONDER


def conversation_rep_audience(*, conversation_ids) -> dict[int, set[int]]:
    """Conversation id -> ids of the non-manager users who see it now. A fixed number of
    queries for any number of conversations (one drain batch publishes together)."""
    rows = list(
        Conversation.objects.filter(pk__in=list(conversation_ids)).values(
            "pk", "contact_id", "assignee_id", "contact__responsible_id", "channel__transport"
        )
    )
    if not rows:
        return {}
    contact_ids = {row["contact_id"] for row in rows}
    seers: dict[int, set[int]] = defaultdict(set)  # contact id -> users who see the client
    for row in rows:
        if row["contact__responsible_id"]:
            seers[row["contact_id"]].add(row["contact__responsible_id"])
    for contact_id, user_id in Deal.contacts.through.objects.filter(
        contact_id__in=contact_ids, deal__responsible__isnull=False
    ).values_list("contact_id", "deal__responsible_id"):
        seers[contact_id].add(user_id)
    unclaimed = {row["contact_id"] for row in rows if not row["contact__responsible_id"]}
    for contact_id, user_id in _offered(contact_ids=unclaimed):
        seers[contact_id].add(user_id)

    candidates = {uid for users in seers.values() for uid in users}
    candidates |= {row["assignee_id"] for row in rows if row["assignee_id"]}
    roles = _roles(user_ids=candidates)
    reps = {uid for uid, role in roles.items() if role == Role.SALES_REP}
    full = _transports_full(user_ids=reps)

    audience: dict[int, set[int]] = {}
    for row in rows:
        # Contacts are shown to sales reps only; an assigned conversation to its assignee.
        users = {uid for uid in seers[row["contact_id"]] if uid in reps}
        offer = not row["contact__responsible_id"] and not row["assignee_id"]
        if offer:
            # A rep full on this channel type is not offered the new client (they could not
            # take it): the inbox hides it, so the push does too.
            users = {uid for uid in users if row["channel__transport"] not in full.get(uid, ())}
        assignee = row["assignee_id"]
        if assignee and roles.get(assignee) not in (Role.MANAGER, Role.QUALITY_CONTROL):
            users.add(assignee)
        audience[row["pk"]] = users
    return audience


def _offered(*, contact_ids) -> set[tuple[int, int]]:
    """(contact id, user id) for unclaimed clients offered to agents on first-responder
    channels: the three ways `contact_ids_of_rep` offers them, read from the agent's side."""
    if not contact_ids:
        return set()
    ids = list(contact_ids)
    available = AgentProfile.objects.filter(is_available=True)
    # A channel without a service, to the profiles listing it.
    by_channel = available.filter(
        channels__routing_mode=FIRST_RESPONDER,
        channels__service__isnull=True,
        channels__conversations__service__isnull=True,
        channels__conversations__contact__in=ids,
    ).values_list("channels__conversations__contact_id", "user_id")
    # A channel of an active service, to the service's agents.
    by_channel_service = available.filter(
        services__is_active=True,
        services__channels__routing_mode=FIRST_RESPONDER,
        services__channels__conversations__service__isnull=True,
        services__channels__conversations__contact__in=ids,
    ).values_list("services__channels__conversations__contact_id", "user_id")
    # A conversation a widget started, to its own (active) service's agents.
    by_own_service = available.filter(
        services__is_active=True,
        services__conversations__channel__routing_mode=FIRST_RESPONDER,
        services__conversations__contact__in=ids,
    ).values_list("services__conversations__contact_id", "user_id")
    # One round trip: every send and status publishes through here.
    return set(by_channel.union(by_channel_service, by_own_service))


def _roles(*, user_ids) -> dict[int, str | None]:
    if not user_ids:
        return {}
    rows = get_user_model().objects.filter(pk__in=list(user_ids), is_active=True)
    return {
        pk: Role.MANAGER if superuser else role
        for pk, superuser, role in rows.values_list("pk", "is_superuser", "agent_profile__role")
    }


def _transports_full(*, user_ids) -> dict[int, set[str]]:
    if not user_ids:
        return {}
    profiles = list(AgentProfile.objects.filter(user_id__in=list(user_ids)))
    loads = agent_loads(profiles=profiles)
    return {
        p.user_id: {transport for transport, load in loads[p.pk].items() if load.is_full}
        for p in profiles
    }
