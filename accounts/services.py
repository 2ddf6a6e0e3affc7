from functools import cache

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.models import AgentProfile, ConversationReadMark, User

# Apps to the right of accounts react when an agent frees or gains capacity (routing drains its
# queue). They register here by dotted path, in the spirit of messaging.pipeline.INBOUND_HANDLERS,
# so the flow stays greppable instead of hiding in signals. Called as handler(profile=...) after
# the change commits.
CAPACITY_CHANGED_HANDLERS: list[str] = ["tickets.routing.routing_on_capacity_changed"]

AGENT_EDITABLE_FIELDS = {"is_available", "max_concurrent_conversations"}


@cache
def _capacity_handlers():
    return [import_string(path) for path in CAPACITY_CHANGED_HANDLERS]


def agent_capacity_changed(*, profile: AgentProfile) -> None:
    for handler in _capacity_handlers():
        handler(profile=profile)


@transaction.atomic
def agent_profile_update(*, profile: AgentProfile, **fields) -> AgentProfile:
    """Change an agent's availability or capacity; routing hears about it once it commits."""
    unknown = set(fields) - AGENT_EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"Not an agent setting: {', '.join(sorted(unknown))}.")
    for name, value in fields.items():
        setattr(profile, name, value)
    profile.save(update_fields=list(fields))
    transaction.on_commit(lambda: agent_capacity_changed(profile=profile))
    return profile


def conversation_read_mark(*, user, conversation, at=None) -> None:
    """Remember that `user` has read `conversation` up to `at` (default now).

    One row per (user, conversation), written as an insert-on-conflict so two tabs of the same
    agent never collide.
    """
    ConversationReadMark.objects.bulk_create(
        [
            ConversationReadMark(
                user=user, conversation=conversation, last_read_at=at or timezone.now()
            )
        ],
        update_conflicts=True,
        unique_fields=["user", "conversation"],
        update_fields=["last_read_at"],
    )


def agent_assigned_mark(*, user, at) -> None:
    """Remember when the agent last got a conversation: round robin picks the longest idle."""
    AgentProfile.objects.filter(user=user).update(last_assigned_at=at)


def user_language_set(*, user, language: str) -> None:
    """Save the language the user reads Switchboard in ("" for the browser's)."""
    if language and language not in dict(settings.LANGUAGES):
        raise ValueError(f"Not a language Switchboard speaks: {language!r}.")
    User.objects.filter(pk=user.pk).update(language=language)
    user.language = language
