"""Demo data for the inbox, and the role-scoped admin: staff without a single Django permission
row log in and see only what their role allows."""

import pytest
from django.contrib import admin
from django.contrib.admin.sites import AdminSite
from django.core.management import call_command
from django.test import RequestFactory

from accounts.admin_scoping import RoleScopedAdminMixin
from accounts.models import AgentProfile, User
from crm.models import Contact, Pipeline
from crm.selectors import contact_is_writable_by, contact_list_visible_to
from messaging.models import Channel

pytestmark = pytest.mark.django_db


def test_demo_data_has_sandbox_channels_worked_by_both_reps(capsys):
    call_command("demo_data")
    call_command("demo_data")
    # Two WhatsApp Cloud lines, the Twilio line, the Telegram bot and Wazzup's two channels.
    assert sorted(Channel.objects.values_list("provider", flat=True)) == [
        "telegram",
        "twilio",
        "wazzup",
        "wazzup",
        "whatsapp_cloud",
        "whatsapp_cloud",
    ]
    channels = {c.external_id: c for c in Channel.objects.filter(provider="whatsapp_cloud")}
    assert {c.routing_mode for c in channels.values()} == {"first_responder", "round_robin"}
    sales = Pipeline.objects.get(name="Sales")
    assert list(sales.stages.values_list("name", flat=True)) == [
        "New",
        "Contacted",
        "Proposal",
        "Negotiation",
    ]
    for channel in channels.values():
        assert channel.new_client_pipeline == sales
        assert channel.new_client_stage.name == "New"
        assert set(channel.agents.values_list("user__username", flat=True)) == {"rep1", "rep2"}
    out = capsys.readouterr().out
    assert "/inbox/" in out and "user rep1" in out


def test_demo_users_log_into_the_inbox_and_the_admin(client):
    call_command("demo_data")
    for username in ("manager", "rep1", "quality"):
        assert client.login(username=username, password="switchboard")
        assert client.get("/inbox/").status_code == 200
        assert client.get("/admin/").status_code == 200
        client.logout()


class ScopedContactAdmin(RoleScopedAdminMixin, admin.ModelAdmin):
    role_selector = staticmethod(contact_list_visible_to)
    role_object_writable = staticmethod(
        lambda *, user, obj: contact_is_writable_by(user=user, contact=obj)
    )
    actions = ["noop"]

    @admin.action(description="No-op")
    def noop(self, request, queryset):
        return None


def as_request(user):
    request = RequestFactory().get("/admin/crm/contact/")
    request.user = user
    return request


def test_the_mixin_scopes_rows_and_refuses_writes_to_quality_control(people, clients):
    model_admin = ScopedContactAdmin(Contact, AdminSite())
    rep, quality, manager = people["rep"], people["quality"], people["manager"]
    own, others = clients["own"].contact, clients["others"].contact

    rep_rows = set(model_admin.get_queryset(as_request(rep)))
    assert own in rep_rows and others not in rep_rows
    assert set(model_admin.get_queryset(as_request(quality))) == set(Contact.objects.all())

    assert model_admin.has_change_permission(as_request(rep), own)
    assert not model_admin.has_change_permission(as_request(rep), others)
    assert not model_admin.has_delete_permission(as_request(rep), own)
    assert model_admin.has_delete_permission(as_request(manager), others)
    for obj in (None, own):
        assert model_admin.has_view_permission(as_request(quality), obj)
        assert not model_admin.has_change_permission(as_request(quality), obj)
        assert not model_admin.has_delete_permission(as_request(quality), obj)
    assert not model_admin.has_add_permission(as_request(quality))
    assert model_admin.get_actions(as_request(quality)) == {}
    assert "noop" in model_admin.get_actions(as_request(rep))


def test_staff_without_a_role_get_nothing(clients):
    nobody = User.objects.create_user(username="nobody", password="pw", is_staff=True)
    model_admin = ScopedContactAdmin(Contact, AdminSite())
    assert not model_admin.has_module_permission(as_request(nobody))
    assert not model_admin.get_queryset(as_request(nobody)).exists()


def test_agent_profiles_in_the_admin_follow_the_role(client, people):
    rep, other, quality, manager = (people[k] for k in ("rep", "other", "quality", "manager"))
    own_url = f"/admin/accounts/agentprofile/{rep.agent_profile.pk}/change/"
    other_url = f"/admin/accounts/agentprofile/{other.agent_profile.pk}/change/"

    client.force_login(rep)
    listing = client.get("/admin/accounts/agentprofile/")
    assert listing.status_code == 200
    assert [p.pk for p in listing.context["cl"].result_list] == [rep.agent_profile.pk]
    assert client.get(other_url).status_code == 302  # not in their queryset: back to the index
    client.post(own_url, {"is_available": ""})
    rep.agent_profile.refresh_from_db()
    assert rep.agent_profile.is_available is False
    assert rep.agent_profile.role == "sales_rep"  # read-only for them
    assert client.get("/admin/accounts/user/").status_code == 403

    client.force_login(quality)
    assert client.get("/admin/accounts/agentprofile/").context["cl"].result_count == 4
    page = client.get(other_url)
    assert page.status_code == 200 and not page.context["has_change_permission"]
    client.post(other_url, {"is_available": ""})
    other.agent_profile.refresh_from_db()
    assert other.agent_profile.is_available is True

    client.force_login(manager)
    response = client.post(
        other_url,
        {
            "user": other.pk,
            "role": "sales_rep",
            "max_concurrent_conversations": 9,
            "is_available": "on",
            "channels": [c.pk for c in other.agent_profile.channels.all()],
            # The manager's page has the maximum-per-channel-type inline: no rows here.
            "capacities-TOTAL_FORMS": 0,
            "capacities-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302
    assert AgentProfile.objects.get(user=other).max_concurrent_conversations == 9


def test_deals_visible_and_writable_by_role(people, clients, pipeline):
    from crm.models import Deal
    from crm.selectors import deal_is_writable_by, deal_list_visible_to

    stage = pipeline.stages.first()
    rep, other = people["rep"], people["other"]
    mine = Deal.objects.create(name="Mine", pipeline=pipeline, stage=stage, responsible=rep)
    on_my_client = Deal.objects.create(
        name="Theirs on my client", pipeline=pipeline, stage=stage, responsible=other
    )
    on_my_client.contacts.add(clients["own"].contact)
    elsewhere = Deal.objects.create(
        name="Elsewhere", pipeline=pipeline, stage=stage, responsible=other
    )
    assert set(deal_list_visible_to(user=rep)) == {mine, on_my_client}
    assert set(deal_list_visible_to(user=people["quality"])) == {mine, on_my_client, elsewhere}
    assert deal_is_writable_by(user=rep, deal=mine)
    assert not deal_is_writable_by(user=rep, deal=on_my_client)
    assert not deal_is_writable_by(user=people["quality"], deal=mine)
    assert deal_is_writable_by(user=people["manager"], deal=elsewhere)
