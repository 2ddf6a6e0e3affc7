"""Admin pages for website widgets: settings and entries, the embed snippet to copy, a live
preview, QR posters to download, and the conversations each widget started. Managers change
them; every role reads them."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join, json_script

from accounts.admin_scoping import RoleScopedAdminMixin
from accounts.models import Role
from messaging.models import Channel, Widget, WidgetEntry
from messaging.services.widget_reference import widget_poster_reference
from messaging.services.widgets import (
    HEX_COLOUR,
    WHATSAPP_TRANSPORTS,
    entry_poster,
    origin_of,
    widget_embed_snippet,
    widget_entry_problem,
    widget_links,
    widget_public_config,
)
from messaging.widget_selectors import (
    widget_list_visible_to,
    widget_started_by_day,
    widget_started_by_page,
)
from messaging.widget_views import widget_app_script

MANAGERS = (Role.MANAGER,)
POSTER_KINDS = {"png": "image/png", "svg": "image/svg+xml"}


class WidgetForm(forms.ModelForm):
    class Meta:
        model = Widget
        fields = (
            "name",
            "is_active",
            "service",
            "allowed_origins",
            "greeting",
            "language",
            "color",
            "text_color",
            "position",
            "hours_days",
            "opens_at",
            "closes_at",
        )
        widgets = {
            "allowed_origins": forms.Textarea(attrs={"rows": 3}),
            "color": forms.TextInput(attrs={"type": "color"}),
            "text_color": forms.TextInput(attrs={"type": "color"}),
        }

    def clean_allowed_origins(self):
        lines = [line.strip() for line in self.cleaned_data["allowed_origins"].splitlines()]
        lines = [line for line in lines if line]
        bad = [line for line in lines if origin_of(line) != line.lower().rstrip("/")]
        if bad:
            raise ValidationError(
                "Write each site as its origin only, like https://www.example.com (no path): "
                + ", ".join(bad)
            )
        if not lines:
            raise ValidationError("Add at least one site that may show the widget.")
        return "\n".join(line.rstrip("/") for line in lines)

    def _clean_colour(self, name):
        value = self.cleaned_data[name]
        if not HEX_COLOUR.match(value):
            raise ValidationError("A colour in hex, like #1f7a5c.")
        return value.lower()

    def clean_color(self):
        return self._clean_colour("color")

    def clean_text_color(self):
        return self._clean_colour("text_color")

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("opens_at")) != bool(cleaned.get("closes_at")):
            raise ValidationError("Give both the opening and the closing time, or neither.")
        return cleaned


class EntryFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        service_id = self.instance.service_id
        for form in self.forms:
            channel = form.cleaned_data.get("channel") if hasattr(form, "cleaned_data") else None
            if channel is None or form.cleaned_data.get("DELETE"):
                continue
            problem = widget_entry_problem(channel=channel, service_id=service_id)
            if problem:
                form.add_error("channel", problem)


class WidgetEntryInline(admin.TabularInline):
    model = WidgetEntry
    formset = EntryFormSet
    extra = 0
    fields = ("position", "channel", "label", "prefilled_text", "poster")
    readonly_fields = ("poster",)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "channel":
            kwargs["queryset"] = Channel.objects.filter(
                transport__in=[*WHATSAPP_TRANSPORTS, "telegram"]
            ).select_related("service")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="QR poster")
    def poster(self, obj):
        if not obj.pk:
            return "—"
        links = [
            (reverse("admin:messaging_widget_poster", args=[obj.widget_id, obj.pk, kind]), kind)
            for kind in POSTER_KINDS
        ]
        return format_html_join(
            " · ", '<a href="{}" download class="poster-download">{}</a>', links
        )


@admin.register(Widget)
class WidgetAdmin(RoleScopedAdminMixin, admin.ModelAdmin):
    form = WidgetForm
    inlines = [WidgetEntryInline]
    role_selector = staticmethod(widget_list_visible_to)
    role_can_change = role_can_add = role_can_delete = MANAGERS
    list_display = ("name", "service", "is_active", "started_count")
    list_filter = ("is_active", "service")
    search_fields = ("name", "allowed_origins")
    readonly_fields = ("embed_snippet", "preview", "started")
    fieldsets = (
        (None, {"fields": ("name", "is_active", "service", "allowed_origins")}),
        (
            "What visitors see",
            {"fields": ("greeting", "language", "color", "text_color", "position")},
        ),
        ("Business hours", {"fields": ("hours_days", "opens_at", "closes_at")}),
        ("On your site", {"fields": ("embed_snippet", "preview")}),
        ("Conversations started", {"fields": ("started",)}),
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("service")
            .annotate(started_total=Count("conversations"))
        )

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.fieldsets[:3]
        return self.fieldsets

    def get_urls(self):
        poster = self.admin_site.admin_view(self.poster_view)
        return [
            path(
                "<int:widget_id>/poster/<int:entry_id>.<str:kind>",
                poster,
                name="messaging_widget_poster",
            ),
            *super().get_urls(),
        ]

    def poster_view(self, request, widget_id: int, entry_id: int, kind: str):
        if kind not in POSTER_KINDS:
            raise Http404("PNG or SVG.")
        widget = get_object_or_404(self.get_queryset(request), pk=widget_id)
        entry = get_object_or_404(widget.entries.select_related("channel__account"), pk=entry_id)
        reference = widget_poster_reference(widget=widget)
        response = HttpResponse(
            entry_poster(entry=entry, reference=reference, kind=kind),
            content_type=POSTER_KINDS[kind],
        )
        filename = f"widget-{widget.pk}-entry-{entry.pk}-qr.{kind}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    @admin.display(description="Started", ordering="started_total")
    def started_count(self, obj):
        return obj.started_total

    @admin.display(description="Embed snippet")
    def embed_snippet(self, obj):
        return format_html(
            '<textarea id="widget-snippet" readonly rows="2" cols="90">{}</textarea><br>'
            '<button type="button" class="button" id="widget-snippet-copy">Copy</button> '
            '<span id="widget-snippet-copied" aria-live="polite"></span>'
            '<p class="help">Paste it before &lt;/body&gt; on each page of the allowed sites.</p>',
            widget_embed_snippet(widget=obj),
        )

    @admin.display(description="Live preview")
    def preview(self, obj):
        _, version = widget_app_script()
        # Both languages, so the preview follows the language chosen before saving.
        configs = {
            language: widget_public_config(widget=obj, language=language)
            for language in ("en", "it")
        }
        links = widget_links(widget=obj, reference=None)
        return format_html(
            '<div id="widget-preview" style="position:relative;height:560px;width:380px;'
            'border:1px dashed #999;background:#f4f4f4"></div>'
            '<p class="help">Changes to the name, greeting, language, colours and position show '
            "here before you save. The QR codes carry no reference in the preview.</p>"
            '{}<script src="{}"></script>',
            json_script({"configs": configs, "links": links}, "widget-preview-data"),
            reverse("widget-app", kwargs={"version": version}),
        )

    @admin.display(description="Conversations started")
    def started(self, obj):
        by_day = widget_started_by_day(widget=obj)
        by_page = widget_started_by_page(widget=obj)
        if not by_day and not by_page:
            return format_html('<p id="widget-started-none">{}</p>', "None yet.")
        days = format_html_join(
            "", "<tr><td>{}</td><td>{}</td></tr>", ((f"{d:%Y-%m-%d}", n) for d, n in by_day)
        )
        pages = format_html_join(
            "", "<tr><td>{}</td><td>{}</td></tr>", ((p or "(unknown)", n) for p, n in by_page)
        )
        return format_html(
            '<div style="display:flex;gap:32px">'
            '<table id="widget-started-by-day"><caption>By day (30 days)</caption>'
            "<thead><tr><th>Day</th><th>Conversations</th></tr></thead><tbody>{}</tbody></table>"
            '<table id="widget-started-by-page"><caption>By page</caption>'
            "<thead><tr><th>Page</th><th>Conversations</th></tr></thead><tbody>{}</tbody></table>"
            "</div>",
            days,
            pages,
        )
