from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import AgentProfile, User


class AgentProfileInline(admin.StackedInline):
    model = AgentProfile
    can_delete = False
    extra = 1
    max_num = 1


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [AgentProfileInline]
    list_display = ("username", "email", "first_name", "last_name", "role", "is_superuser")
    list_select_related = ("agent_profile",)
    list_filter = ("agent_profile__role", "is_staff", "is_superuser", "is_active")

    @admin.display(description="Role", ordering="agent_profile__role")
    def role(self, obj):
        profile = getattr(obj, "agent_profile", None)
        if obj.is_superuser:
            return "Administrator"
        return profile.get_role_display() if profile else "—"
