from accounts.models import Role


def user_role(*, user) -> str | None:
    """The role a user acts with. Superusers act as managers; staff without a profile have none."""
    if user is None or not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.MANAGER
    profile = getattr(user, "agent_profile", None)
    return profile.role if profile else None
