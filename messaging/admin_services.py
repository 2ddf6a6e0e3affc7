"""Admin pages for services (their channels and agents, and who holds how much right now) and
the maximum per channel type on the agent's page. Managers change them; everyone with a role
reads them. Saving calls the services in messaging.services.service_setup, which tell routing."""

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.db.models import Count
from django.utils.html import format_html, format_html_join

from accounts.admin_scoping import RoleScopedAdminMixin
from accounts.models import AgentProfile, Role
from accounts.selectors import user_role
from messaging.agent_selectors import agent_loads, service_list_visible_to, transport_label
from messaging.models import AgentCapacity, Channel, Service
from messaging.services.service_setup import service_channels_set, service_delete

MANAGERS = (Role.MANAGER,)


class ChannelsWidget(FilteredSelectMultiple):
    """The two-box picker, wrapped as the admin wraps its own relation widgets, so the label
    stays on the left of the boxes (channels are a reverse relation, which the admin does not
    wrap by itself)."""

    def render(self, name, value, attrs=None, renderer=None):
        rendered = super().render(name, value, attrs, renderer)
        return format_html('<div class="related-widget-wrapper">{}</div>', rendered)


class ChannelChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        # Say where a channel is now: choosing it moves it from that service.
        return f"{obj} · {obj.service}" if obj.service_id else str(obj)


class ServiceForm(forms.ModelForm):
    channels = ChannelChoiceField(
        queryset=Channel.objects.select_related("service"),
        required=False,
        widget=ChannelsWidget("channels", is_stacked=False),
        help_text="A channel belongs to one service: choosing it here moves it from its "
        "current one.",
    )

    class Meta:
        model = Service
        fields = ("name", "description", "is_active", "channels", "agents")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["channels"].initial = list(
                self.instance.channels.values_list("pk", flat=True)
            )


@admin.register(Service)
class ServiceAdmin(RoleScopedAdminMixin, admin.ModelAdmin):
    form = ServiceForm
    role_selector = staticmethod(service_list_visible_to)
    role_can_change = role_can_add = role_can_delete = MANAGERS
    list_display = ("name", "is_active", "channel_list", "agent_list")
    list_filter = ("is_active",)
    search_fields = ("name", "description")
    filter_horizontal = ("agents",)
    readonly_fields = ("agents_now",)
    fieldsets = (
        (None, {"fields": ("name", "description", "is_active")}),
        ("Who answers", {"fields": ("channels", "agents", "agents_now")}),
    )

    def get_fieldsets(self, request, obj=None):
        if self.has_change_permission(request, obj):
            return self.fieldsets
        # Read-only: channels are a reverse relation with no field of the service to show.
        return (
            (None, {"fields": ("name", "description", "is_active")}),
            ("Who answers", {"fields": ("channel_list", "agents", "agents_now")}),
        )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related("channels", "agents__user")
            .annotate(channel_count=Count("channels", distinct=True))
        )

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "agents":
            kwargs["queryset"] = AgentProfile.objects.select_related("user").order_by(
                "user__first_name", "user__username"
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Also tells routing (on commit) about the agents the form just saved.
        service_channels_set(service=form.instance, channels=form.cleaned_data["channels"])

    def delete_model(self, request, obj):
        service_delete(service=obj)

    def delete_queryset(self, request, queryset):
        for service in queryset:
            service_delete(service=service)

    @admin.display(description="Channels", ordering="channel_count")
    def channel_list(self, obj):
        return ", ".join(channel.name for channel in obj.channels.all()) or "—"

    @admin.display(description="Agents")
    def agent_list(self, obj):
        return ", ".join(_agent_name(p) for p in obj.agents.all()) or "—"

    @admin.display(description="Agents now")
    def agents_now(self, obj):
        """Each agent's availability and open conversations against their maximum, per
        channel type (two queries for the whole table)."""
        if obj is None or obj.pk is None:
            return "—"
        agents = list(obj.agents.select_related("user").order_by("user__first_name", "pk"))
        if not agents:
            return "No agents yet."
        loads = agent_loads(profiles=agents)
        transports = sorted({channel.transport for channel in obj.channels.all()})
        rows = []
        for profile in agents:
            cells = []
            for transport in transports:
                load = loads[profile.pk].get(transport)
                open_, limit = (load.open, load.limit) if load else (0, _general(profile))
                cells.append(f"{transport_label(transport)} {open_} / {limit}")
            rows.append(
                (
                    _agent_name(profile),
                    profile.get_role_display(),
                    "available" if profile.is_available else "unavailable",
                    "; ".join(cells) or "no channels yet",
                )
            )
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html(
            '<table class="agents-now"><thead><tr><th>Agent</th><th>Role</th><th>Now</th>'
            "<th>Open / maximum per channel type</th></tr></thead><tbody>{}</tbody></table>",
            body,
        )


def _general(profile: AgentProfile) -> int:
    return profile.max_concurrent_conversations


def _agent_name(profile: AgentProfile) -> str:
    return profile.user.get_full_name() or profile.user.get_username()


class AgentCapacityInline(admin.TabularInline):
    """On the agent's page (listed in accounts.admin.AGENT_PROFILE_INLINES): the maximum of
    open conversations per channel type, counted across every service the agent works."""

    model = AgentCapacity
    extra = 1
    fields = ("transport", "max_interactions")
    verbose_name = "maximum per channel type"
    verbose_name_plural = "Maximum per channel type, counted across every service"

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and user_role(user=request.user) is not None

    def has_change_permission(self, request, obj=None):
        return user_role(user=request.user) in MANAGERS

    def has_add_permission(self, request, obj=None):
        return user_role(user=request.user) in MANAGERS

    def has_delete_permission(self, request, obj=None):
        return user_role(user=request.user) in MANAGERS
