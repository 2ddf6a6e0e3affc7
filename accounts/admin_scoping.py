"""Role scoping for ModelAdmins: the admin shows a staff member exactly what the role selectors
let them see, and quality control only ever reads.

Permissions come from the role (accounts.selectors.user_role), not from Django's per-model
permission rows, so one policy decides for the inbox, the API and the admin alike, and there is
no group to keep in sync with the role. Superusers act as managers.

Use it first in the bases, and name the selector of the entity:

    class ContactAdmin(RoleScopedAdminMixin, admin.ModelAdmin):
        role_selector = staticmethod(contact_list_visible_to)
        role_object_writable = staticmethod(
            lambda *, user, obj: contact_is_writable_by(user=user, contact=obj)
        )
"""

from accounts.models import Role
from accounts.selectors import user_role


class RoleScopedAdminMixin:
    # A selector `f(*, user) -> QuerySet` of the rows the user may see (required).
    role_selector = None
    # Optional `f(*, user, obj) -> bool`: may the user change this row? Default: any role but
    # quality control may change what it sees.
    role_object_writable = None
    # Roles that may add and delete rows of this model.
    role_can_add = (Role.MANAGER, Role.SALES_REP)
    role_can_delete = (Role.MANAGER,)

    def _role(self, request):
        return user_role(user=request.user)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        if self.role_selector is None:
            raise NotImplementedError(f"{type(self).__name__} needs a role_selector.")
        # A pk subquery keeps the admin's own ordering, select_related and annotations.
        return queryset.filter(pk__in=self.role_selector(user=request.user).values("pk"))

    def has_module_permission(self, request):
        return request.user.is_active and self._role(request) is not None

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and self._role(request) is not None

    def has_change_permission(self, request, obj=None):
        role = self._role(request)
        if role not in (Role.MANAGER, Role.SALES_REP):
            return False
        if obj is not None and role != Role.MANAGER and self.role_object_writable is not None:
            return self.role_object_writable(user=request.user, obj=obj)
        return True

    def has_add_permission(self, request, *args):
        return self._role(request) in self.role_can_add

    def has_delete_permission(self, request, obj=None):
        return self._role(request) in self.role_can_delete

    def get_actions(self, request):
        # Actions write (retry, reprocess, close...): quality control gets none.
        if self._role(request) == Role.QUALITY_CONTROL:
            return {}
        return super().get_actions(request)


class RoleScopedInlineMixin:
    """For inlines under a role-scoped admin (messages of a conversation, comments of a ticket):
    visible with the parent, read-only for quality control, never deleted but by managers."""

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and user_role(user=request.user) is not None

    def has_change_permission(self, request, obj=None):
        return user_role(user=request.user) in (Role.MANAGER, Role.SALES_REP)

    def has_add_permission(self, request, obj=None):
        return user_role(user=request.user) in (Role.MANAGER, Role.SALES_REP)

    def has_delete_permission(self, request, obj=None):
        return user_role(user=request.user) == Role.MANAGER
