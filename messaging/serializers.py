"""API shapes of conversations, messages, templates and sends."""

from rest_framework import serializers

from crm.serializers import AddressIn, PhoneField
from messaging.models import Conversation, Message, MessageTemplate


class ConversationOut(serializers.ModelSerializer):
    # Labels are defined in the tickets app (a relation may point either way); names here.
    labels = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")

    class Meta:
        model = Conversation
        fields = [
            "id",
            "channel",
            "contact",
            "status",
            "opened_at",
            "closed_at",
            "last_inbound_at",
            "last_message_at",
            "last_message_status",
            "assignee",
            "ticket",
            "labels",
        ]
        read_only_fields = fields


class MessageOut(serializers.ModelSerializer):
    contact = serializers.IntegerField(source="conversation.contact_id", read_only=True)
    template = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "channel",
            "contact",
            "direction",
            "type",
            "text",
            "status",
            "provider_message_id",
            "error_code",
            "error_title",
            "template",
            "created_at",
            "sent_at",
            "delivered_at",
            "read_at",
            "failed_at",
        ]
        read_only_fields = fields

    def get_template(self, message) -> str | None:
        call = (message.payload or {}).get("template")
        return call["name"] if call else None


class TemplateOut(serializers.ModelSerializer):
    class Meta:
        model = MessageTemplate
        fields = [
            "id",
            "name",
            "language",
            "category",
            "status",
            "body_param_count",
            "header_format",
            "header_param_count",
            "button_param_count",
            "components",
            "rejected_reason",
            "synced_at",
        ]
        read_only_fields = fields


class ButtonParamIn(serializers.Serializer):
    index = serializers.IntegerField(min_value=0, max_value=9)
    sub_type = serializers.ChoiceField(choices=["url", "quick_reply", "copy_code"])
    value = serializers.CharField(max_length=2000)


class TemplateCallIn(serializers.Serializer):
    name = serializers.CharField(max_length=512)
    language = serializers.CharField(max_length=15)
    body_params = serializers.ListField(
        child=serializers.CharField(max_length=1024, allow_blank=True), required=False
    )
    header_params = serializers.ListField(
        child=serializers.CharField(max_length=60, allow_blank=True), required=False
    )
    button_params = ButtonParamIn(many=True, required=False)


class SendIn(serializers.Serializer):
    """Exactly one recipient (`contact_id`, `phone` or `address`) and exactly one content (`text`
    or `template`). Free text needs the customer-service window open; a template does not."""

    channel = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="Channel id. Optional when you may send on one channel only, or when the "
        "contact already has a conversation.",
    )
    contact_id = serializers.IntegerField(required=False, min_value=1)
    phone = PhoneField(required=False)
    address = AddressIn(
        required=False,
        help_text="For a contact without a phone, such as a WhatsApp username user: "
        '`{"transport": "whatsapp_bsuid", "address": "IT.1502576394655843"}`.',
    )
    # No fixed limit: the channel decides, and the send refuses `too_long` (422).
    text = serializers.CharField(required=False)
    template = TemplateCallIn(required=False)

    def validate(self, attrs):
        errors = {}
        if sum(key in attrs for key in ("contact_id", "phone", "address")) != 1:
            errors["contact_id"] = ["Give exactly one of contact_id, phone and address."]
        if ("text" in attrs) == ("template" in attrs):
            errors["text"] = ["Give exactly one of text and template."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs
