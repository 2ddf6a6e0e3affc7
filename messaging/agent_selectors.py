"""Who may answer a channel, and how much each agent already holds: the reads that routing,
visibility and the admin share.

- A channel of a service is answered by the service's agents while the service is active; a
  channel without a service by the agent profiles that list it (the behaviour before services).
- An agent's load on a channel type (transport) is their open assigned conversations on channels
  of that type, whichever service or channel they came from; their limit is their
  `AgentCapacity` for the type, else the profile's `max_concurrent_conversations`.

Each function is one query (or a fixed two), never one per agent or per channel.
"""

from dataclasses import dataclass

from django.db.models import Count, F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from accounts.models import AgentProfile
from messaging.models import AgentCapacity, Channel, Conversation, Service, Transport

OPEN = Conversation.Status.OPEN


def agent_profile_filter_for_channel(*, channel: Channel) -> Q:
    """A filter on AgentProfile: the agents of `channel`."""
    if channel.service_id is None:
        return Q(channels=channel)
    # One filter() call with both conditions: they hold for the same service row.
    return Q(services=channel.service_id, services__is_active=True)


def agent_profile_filter_for_conversation(*, conversation: Conversation) -> Q:
    """A filter on AgentProfile: who answers `conversation`, its own service's agents when it
    has one (a website widget started it), else its channel's."""
    if conversation.service_id is None:
        return agent_profile_filter_for_channel(channel=conversation.channel)
    return Q(services=conversation.service_id, services__is_active=True)


def agent_profile_list_for_channel(*, channel: Channel) -> QuerySet[AgentProfile]:
    """Every agent profile that may answer `channel` (any role, available or not)."""
    return AgentProfile.objects.filter(agent_profile_filter_for_channel(channel=channel))


def service_list_visible_to(*, user) -> QuerySet[Service]:
    """Every role reads the services (who answers what is no secret inside the company)."""
    return Service.objects.all()


def channel_list_worked_by(*, user) -> QuerySet[Channel]:
    """The channels whose new clients `user` may be offered or routed: the channels of the
    active services they belong to, and the service-less channels their profile lists."""
    return Channel.objects.filter(
        Q(service__isnull=True, agents__user=user)
        | Q(service__is_active=True, service__agents__user=user)
    ).distinct()


def agent_open_load(*, transport: str):
    """For AgentProfile rows: their open assigned conversations on channels of `transport`, as
    a correlated subquery (0 when none)."""
    assigned = (
        Conversation.objects.filter(
            assignee=OuterRef("user_id"), status=OPEN, channel__transport=transport
        )
        .order_by()
        .annotate(n=Func(Value(1), function="COUNT"))
        .values("n")
    )
    return Coalesce(Subquery(assigned, output_field=IntegerField()), 0)


def agent_limit(*, transport: str):
    """For AgentProfile rows: their maximum on `transport` (their own row for the type, else
    `max_concurrent_conversations`)."""
    own = AgentCapacity.objects.filter(profile=OuterRef("pk"), transport=transport).values(
        "max_interactions"
    )[:1]
    return Coalesce(
        Subquery(own, output_field=IntegerField()),
        F("max_concurrent_conversations"),
        output_field=IntegerField(),
    )


def agent_profiles_with_room(
    *, profiles: QuerySet[AgentProfile], transport: str
) -> QuerySet[AgentProfile]:
    """`profiles` annotated with `load` and `limit` on `transport`, kept only below the limit."""
    return (
        profiles.annotate(load=agent_open_load(transport=transport))
        .annotate(limit=agent_limit(transport=transport))
        .filter(load__lt=F("limit"))
    )


@dataclass(frozen=True)
class Load:
    open: int
    limit: int
    own_limit: bool  # False: the limit is the profile's general maximum

    @property
    def is_full(self) -> bool:
        return self.open >= self.limit


def agent_loads(*, profiles) -> dict[int, dict[str, Load]]:
    """profile id -> transport -> Load, for every transport the agent has an open conversation
    on or an own maximum for. Two queries, whatever the number of agents."""
    profiles = list(profiles)
    by_user = {p.user_id: p for p in profiles}
    counts = (
        Conversation.objects.filter(status=OPEN, assignee__in=list(by_user))
        .order_by()
        .values_list("assignee", "channel__transport")
        .annotate(n=Count("pk"))
    )
    own = {
        (profile_id, transport): limit
        for profile_id, transport, limit in AgentCapacity.objects.filter(
            profile__in=[p.pk for p in profiles]
        ).values_list("profile_id", "transport", "max_interactions")
    }
    open_counts = {(by_user[user_id].pk, transport): n for user_id, transport, n in counts}
    result: dict[int, dict[str, Load]] = {p.pk: {} for p in profiles}
    general = {p.pk: p.max_concurrent_conversations for p in profiles}
    for profile_id, transport in sorted(set(open_counts) | set(own)):
        limit = own.get((profile_id, transport))
        result[profile_id][transport] = Load(
            open=open_counts.get((profile_id, transport), 0),
            limit=general[profile_id] if limit is None else limit,
            own_limit=limit is not None,
        )
    return result


def transport_label(transport: str) -> str:
    return dict(Transport.choices).get(transport, transport)


def agent_transports_full(*, user) -> set[str]:
    """The channel types on which `user` is at their maximum now (two queries)."""
    profile = getattr(user, "agent_profile", None)
    if profile is None:
        return set()
    loads = agent_loads(profiles=[profile])[profile.pk]
    return {transport for transport, load in loads.items() if load.is_full}
