"""API shapes of business events: one data shape per event type, each saying where the
recipient's phone comes from when the event names no `recipient`."""

from rest_framework import serializers

from crm.serializers import PhoneField
from integrations.models import BusinessEvent, EventType


class PersonIn(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)


class OrderIn(serializers.Serializer):
    number = serializers.CharField(max_length=100)
    total = serializers.CharField(max_length=40, required=False)
    url = serializers.CharField(max_length=2000, required=False)


class OrderStatusChangedData(serializers.Serializer):
    """Phone: `recipient`, else `customer.phone`."""

    status = serializers.CharField(max_length=60, help_text="The order's new status.")
    order = OrderIn()
    customer = PersonIn(required=False)


class CartIn(serializers.Serializer):
    url = serializers.CharField(max_length=2000, required=False)
    total = serializers.CharField(max_length=40, required=False)
    items = serializers.IntegerField(min_value=0, required=False)


class CartAbandonedData(serializers.Serializer):
    """Phone: `recipient`, else `customer.phone`."""

    cart = CartIn()
    customer = PersonIn(required=False)


class ReservedMessageIn(serializers.Serializer):
    subject = serializers.CharField(max_length=300, required=False, allow_blank=True)
    sender = PersonIn(required=False)
    recipient = PersonIn(required=False)


class ReservedMessageSentData(serializers.Serializer):
    """Phone: `recipient`, else `message.recipient.phone` (the one who got the message)."""

    message = ReservedMessageIn()


class ReservedMessageReadData(serializers.Serializer):
    """Phone: `recipient`, else `message.sender.phone` (told that their message was read)."""

    message = ReservedMessageIn()


class ActivityIn(serializers.Serializer):
    id = serializers.CharField(max_length=100, required=False)
    title = serializers.CharField(max_length=300)
    status = serializers.CharField(max_length=60, required=False)
    due_at = serializers.DateTimeField(required=False)
    creator = PersonIn(required=False)
    assignee = PersonIn(required=False)


class ActivityStatusChangedData(serializers.Serializer):
    """Phone: `recipient`, else `activity.creator.phone`."""

    activity = ActivityIn()


class ActivityAcknowledgedData(serializers.Serializer):
    """Phone: `recipient`, else `activity.creator.phone`."""

    activity = ActivityIn()


class ActivityDueIn(ActivityIn):
    due_at = serializers.DateTimeField()


class ActivityDueData(serializers.Serializer):
    """Phone: `recipient`, else `activity.assignee.phone`. Sent at `activity.due_at` minus the
    rule's lead time."""

    activity = ActivityDueIn()


class FileIn(serializers.Serializer):
    name = serializers.CharField(max_length=300)
    url = serializers.CharField(max_length=2000, required=False)


class FolderIn(serializers.Serializer):
    name = serializers.CharField(max_length=300)
    administrator = PersonIn(required=False)


class FileEventData(serializers.Serializer):
    """Phone: `recipient`, else `folder.administrator.phone`."""

    file = FileIn()
    folder = FolderIn()
    actor = PersonIn(required=False, help_text="Who uploaded, downloaded or previewed it.")


# type -> (data serializer, dotted path of the phone when no recipient is given)
EVENT_TYPES = {
    EventType.ORDER_STATUS_CHANGED: (OrderStatusChangedData, "customer.phone"),
    EventType.CART_ABANDONED: (CartAbandonedData, "customer.phone"),
    EventType.RESERVED_MESSAGE_SENT: (ReservedMessageSentData, "message.recipient.phone"),
    EventType.RESERVED_MESSAGE_READ: (ReservedMessageReadData, "message.sender.phone"),
    EventType.ACTIVITY_STATUS_CHANGED: (ActivityStatusChangedData, "activity.creator.phone"),
    EventType.ACTIVITY_ACKNOWLEDGED: (ActivityAcknowledgedData, "activity.creator.phone"),
    EventType.ACTIVITY_DUE: (ActivityDueData, "activity.assignee.phone"),
    EventType.FILE_UPLOADED: (FileEventData, "folder.administrator.phone"),
    EventType.FILE_DOWNLOADED: (FileEventData, "folder.administrator.phone"),
    EventType.FILE_PREVIEWED: (FileEventData, "folder.administrator.phone"),
}


class RecipientIn(serializers.Serializer):
    contact_id = serializers.IntegerField(required=False, min_value=1)
    phone = PhoneField(required=False)

    def validate(self, attrs):
        if ("contact_id" in attrs) == ("phone" in attrs):
            raise serializers.ValidationError("Give exactly one of contact_id and phone.")
        return attrs


class EventIn(serializers.Serializer):
    id = serializers.CharField(
        max_length=200, help_text="Your id of the event: the same id twice is one event."
    )
    type = serializers.ChoiceField(choices=EventType.choices)
    recipient = RecipientIn(
        required=False, help_text="Who is notified; if absent, the phone in the data (per type)."
    )
    data = serializers.DictField(help_text="The shape of the event type (see each type).")

    def validate(self, attrs):
        data_serializer, _ = EVENT_TYPES[attrs["type"]]
        shape = data_serializer(data=attrs["data"])
        if not shape.is_valid():
            raise serializers.ValidationError({"data": shape.errors})
        return attrs


def event_in_for(event_type: str, data_serializer):
    """A documentation-only envelope per type, so the schema shows each type's data shape."""
    return type(
        f"{''.join(p.title() for p in event_type.split('_'))}Event",
        (serializers.Serializer,),
        {
            "__doc__": data_serializer.__doc__,
            "id": serializers.CharField(max_length=200),
            "type": serializers.ChoiceField(choices=[event_type]),
            "recipient": RecipientIn(required=False),
            "data": data_serializer(),
        },
    )


class EventOut(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id")
    recipient_phone = serializers.CharField()

    class Meta:
        model = BusinessEvent
        fields = [
            "id",
            "type",
            "state",
            "reason",
            "recipient_phone",
            "message",
            "send_at",
            "created_at",
            "processed_at",
        ]
        read_only_fields = fields
