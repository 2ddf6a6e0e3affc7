from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from crm.models import Company, Contact
from crm.phones import phone_normalize
from crm.selectors import contact_search


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ("kind", "name", "phone", "email", "company", "responsible")

    def clean_phone(self):
        try:
            return phone_normalize(self.cleaned_data["phone"])
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from exc


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    form = ContactForm
    list_display = ("name", "phone", "kind", "company", "responsible", "updated_at")
    list_filter = ("kind", "responsible")
    list_select_related = ("company", "responsible")
    search_fields = ("name", "phone", "email")
    search_help_text = "Name, email, or a phone number in any format (+39 335…, 0039…, 335…)."
    autocomplete_fields = ("company", "responsible")
    readonly_fields = ("created_at", "updated_at")

    def get_search_results(self, request, queryset, search_term):
        return contact_search(queryset=queryset, term=search_term), False


class ContactInline(admin.TabularInline):
    model = Contact
    fields = ("name", "phone", "kind", "responsible")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "phone", "responsible", "updated_at")
    list_select_related = ("responsible",)
    search_fields = ("name", "email", "vat_number")
    list_filter = ("responsible",)
    inlines = [ContactInline]
