import pytest
from django.core.management import call_command
from django_q.models import Schedule

from integrations.schedules import SCHEDULES

pytestmark = pytest.mark.django_db


def test_running_setup_schedules_twice_creates_each_schedule_once():
    call_command("setup_schedules")
    call_command("setup_schedules")
    assert Schedule.objects.count() == len(SCHEDULES)
    sweep = Schedule.objects.get(name="messaging_sweep")
    assert sweep.func == "messaging.tasks.messaging_sweep"
    assert sweep.schedule_type == Schedule.MINUTES
    assert sweep.minutes == 1


def test_every_scheduled_task_can_be_imported():
    from django.utils.module_loading import import_string

    for _name, func, _minutes, _why in SCHEDULES:
        assert callable(import_string(func))
