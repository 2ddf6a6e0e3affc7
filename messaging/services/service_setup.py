"""Setting up services (a group of channels and the agents who answer them) and an agent's
maximum per channel type. Routing, right of messaging, hears of each change once it commits
through SERVICE_CHANGED_HANDLERS and accounts' CAPACITY_CHANGED_HANDLERS, and hands waiting
round-robin clients to whoever can now take them."""

from collections.abc import Iterable
from functools import cache

from django.db import transaction
from django.utils.module_loading import import_string

from accounts.models import AgentProfile
from accounts.services import agent_capacity_changed
from messaging.models import AgentCapacity, Channel, Service

# Called as handler(service=...) after a change to a service commits (greppable, no signals).
SERVICE_CHANGED_HANDLERS: list[str] = ["tickets.routing.routing_on_service_changed"]


@cache
def _service_handlers():
    return [import_string(path) for path in SERVICE_CHANGED_HANDLERS]


def service_changed(*, service: Service) -> None:
    """Tell routing, once the current transaction commits, that `service` changed."""

    def notify():
        for handler in _service_handlers():
            handler(service=service)

    transaction.on_commit(notify)


@transaction.atomic
def service_create(
    *,
    name: str,
    description: str = "",
    is_active: bool = True,
    channels: Iterable[Channel] = (),
    agents: Iterable[AgentProfile] = (),
) -> Service:
    service = Service.objects.create(name=name, description=description, is_active=is_active)
    service_channels_set(service=service, channels=channels)
    service.agents.set(list(agents))
    service_changed(service=service)
    return service


@transaction.atomic
def service_channels_set(*, service: Service, channels: Iterable[Channel]) -> None:
    """Make `channels` exactly the service's channels; a channel belongs to one service, so one
    taken from another service leaves it, and one left out goes back to having none."""
    channels = list(channels)
    keep = [channel.pk for channel in channels]
    Channel.objects.filter(service=service).exclude(pk__in=keep).update(service=None)
    Channel.objects.filter(pk__in=keep).update(service=service)
    for channel in channels:
        channel.service = service
    service_changed(service=service)


@transaction.atomic
def service_agents_set(*, service: Service, agents: Iterable[AgentProfile]) -> None:
    service.agents.set(list(agents))
    service_changed(service=service)


@transaction.atomic
def service_update(*, service: Service, **fields) -> Service:
    """Rename, describe, pause or resume a service."""
    unknown = set(fields) - {"name", "description", "is_active"}
    if unknown:
        raise ValueError(f"Not a service setting: {', '.join(sorted(unknown))}.")
    for name, value in fields.items():
        setattr(service, name, value)
    service.save(update_fields=list(fields))
    service_changed(service=service)
    return service


@transaction.atomic
def service_delete(*, service: Service) -> None:
    """Delete a service; its channels go back to the agents whose profiles list them."""
    service.delete()
    service_changed(service=service)


@transaction.atomic
def agent_capacity_set(
    *, profile: AgentProfile, transport: str, max_interactions: int | None
) -> None:
    """Set the agent's maximum for one channel type; None removes it (the profile's general
    maximum applies again). Written as an insert-on-conflict: two admins at once never collide."""
    if max_interactions is None:
        AgentCapacity.objects.filter(profile=profile, transport=transport).delete()
    else:
        AgentCapacity.objects.bulk_create(
            [
                AgentCapacity(
                    profile=profile, transport=transport, max_interactions=max_interactions
                )
            ],
            update_conflicts=True,
            unique_fields=["profile", "transport"],
            update_fields=["max_interactions"],
        )
    transaction.on_commit(lambda: agent_capacity_changed(profile=profile))
