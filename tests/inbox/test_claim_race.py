"""Two agents reply to the same new client at the same moment, on PostgreSQL with real threads:
exactly one wins, the other is told who took the client and sends nothing."""

import threading

import pytest
from django.db import connection

from crm.models import Contact
from messaging.models import Conversation, Message
from tests.inbox.conftest import inbound
from tickets.routing import ConversationTaken, conversation_reply

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROUNDS = 5


def race(conversation, users):
    barrier = threading.Barrier(len(users))
    outcome = {}

    def attempt(user):
        try:
            barrier.wait(timeout=10)
            conversation_reply(conversation=conversation, user=user, text=f"from {user}")
            outcome[user.username] = "sent"
        except ConversationTaken as exc:
            outcome[user.username] = str(exc)
        except Exception as exc:  # reported by the test's assertions
            outcome[user.username] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcome


def test_exactly_one_of_two_simultaneous_replies_claims_the_client(channel, people, settings):
    # Delivery runs on commit; point it at a closed port so nothing leaves the machine.
    settings.GRAPH_API_BASE_URL = "http://127.0.0.1:9"
    rivals = [people["rep"], people["other"]]
    for n in range(ROUNDS):
        contact = Contact.objects.create(phone=f"+3933320000{n:02d}")
        conversation = Conversation.objects.create(channel=channel, contact=contact)
        inbound(conversation)

        outcome = race(conversation, rivals)

        winners = [name for name, result in outcome.items() if result == "sent"]
        assert len(winners) == 1, outcome
        winner = winners[0]
        loser = next(u for u in rivals if u.username != winner)
        assert outcome[loser.username] == f"Already taken by {winner.title()}."
        contact.refresh_from_db()
        conversation.refresh_from_db()
        assert contact.responsible.username == winner
        assert conversation.assignee.username == winner
        sent = Message.objects.filter(conversation__contact=contact, direction="out")
        assert list(sent.values_list("sent_by__username", flat=True)) == [winner]
