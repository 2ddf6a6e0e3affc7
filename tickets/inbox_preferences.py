"""The inbox's attention settings per user: read and written here, views stay thin."""

from tickets.models import InboxPreference


def inbox_preference_of(*, user) -> InboxPreference:
    """The user's settings, unsaved defaults (both off) when they never chose."""
    found = InboxPreference.objects.filter(user=user).first()
    return found or InboxPreference(user=user)


def inbox_preference_update(*, user, sound: bool, desktop_notifications: bool) -> InboxPreference:
    preference, _created = InboxPreference.objects.update_or_create(
        user=user, defaults={"sound": sound, "desktop_notifications": desktop_notifications}
    )
    return preference
