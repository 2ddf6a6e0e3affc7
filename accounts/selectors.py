from django.db.models import QuerySet

from accounts.models import AgentProfile, Role


def user_role(*, user) -> str | None:
    """The role a user acts with. Superusers act as managers; staff without a profile have none."""
    if user is None or not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.MANAGER
    profile = getattr(user, "agent_profile", None)
    return profile.role if profile else None


def agent_profile_list_visible_to(*, user) -> QuerySet[AgentProfile]:
    """Managers and quality control see every agent; a sales rep sees their own profile."""
    role = user_role(user=user)
    profiles = AgentProfile.objects.select_related("user")
    if role in (Role.MANAGER, Role.QUALITY_CONTROL):
        return profiles
    if role == Role.SALES_REP:
        return profiles.filter(user=user)
    return profiles.none()


def agent_profile_is_writable_by(*, user, obj: AgentProfile) -> bool:
    """Managers change any agent; a sales rep only their own availability."""
    role = user_role(user=user)
    return role == Role.MANAGER or (role == Role.SALES_REP and obj.user_id == user.pk)


def agent_profile_of(*, user) -> AgentProfile | None:
    return AgentProfile.objects.filter(user=user).first()


def agent_list_for_transfer():
    """Who a manager can hand a conversation to: active sales reps and managers."""
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(is_active=True, agent_profile__role__in=(Role.SALES_REP, Role.MANAGER))
        .order_by("first_name", "username")
    )


def user_may_see_reports(*, user) -> bool:
    """Reports compare agents with one another: managers (and administrators) only. Quality
    control reads every conversation but not the team's figures; a sales rep neither."""
    return user_role(user=user) == Role.MANAGER
