"""Labels and canned responses in the operator console. Managers define labels and shared
canned responses; a sales rep keeps their own canned responses; quality control reads."""

from django.contrib import admin
from django.db.models import Count, Q
from django.utils.html import format_html

from accounts.admin_scoping import RoleScopedAdminMixin
from accounts.models import Role
from accounts.selectors import user_role
from tickets.models_inbox import CannedResponse, Label
from tickets.services_inbox import canned_response_save, label_save


def _all_labels(*, user):
    return Label.objects.all()


def _canned_visible(*, user):
    if user_role(user=user) in (Role.MANAGER, Role.QUALITY_CONTROL):
        return CannedResponse.objects.all()
    return CannedResponse.objects.filter(Q(owner__isnull=True) | Q(owner=user))


@admin.register(Label)
class LabelAdmin(RoleScopedAdminMixin, admin.ModelAdmin):
    role_selector = staticmethod(_all_labels)
    role_can_change = (Role.MANAGER,)
    role_can_add = (Role.MANAGER,)
    list_display = ["chip", "description", "conversation_total"]
    search_fields = ["name", "description"]
    fields = ["name", "colour", "description"]

    def get_queryset(self, request):
        # One grouped query for the page: labels are few, the count is of a small join table.
        return super().get_queryset(request).annotate(conversation_total=Count("conversations"))

    @admin.display(description="Label", ordering="name")
    def chip(self, obj):
        return format_html(
            '<span style="background:{};color:#fff;border-radius:999px;padding:0 .6em">{}</span>',
            obj.colour,
            obj.name,
        )

    @admin.display(description="Conversations", ordering="conversation_total")
    def conversation_total(self, obj):
        return obj.conversation_total

    def save_model(self, request, obj, form, change):
        label_save(label=obj, actor=request.user)


@admin.register(CannedResponse)
class CannedResponseAdmin(RoleScopedAdminMixin, admin.ModelAdmin):
    role_selector = staticmethod(_canned_visible)
    role_object_writable = staticmethod(lambda *, user, obj: obj.owner_id == user.pk)
    role_can_delete = (Role.MANAGER, Role.SALES_REP)
    list_display = ["shortcode", "title", "owner", "attachment"]
    list_filter = [("owner", admin.EmptyFieldListFilter)]
    list_select_related = ["owner"]
    search_fields = ["shortcode", "title", "text"]

    def get_fields(self, request, obj=None):
        fields = ["title", "shortcode", "text", "attachment"]
        # Only a manager chooses the owner (empty = shared); a rep's are their own.
        if user_role(user=request.user) == Role.MANAGER:
            fields.append("owner")
        return fields

    def has_delete_permission(self, request, obj=None):
        if not super().has_delete_permission(request, obj):
            return False
        role = user_role(user=request.user)
        return role == Role.MANAGER or obj is None or obj.owner_id == request.user.pk

    def delete_queryset(self, request, queryset):
        # The list's bulk delete too: a sales rep deletes only their own.
        if user_role(user=request.user) != Role.MANAGER:
            queryset = queryset.filter(owner=request.user)
        super().delete_queryset(request, queryset)

    def save_model(self, request, obj, form, change):
        canned_response_save(canned=obj, actor=request.user)
