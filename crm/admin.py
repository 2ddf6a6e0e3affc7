from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.admin_lists import RelatedSeenFilter
from accounts.admin_scoping import RoleScopedAdminMixin, RoleScopedInlineMixin
from accounts.models import Role
from crm import admin_sections
from crm.models import Company, Contact, Deal, DealStatus, Pipeline, Stage
from crm.phones import phone_normalize
from crm.selectors import (
    company_contact_totals,
    company_is_writable_by,
    company_list_visible_to,
    company_open_deal_totals,
    contact_is_writable_by,
    contact_list_visible_to,
    contact_open_deal_totals,
    contact_search,
    deal_is_writable_by,
    deal_list_visible_to,
    pipeline_list_visible_to,
)
from crm.services import (
    COMPANY_FIELDS,
    company_create,
    company_update,
    contact_assign_responsible,
    contact_convert_to_customer,
    contact_create,
    contact_update,
    deal_close,
    deal_contacts_set,
    deal_create,
    deal_reopen,
    deal_stage_resolve,
    deal_update,
)

OPEN_DEALS = Q(deals__status=DealStatus.OPEN)


def _staff_users():
    return get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")


class CrmScopedAdmin(RoleScopedAdminMixin, admin.ModelAdmin):
    """What the crm pages share under role scoping.

    - Only managers say who is responsible: for anyone else the field is read-only, and a sales
      rep's new record is their own.
    - The user picker is a plain list of active staff unless the viewer is a superuser: the
      user admin (which serves autocompletes) is for administrators only.
    - Company and contact pickers offer only rows the viewer may see (their autocompletes go
      through the scoped contact and company admins).
    """

    def _is_manager(self, request) -> bool:
        return self._role(request) == Role.MANAGER

    def get_autocomplete_fields(self, request):
        fields = super().get_autocomplete_fields(request)
        if request.user.is_superuser:
            return fields
        return tuple(field for field in fields if field != "responsible")

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        if self._is_manager(request) or "responsible" in fields:
            return fields
        return (*fields, "responsible")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            if db_field.name == "responsible":
                kwargs["queryset"] = _staff_users()
            elif db_field.remote_field.model is Company:
                kwargs["queryset"] = company_list_visible_to(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if not request.user.is_superuser and db_field.remote_field.model is Contact:
            kwargs["queryset"] = contact_list_visible_to(user=request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _responsible_for_save(self, request, form, obj, change):
        """The responsible user to store: the form's for a manager, else unchanged (on a new
        record, the sales rep themselves)."""
        if "responsible" in form.cleaned_data:
            return form.cleaned_data["responsible"]
        if change:
            return obj.responsible
        return request.user if self._role(request) == Role.SALES_REP else None

    def _saved(self, obj, created):
        # The admin goes on with the instance its form built: point it at the created row.
        obj.pk = created.pk
        obj.refresh_from_db()
        obj._state.adding = False

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            # The sections of the page list only what this viewer may see.
            obj.admin_viewer = request.user
        return obj


# Contacts


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ("kind", "name", "phone", "handle", "email", "company", "responsible")

    def clean_phone(self):
        phone = self.cleaned_data["phone"]
        if not phone:
            # A contact found by a WhatsApp username or a Telegram chat has no phone; a new one
            # typed here is reached by phone, so it needs one.
            if self.instance.pk is None:
                raise forms.ValidationError("A new contact needs a phone number.")
            return None
        try:
            return phone_normalize(phone)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from exc


class AssignResponsibleForm(forms.Form):
    responsible = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        required=False,
        empty_label="Nobody",
    )


@admin.register(Contact)
class ContactAdmin(CrmScopedAdmin):
    role_selector = staticmethod(contact_list_visible_to)
    role_object_writable = staticmethod(
        lambda *, user, obj: contact_is_writable_by(user=user, contact=obj)
    )
    form = ContactForm
    list_display = ("name", "reach", "kind", "company", "responsible", "open_deals", "updated_at")
    # Filter choices come from the rows the viewer sees, so no other client's company shows.
    list_filter = (
        "kind",
        ("responsible", RelatedSeenFilter),
        ("company", RelatedSeenFilter),
    )
    list_select_related = ("company", "responsible")
    search_fields = ("name", "phone", "email", "handle", "addresses__address")
    search_help_text = (
        "Name, email, username, or a phone number in any format (+39 335…, 0039…, 335…)."
    )
    autocomplete_fields = ("company", "responsible")
    readonly_fields = (
        "created_at",
        "updated_at",
        "addresses_section",
        "conversations_section",
        "tickets_section",
        "deals_section",
        "consent_section",
        "erased_at",
        "send_record",
    )
    actions = ("convert_to_customer", "assign_responsible", "erase_contacts")
    # Served by the contact_recent index.
    ordering = ("-created_at", "-pk")

    def page_rows_prepare(self, rows):
        totals = contact_open_deal_totals(contact_ids=[row.pk for row in rows])
        for row in rows:
            row.open_deal_total = totals.get(row.pk, 0)

    @admin.display(description=_("Phone or username"), ordering="phone")
    def reach(self, obj):
        return obj.reach

    def get_search_results(self, request, queryset, search_term):
        return contact_search(queryset=queryset, term=search_term), False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self._is_manager(request):
            # Handing clients to someone else is a transfer: managers only; so is erasure.
            actions.pop("assign_responsible", None)
            actions.pop("erase_contacts", None)
        return actions

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The GDPR links of the page: the export for whoever sees the contact, the erasure for
        # managers and administrators (the erase page checks again).
        extra_context = {**(extra_context or {}), "may_erase": self._is_manager(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        details = {
            field: form.cleaned_data[field]
            for field in ContactForm.Meta.fields
            if field in form.cleaned_data
        }
        details["responsible"] = self._responsible_for_save(request, form, obj, change)
        if change:
            contact_update(contact=obj, actor=request.user, **details)
            return
        self._saved(obj, contact_create(actor=request.user, **details))

    def get_fieldsets(self, request, obj=None):
        details = (None, {"fields": [*ContactForm.Meta.fields, "created_at", "updated_at"]})
        if obj is None:
            return [details]
        if obj.erased_at is not None:
            details[1]["fields"].append("erased_at")
        return [
            details,
            ("Consent", {"fields": ["consent_section"]}),
            ("Addresses", {"fields": ["addresses_section"]}),
            ("Conversations", {"fields": ["conversations_section"]}),
            ("Tickets", {"fields": ["tickets_section"]}),
            ("Deals", {"fields": ["deals_section"]}),
            *_other_systems(request),
        ]

    @admin.display(description=_("Open deals"))
    def open_deals(self, obj):
        return obj.open_deal_total

    @admin.display(description=_("Addresses"))
    def addresses_section(self, obj):
        return admin_sections.addresses_table(obj)

    @admin.display(description=_("Consent"))
    def consent_section(self, obj):
        return admin_sections.consent_table(obj)

    @admin.display(description=_("Conversations"))
    def conversations_section(self, obj):
        return admin_sections.conversations_table(obj)

    @admin.display(description=_("Tickets"))
    def tickets_section(self, obj):
        return admin_sections.tickets_table(obj)

    @admin.display(description=_("Deals"))
    def deals_section(self, obj):
        return admin_sections.contact_deals_table(obj, deals=_deals_seen(obj, obj.deals.all()))

    @admin.display(description=_("Send contact record"))
    def send_record(self, obj):
        return _send_record_link("contact", obj)

    @admin.action(description=_("Convert selected leads to customers"), permissions=["change"])
    def convert_to_customer(self, request, queryset):
        converted, refused = 0, []
        for contact in queryset:
            try:
                converted += contact_convert_to_customer(contact=contact, actor=request.user)
            except ValidationError as exc:
                refused.extend(exc.messages)
        skipped = len(queryset) - converted - len(refused)
        note = f" ({skipped} already customers)" if skipped else ""
        self.message_user(request, f"{converted} converted to customers{note}.")
        for message in refused:
            self.message_user(request, message, messages.WARNING)

    @admin.action(description=_("Erase selected contacts (GDPR)…"), permissions=["change"])
    def erase_contacts(self, request, queryset):
        """To the confirmation page; nothing is erased before it is confirmed there."""
        url = admin_sections.admin_url("crm_contact_erase")
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(f"{url}?ids={ids}")

    @admin.action(description=_("Assign a responsible user"), permissions=["change"])
    def assign_responsible(self, request, queryset):
        form = AssignResponsibleForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            responsible = form.cleaned_data["responsible"]
            for contact in queryset:
                contact_assign_responsible(
                    contact=contact, responsible=responsible, actor=request.user
                )
            who = responsible or "nobody"
            self.message_user(request, f"{len(queryset)} contacts assigned to {who}.")
            return None
        return TemplateResponse(
            request,
            "admin/crm/contact/assign_responsible.html",
            {
                **self.admin_site.each_context(request),
                "title": "Assign a responsible user",
                "opts": self.model._meta,
                "form": form,
                "contacts": queryset.order_by("name", "phone"),
                "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across", "0"),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            },
        )


# Companies


class ContactInline(RoleScopedInlineMixin, admin.TabularInline):
    role_selector = staticmethod(contact_list_visible_to)
    model = Contact
    fields = ("name", "phone", "kind", "responsible")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("responsible")

    def has_add_permission(self, request, obj=None):
        return False


class CompanyForm(forms.ModelForm):
    website = forms.URLField(required=False, assume_scheme="https")

    class Meta:
        model = Company
        fields = ("name", "email", "phone", "website", "vat_number", "responsible")


@admin.register(Company)
class CompanyAdmin(CrmScopedAdmin):
    role_selector = staticmethod(company_list_visible_to)
    role_object_writable = staticmethod(
        lambda *, user, obj: company_is_writable_by(user=user, company=obj)
    )
    form = CompanyForm
    list_display = (
        "name",
        "email",
        "phone",
        "responsible",
        "contact_count",
        "open_deals",
        "updated_at",
    )
    list_select_related = ("responsible",)
    search_fields = ("name", "email", "vat_number")
    list_filter = (("responsible", admin.RelatedOnlyFieldListFilter),)
    autocomplete_fields = ("responsible",)
    readonly_fields = ("deals_section", "send_record")
    inlines = [ContactInline]
    ordering = ("name", "pk")

    def page_rows_prepare(self, rows):
        ids = [row.pk for row in rows]
        contacts = company_contact_totals(company_ids=ids)
        deals = company_open_deal_totals(company_ids=ids)
        for row in rows:
            row.contact_total = contacts.get(row.pk, 0)
            row.open_deal_total = deals.get(row.pk, 0)

    def save_model(self, request, obj, form, change):
        details = {
            field: form.cleaned_data[field]
            for field in COMPANY_FIELDS
            if field in form.cleaned_data
        }
        details["responsible"] = self._responsible_for_save(request, form, obj, change)
        if change:
            company_update(company=obj, actor=request.user, **details)
            return
        self._saved(obj, company_create(actor=request.user, **details))

    def get_fieldsets(self, request, obj=None):
        details = (
            None,
            {"fields": list(CompanyForm.Meta.fields)},
        )
        if obj is None:
            return [details]
        return [details, ("Deals", {"fields": ["deals_section"]}), *_other_systems(request)]

    @admin.display(description=_("Contacts"))
    def contact_count(self, obj):
        return obj.contact_total

    @admin.display(description=_("Open deals"))
    def open_deals(self, obj):
        return obj.open_deal_total

    @admin.display(description=_("Deals"))
    def deals_section(self, obj):
        return admin_sections.company_deals_table(obj, deals=_deals_seen(obj, obj.deals.all()))

    @admin.display(description=_("Send company record"))
    def send_record(self, obj):
        return _send_record_link("company", obj)


def _deals_seen(obj, deals):
    """The deals of a contact or company page, narrowed to those its viewer may see."""
    viewer = getattr(obj, "admin_viewer", None)
    if viewer is None or viewer.is_superuser:
        return deals
    return deals.filter(pk__in=deal_list_visible_to(user=viewer).values("pk"))


def _other_systems(request) -> list:
    # Pushing a record to an integration account is an administrator's page.
    if not request.user.is_superuser:
        return []
    return [("Other systems", {"fields": ["send_record"]})]


def _send_record_link(object_type: str, obj):
    # The page lives with the integration accounts; crm only knows its URL name.
    url = reverse("admin:integrations_send_record", args=[object_type, obj.pk])
    return format_html('<a class="button" href="{}">Push it now to an account…</a>', url)


# Pipelines


class StageInline(RoleScopedInlineMixin, admin.TabularInline):
    model = Stage
    fields = ("position", "name")
    ordering = ("position", "pk")
    extra = 1


@admin.register(Pipeline)
class PipelineAdmin(RoleScopedAdminMixin, admin.ModelAdmin):
    """Every role places deals on the pipelines; only managers shape them."""

    role_selector = staticmethod(pipeline_list_visible_to)
    role_can_change = role_can_add = (Role.MANAGER,)
    list_display = ("name", "stage_names", "open_deals", "created_at")
    search_fields = ("name",)
    inlines = [StageInline]
    ordering = ("name",)

    def get_queryset(self, request):
        stages = Prefetch("stages", queryset=Stage.objects.order_by("position", "pk"))
        return (
            super()
            .get_queryset(request)
            .annotate(open_deal_total=Count("deals", filter=OPEN_DEALS))
            .prefetch_related(stages)
        )

    @admin.display(description=_("Stages"))
    def stage_names(self, obj):
        return " → ".join(stage.name for stage in obj.stages.all())

    @admin.display(description=_("Open deals"), ordering="open_deal_total")
    def open_deals(self, obj):
        return obj.open_deal_total


# Deals


class StageListFilter(admin.RelatedFieldListFilter):
    """Stages labelled with their pipeline in one query, narrowed to the chosen pipeline."""

    def field_choices(self, field, request, model_admin):
        stages = Stage.objects.select_related("pipeline").order_by(
            "pipeline__name", "position", "pk"
        )
        pipeline = request.GET.get("pipeline__id__exact", "")
        if pipeline.isdigit():
            stages = stages.filter(pipeline_id=pipeline)
        return [(stage.pk, str(stage)) for stage in stages]


class DealForm(forms.ModelForm):
    class Meta:
        model = Deal
        fields = ("name", "pipeline", "stage", "contacts", "responsible", "company", "amount")
        help_texts = {
            "stage": "Empty: the pipeline's first stage. After changing the pipeline, save once "
            "to see its stages here.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stage = self.fields.get("stage")
        if stage is None:
            return  # a read-only page (quality control, a colleague's deal) has no stage field
        stage.required = False
        pipeline_id = (
            self.instance.pipeline_id if self.instance.pk else self.initial.get("pipeline")
        )
        if pipeline_id:
            # One pipeline: its stages in order, by name alone.
            stage.queryset = Stage.objects.filter(pipeline_id=pipeline_id).order_by("position")
            stage.label_from_instance = lambda obj: obj.name
        else:
            stage.queryset = Stage.objects.select_related("pipeline").order_by(
                "pipeline__name", "position", "pk"
            )

    def clean(self):
        cleaned = super().clean()
        pipeline = cleaned.get("pipeline")
        if pipeline is not None and "stage" not in self.errors:
            try:
                cleaned["stage"] = deal_stage_resolve(pipeline=pipeline, stage=cleaned.get("stage"))
            except ValidationError as exc:
                self.add_error(None, exc)
        return cleaned


DEAL_DETAILS = ("name", "pipeline", "stage", "responsible", "company", "amount")


@admin.register(Deal)
class DealAdmin(CrmScopedAdmin):
    role_selector = staticmethod(deal_list_visible_to)
    role_object_writable = staticmethod(
        lambda *, user, obj: deal_is_writable_by(user=user, deal=obj)
    )
    form = DealForm
    list_display = (
        "name",
        "pipeline",
        "stage_name",
        "status",
        "responsible",
        "contact_names",
        "company",
        "amount",
        "created_at",
    )
    list_filter = (
        "status",
        "pipeline",
        ("stage", StageListFilter),
        ("responsible", admin.RelatedOnlyFieldListFilter),
    )
    list_select_related = ("pipeline", "stage", "responsible", "company")
    search_fields = ("name",)
    search_help_text = "Deal name, or a contact's name, username or phone in any format."
    autocomplete_fields = ("contacts", "responsible", "company")
    readonly_fields = ("status", "closed_at", "created_at", "updated_at")
    actions = ("mark_won", "mark_lost", "reopen")

    def get_queryset(self, request):
        contacts = Prefetch("contacts", queryset=Contact.objects.only("name", "phone", "handle"))
        return super().get_queryset(request).prefetch_related(contacts)

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        matching_contacts = contact_search(queryset=Contact.objects.all(), term=search_term)
        # A subquery rather than a join keeps one row per deal however many contacts match.
        member = Deal.contacts.through.objects.filter(contact__in=matching_contacts)
        return queryset.filter(
            Q(name__icontains=search_term.strip()) | Q(pk__in=member.values("deal_id"))
        ), False

    @admin.display(description=_("Stage"), ordering="stage__position")
    def stage_name(self, obj):
        return obj.stage.name

    @admin.display(description=_("Contacts"))
    def contact_names(self, obj):
        return ", ".join(contact.name or contact.reach for contact in obj.contacts.all())

    def save_model(self, request, obj, form, change):
        details = {
            field: form.cleaned_data[field] for field in DEAL_DETAILS if field != "responsible"
        }
        details["responsible"] = self._responsible_for_save(request, form, obj, change)
        if change:
            deal_update(deal=obj, actor=request.user, **details)
            return
        deal = deal_create(contacts=form.cleaned_data["contacts"], actor=request.user, **details)
        self._saved(obj, deal)

    def save_related(self, request, form, formsets, change):
        if change:
            deal_contacts_set(
                deal=form.instance, contacts=form.cleaned_data["contacts"], actor=request.user
            )
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def _apply(self, request, queryset, service, done: str):
        changed, refused = 0, []
        for deal in queryset.select_related("pipeline"):
            try:
                service(deal)
            except ValidationError as exc:
                refused.extend(exc.messages)
            else:
                changed += 1
        if changed:
            self.message_user(request, f"{changed} deals {done}.")
        for message in refused:
            self.message_user(request, message, messages.WARNING)

    @admin.action(description=_("Mark selected deals won"), permissions=["change"])
    def mark_won(self, request, queryset):
        self._apply(
            request,
            queryset,
            lambda deal: deal_close(deal=deal, won=True, actor=request.user),
            "marked won",
        )

    @admin.action(description=_("Mark selected deals lost"), permissions=["change"])
    def mark_lost(self, request, queryset):
        self._apply(
            request,
            queryset,
            lambda deal: deal_close(deal=deal, won=False, actor=request.user),
            "marked lost",
        )

    @admin.action(description=_("Reopen selected deals"), permissions=["change"])
    def reopen(self, request, queryset):
        self._apply(
            request, queryset, lambda deal: deal_reopen(deal=deal, actor=request.user), "reopened"
        )
