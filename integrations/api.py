"""Business events over the REST API: `POST /api/v1/events/`, with an account's API key."""

from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.notifications import EventRejected, business_event_receive
from integrations.serializers import EVENT_TYPES, EventOut, event_in_for

EVENT_REQUEST = PolymorphicProxySerializer(
    component_name="BusinessEventIn",
    serializers={
        event_type.value: event_in_for(event_type.value, data)
        for event_type, (data, _) in EVENT_TYPES.items()
    },
    resource_type_field_name="type",
)


class EventCreateApi(APIView):
    throttle_scope = "api_events"

    @extend_schema(
        summary="Post a business event",
        description="Turns into an approved WhatsApp template per the account's notification "
        "rule for the type. The recipient is `recipient` (a contact id or a phone) or, when "
        "absent, the phone the type's data names (see each type). The same `id` again returns "
        "the first outcome with 200. Invalid events answer 400 with the field errors and are "
        "kept as rejected.",
        request=EVENT_REQUEST,
        responses={
            201: EventOut,
            200: OpenApiResponse(EventOut, description="Already received: the first outcome"),
            400: OpenApiResponse(description="Invalid: unknown type or data"),
            403: OpenApiResponse(description="Only an integration account's API key posts events"),
        },
    )
    def post(self, request):
        if not getattr(request.user, "is_api_account", False):
            raise exceptions.PermissionDenied(
                "Business events are posted with an integration account's API key."
            )
        try:
            event, created = business_event_receive(account=request.user.account, body=request.data)
        except EventRejected as exc:
            raise exceptions.ValidationError(exc.errors) from None
        return Response(
            EventOut(event).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )
