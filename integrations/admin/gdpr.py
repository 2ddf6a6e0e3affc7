"""GDPR in the admin: the erasure log, a contact's export download, and the erasure's
confirmation page (reached from the contact page or the contacts list action)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts.admin_scoping import RoleScopedAdminMixin
from accounts.models import Role
from accounts.selectors import user_role
from crm.models import ContactErasure
from crm.selectors import contact_list_visible_to
from integrations.services.gdpr import contact_erase, contact_erase_allowed, contact_export


def _erasures_visible(*, user):
    if user_role(user=user) in (Role.MANAGER, Role.QUALITY_CONTROL):
        return ContactErasure.objects.all()
    return ContactErasure.objects.none()


@admin.register(ContactErasure)
class ContactErasureAdmin(RoleScopedAdminMixin, admin.ModelAdmin):
    role_selector = staticmethod(_erasures_visible)
    list_display = ("erased_at", "contact_id", "erased_by", "counts", "crm_results")
    list_select_related = ("erased_by",)
    readonly_fields = ("contact", "erased_by", "erased_at", "counts", "crm_results")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("erase/", wrap(self.erase_view), name="crm_contact_erase"),
            path("export/<int:contact_id>/", wrap(self.export_view), name="crm_contact_export"),
            *super().get_urls(),
        ]

    def export_view(self, request, contact_id: int):
        contact = get_object_or_404(contact_list_visible_to(user=request.user), pk=contact_id)
        response = HttpResponse(contact_export(contact=contact), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="contact-{contact.pk}.zip"'
        return response

    def erase_view(self, request):
        if not contact_erase_allowed(user=request.user):
            raise PermissionDenied
        raw = request.POST.get("ids") or request.GET.get("ids") or ""
        ids = [int(part) for part in raw.split(",") if part.strip().isdigit()]
        contacts = list(
            contact_list_visible_to(user=request.user)
            .filter(pk__in=ids, erased_at__isnull=True)
            .order_by("name", "pk")
        )
        changelist = reverse("admin:crm_contact_changelist")
        if request.method == "POST" and request.POST.get("confirm") == "yes" and contacts:
            for contact in contacts:
                erasure = contact_erase(contact=contact, actor=request.user)
                refused = {k: v for k, v in erasure.crm_results.items() if v != "deleted"}
                for account, outcome in refused.items():
                    self.message_user(request, f"{account}: {outcome}", messages.WARNING)
            self.message_user(request, f"{len(contacts)} contact(s) erased.")
            return HttpResponseRedirect(changelist)
        return TemplateResponse(
            request,
            "admin/crm/contact/erase_confirm.html",
            {
                **self.admin_site.each_context(request),
                "title": "Erase contacts (GDPR)",
                "opts": ContactErasure._meta,
                "contacts": contacts,
                "ids": ",".join(str(c.pk) for c in contacts),
                "cancel_url": changelist,
            },
        )
