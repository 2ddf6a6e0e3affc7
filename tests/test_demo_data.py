import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.models import AgentProfile
from crm.models import Company, Contact

pytestmark = pytest.mark.django_db


def snapshot():
    return {
        model.__name__: sorted(map(repr, model.objects.values()))
        for model in (get_user_model(), AgentProfile, Company, Contact)
    }


def test_running_it_twice_leaves_the_same_rows(capsys):
    call_command("demo_data")
    first = snapshot()
    call_command("demo_data")
    assert snapshot() == first
    assert len(first["User"]) == 5
    assert "user admin" in capsys.readouterr().out


def test_it_creates_one_user_per_role_and_an_administrator():
    call_command("demo_data")
    roles = set(AgentProfile.objects.values_list("role", flat=True))
    assert roles == {"manager", "sales_rep", "quality_control"}
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser
    assert admin.check_password("switchboard")
