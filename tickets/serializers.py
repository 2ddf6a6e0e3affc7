"""API shapes of tickets, their comments, and what a client posts to comment or change status."""

from rest_framework import serializers

from crm.models import Contact
from messaging.models import Message
from tickets.models import Ticket, TicketComment, TicketStatus


class TicketContactOut(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "name", "phone", "kind", "responsible"]
        read_only_fields = fields


class TicketOut(serializers.ModelSerializer):
    contact = TicketContactOut(read_only=True)
    comment_total = serializers.IntegerField(
        read_only=True, help_text="Comments you may see (API keys: internal notes excluded)."
    )
    conversation_total = serializers.IntegerField(read_only=True)

    class Meta:
        model = Ticket
        fields = [
            "id",
            "number",
            "title",
            "status",
            "priority",
            "contact",
            "channel",
            "assignee",
            "created_at",
            "updated_at",
            "closed_at",
            "comment_total",
            "conversation_total",
        ]
        read_only_fields = fields


class TicketCommentOut(serializers.ModelSerializer):
    author_name = serializers.SerializerMethodField()
    internal = serializers.BooleanField(source="is_internal", read_only=True)
    message_status = serializers.ChoiceField(
        source="message.status",
        choices=Message.Status.choices,
        allow_null=True,
        read_only=True,
        help_text="Delivery of the WhatsApp message (staff replies) or `received` (customer "
        "messages); null for internal notes.",
    )

    class Meta:
        model = TicketComment
        fields = [
            "id",
            "author_kind",
            "author",
            "author_name",
            "internal",
            "text",
            "created_at",
            "message",
            "message_status",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "author": {
                "help_text": "The staff member; null for the customer, and for replies sent "
                "through an integration account's API key (the system)."
            }
        }

    def get_author_name(self, comment) -> str | None:
        if comment.author is None:
            return None
        return comment.author.get_full_name() or comment.author.get_username()


class TicketDetailOut(TicketOut):
    comments = TicketCommentOut(
        many=True, read_only=True, source="history", help_text="Oldest first."
    )
    conversations = serializers.ListField(
        child=serializers.IntegerField(),
        source="conversation_ids",
        read_only=True,
        help_text="Ids of the ticket's conversations that you may open, newest first.",
    )

    class Meta(TicketOut.Meta):
        fields = [*TicketOut.Meta.fields, "description", "conversations", "comments"]
        read_only_fields = fields


class TicketCommentIn(serializers.Serializer):
    # No fixed limit: the channel decides, and the send refuses `too_long` (422).
    text = serializers.CharField()
    internal = serializers.BooleanField(
        default=False,
        help_text="An internal note stays with staff and is never sent; staff only.",
    )


class TicketStatusIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=TicketStatus.choices)
