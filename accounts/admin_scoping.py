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

The admin only decides what to show and offer; the services behind its forms and actions check
the role again, so a form posted by hand is refused there too.
"""

from accounts.admin_lists import BoundedListAdminMixin
from accounts.models import Role
from accounts.selectors import user_role

WRITERS = (Role.MANAGER, Role.SALES_REP)


class RoleScopedAdminMixin(BoundedListAdminMixin):
    # A selector `f(*, user) -> QuerySet` of the rows the user may see (required).
    role_selector = None
    # Optional `f(*, user, obj) -> bool`: may the user change this row? Default: any role in
    # role_can_change may change what it sees.
    role_object_writable = None
    # Roles that may change, add and delete rows of this model.
    role_can_change = WRITERS
    role_can_add = WRITERS
    role_can_delete = (Role.MANAGER,)

    def _role(self, request):
        return user_role(user=request.user)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        if self.role_selector is None:
            raise NotImplementedError(f"{type(self).__name__} needs a role_selector.")
        # Once per request and admin: a rep's selector reads the ids of their rows first, and
        # a page asks for its queryset several times (list, filters, actions).
        cache = request.__dict__.setdefault("_role_visible", {})
        if type(self) not in cache:
            cache[type(self)] = self.role_selector(user=request.user)
        visible = cache[type(self)]
        if not visible.query.where:
            return queryset  # the role sees every row: no subquery to run
        if visible.model is queryset.model:
            # The selector's conditions added to the admin's query (its ordering, joins and
            # annotations kept): no `pk IN (...)` around them for the planner to join back.
            return queryset & visible
        return queryset.filter(pk__in=visible.values("pk"))

    def has_module_permission(self, request):
        return request.user.is_active and self._role(request) is not None

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and self._role(request) is not None

    def has_change_permission(self, request, obj=None):
        role = self._role(request)
        if role not in self.role_can_change:
            return False
        if obj is not None and role != Role.MANAGER and self.role_object_writable is not None:
            # Asked again and again by one page (the form, each inline, each button): once per
            # row and request.
            cache = request.__dict__.setdefault("_role_writable", {})
            key = (type(self), obj.pk)
            if key not in cache:
                cache[key] = self.role_object_writable(user=request.user, obj=obj)
            return cache[key]
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
    """For inlines under a role-scoped admin (messages of a conversation, contacts of a company):
    visible with the parent, writable exactly when the parent page is (so quality control and a
    rep on a colleague's row only read), never deleted but by managers.

    `role_selector`, when set, also narrows the inline's rows to what the user may see: a
    company's page lists only the contacts the viewer may see.
    """

    role_selector = None

    def _parent_admin(self):
        return self.admin_site._registry.get(self.parent_model)

    def _parent_writable(self, request, obj) -> bool:
        parent = self._parent_admin()
        if parent is None:
            return user_role(user=request.user) in WRITERS
        if obj is None:
            return parent.has_add_permission(request)
        return parent.has_change_permission(request, obj)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser or self.role_selector is None:
            return queryset
        return queryset.filter(pk__in=self.role_selector(user=request.user).values("pk"))

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and user_role(user=request.user) is not None

    def has_change_permission(self, request, obj=None):
        return user_role(user=request.user) in WRITERS and self._parent_writable(request, obj)

    def has_add_permission(self, request, obj=None):
        return user_role(user=request.user) in WRITERS and self._parent_writable(request, obj)

    def has_delete_permission(self, request, obj=None):
        return user_role(user=request.user) == Role.MANAGER and self._parent_writable(request, obj)
