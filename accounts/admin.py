from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from accounts.admin_scoping import RoleScopedAdminMixin
from accounts.models import AgentProfile, Role, User
from accounts.selectors import (
    agent_profile_is_writable_by,
    agent_profile_list_visible_to,
    user_role,
)
from accounts.services import agent_capacity_changed

# Inlines that apps to the right add to the agent's page, by dotted path (accounts imports no
# app to its right): the maximum per channel type lives with the channel types, in messaging.
AGENT_PROFILE_INLINES: list[str] = ["messaging.admin_services.AgentCapacityInline"]


class AgentProfileInline(admin.StackedInline):
    model = AgentProfile
    can_delete = False
    extra = 1
    max_num = 1
    filter_horizontal = ("channels",)


# Only administrators manage logins and permissions (Django's own model permissions apply).
@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [AgentProfileInline]
    fieldsets = (*BaseUserAdmin.fieldsets, (_("Preferences"), {"fields": ("language",)}))
    list_display = ("username", "email", "first_name", "last_name", "role", "is_superuser")
    list_select_related = ("agent_profile",)
    list_filter = ("agent_profile__role", "is_staff", "is_superuser", "is_active")

    @admin.display(description=_("Role"), ordering="agent_profile__role")
    def role(self, obj):
        profile = getattr(obj, "agent_profile", None)
        if obj.is_superuser:
            return _("Administrator")
        return profile.get_role_display() if profile else "—"


@admin.register(AgentProfile)
class AgentProfileAdmin(RoleScopedAdminMixin, admin.ModelAdmin):
    """Agents as routing sees them: managers set capacity, channels and availability; a sales rep
    sees their own profile and may switch their availability."""

    role_selector = staticmethod(agent_profile_list_visible_to)
    role_object_writable = staticmethod(agent_profile_is_writable_by)
    role_can_add = (Role.MANAGER,)
    list_display = (
        "user",
        "role",
        "is_available",
        "max_concurrent_conversations",
        "per_type",
        "service_list",
    )
    list_filter = ("role", "is_available", "services", "channels")
    list_select_related = ("user",)
    filter_horizontal = ("channels",)
    search_fields = ("user__username", "user__first_name", "user__last_name")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("capacities", "services")

    def get_inlines(self, request, obj):
        # Managers edit the maxima there; the others read them in the "per_type" field.
        if user_role(user=request.user) != Role.MANAGER:
            return []
        return [import_string(path) for path in AGENT_PROFILE_INLINES]

    def get_readonly_fields(self, request, obj=None):
        if user_role(user=request.user) == Role.MANAGER:
            return ("service_list", "last_assigned_at")
        return (
            "user",
            "role",
            "channels",
            "max_concurrent_conversations",
            "per_type",
            "service_list",
            "last_assigned_at",
        )

    @admin.display(description="Maximum per channel type")
    def per_type(self, obj):
        return ", ".join(str(capacity) for capacity in obj.capacities.all()) or "—"

    @admin.display(description="Services")
    def service_list(self, obj):
        return ", ".join(service.name for service in obj.services.all()) or "—"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # Freed capacity (or a newly available agent) lets routing hand out waiting chats.
        transaction.on_commit(lambda: agent_capacity_changed(profile=obj))
