"""Labels set at the same moment by several agents (a double click, two colleagues), on
PostgreSQL with real threads: one row per label and conversation, no error shown to anyone."""

import pytest

from tests.concurrency import run_at_once
from tickets.models_inbox import Label
from tickets.services_inbox import conversation_label_add, conversation_labels_set

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_same_label_added_at_once_is_one_row(people, clients):
    conversation = clients["own"]
    vip = Label.objects.create(name="VIP")
    users = [people["rep"], people["manager"]] * 3
    errors = run_at_once(
        len(users),
        lambda i: conversation_label_add(conversation=conversation, label=vip, user=users[i]),
    )
    assert errors == []
    assert Label.conversations.through.objects.filter(conversation_id=conversation.pk).count() == 1


def test_labels_set_at_once_end_as_one_of_the_sets_without_duplicates(people, clients):
    conversation = clients["own"]
    labels = [Label.objects.create(name=f"L{n}") for n in range(4)]
    sets = [labels[:2], labels[1:3], labels[2:], labels]
    for _round in range(5):
        errors = run_at_once(
            len(sets),
            lambda i: conversation_labels_set(
                conversation=conversation, labels=sets[i], user=people["manager"]
            ),
        )
        assert errors == []
        rows = list(
            Label.conversations.through.objects.filter(conversation_id=conversation.pk).values_list(
                "label_id", flat=True
            )
        )
        assert len(rows) == len(set(rows))  # never the same label twice
        assert sorted(rows) in [sorted(label.pk for label in chosen) for chosen in sets]
