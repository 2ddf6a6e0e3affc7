"""Conversations, messages, templates and sends over the REST API.

Staff see what the inbox shows them (`conversation_list_visible_to`); an integration account's
key asks its principal for its scope (integrations/api_auth.py), since messaging may not import
integrations.
"""

import django_filters
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_errors import ApiError, error_body
from config.api_filters import ApiFilterSet
from config.api_pagination import MAX_PAGE_SIZE, MessageCursorPagination
from crm.addresses import Address, AddressTransport
from crm.api import contacts_visible, is_api_account, require_writer
from crm.models import Contact
from crm.selectors import contact_by_address
from crm.services import contact_get_or_create_by_addresses
from messaging.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyConflict,
    idempotent_call,
    request_fingerprint,
)
from messaging.models import Channel, Conversation, Message, MessageTemplate
from messaging.selectors import conversation_list_visible_to
from messaging.serializers import ConversationOut, MessageOut, SendIn, TemplateOut
from messaging.services import MessageRefused, message_send_template, message_send_text


def conversations_visible(request):
    if is_api_account(request):
        return request.user.conversations_visible()
    return conversation_list_visible_to(user=request.user)


def channels_allowed(request):
    if is_api_account(request):
        return request.user.channels_allowed()
    return Channel.objects.all()


def templates_visible(request):
    if is_api_account(request):
        return request.user.templates_visible()
    return MessageTemplate.objects.all()


class ConversationFilter(ApiFilterSet):
    status = django_filters.ChoiceFilter(choices=Conversation.Status.choices)
    label = django_filters.CharFilter(
        field_name="labels__name", label="Conversations with this label (its name)."
    )

    class Meta:
        model = Conversation
        fields = ["status", "channel", "contact", "assignee"]


class ConversationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = ConversationOut
    filterset_class = ConversationFilter
    ordering_fields = ["last_message_at", "opened_at"]
    ordering = ["-opened_at", "-pk"]
    throttle_scope = "api_read"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Conversation.objects.none()
        # The labels of a whole page in one query.
        return (
            conversations_visible(self.request)
            .prefetch_related("labels")
            .order_by("-opened_at", "-pk")
        )

    @extend_schema(
        summary="The messages of a conversation, oldest first",
        responses=MessageOut(many=True),
        filters=False,
        parameters=[
            OpenApiParameter("cursor", OpenApiTypes.STR, description="From `next`/`previous`."),
            OpenApiParameter(
                "page_size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}
            ),
        ],
    )
    @action(
        detail=True,
        methods=["get"],
        pagination_class=MessageCursorPagination,
        filter_backends=[],
        serializer_class=MessageOut,
    )
    def messages(self, request, pk=None):
        conversation = self.get_object()
        messages = Message.objects.filter(conversation=conversation).select_related("conversation")
        page = self.paginate_queryset(messages)
        return self.get_paginated_response(MessageOut(page, many=True).data)


class TemplateFilter(ApiFilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = MessageTemplate
        fields = ["status", "language", "category", "name"]


class TemplateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = TemplateOut
    filterset_class = TemplateFilter
    ordering_fields = ["name", "language", "status"]
    ordering = ["name", "language", "pk"]
    throttle_scope = "api_read"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return MessageTemplate.objects.none()
        return templates_visible(self.request).order_by("name", "language", "pk")


# A refusal's code says why; most are about what was asked (422), some about who asks.
REFUSAL_STATUS = {"not_writable": 403}


def refusal_status(exc: MessageRefused, *, statuses=REFUSAL_STATUS) -> int:
    return statuses.get(exc.code, 422)


def refusal_answer(exc: MessageRefused, *, statuses=REFUSAL_STATUS) -> tuple[int, dict]:
    """The status and error body of a refused send: the service's own code and text."""
    status_code = refusal_status(exc, statuses=statuses)
    return status_code, error_body(status_code=status_code, message=str(exc), code=exc.code)


IDEMPOTENCY_KEY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Any unique string up to 255 characters, e.g. a UUID.",
)


def idempotent_response(request, call) -> Response:
    """Answer with `call()` -> (status, body), once per `Idempotency-Key` when the client sends
    one: the same key and body replay the first answer, another body is a 409."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        status_code, body = call()
        return Response(body, status=status_code)
    if len(key) > MAX_KEY_LENGTH:
        raise exceptions.ValidationError(
            {"Idempotency-Key": [f"At most {MAX_KEY_LENGTH} characters."]}
        )
    try:
        result = idempotent_call(
            principal=str(request.user.pk),
            key=key,
            fingerprint=request_fingerprint(
                method=request.method, path=request.path, data=request.data
            ),
            call=call,
        )
    except IdempotencyConflict as exc:
        raise ApiError(str(exc), code=exc.code, status_code=409) from None
    response = Response(result.body, status=result.status)
    if result.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


class MessageSendApi(APIView):
    throttle_scope = "api_write"

    @extend_schema(
        summary="Send a text or a template",
        description="Free text only while the customer-service window is open (else 422 "
        "`outside_window`, nothing is sent); an approved template always. With an "
        "`Idempotency-Key` header a retry of the same request returns the first answer and "
        "sends nothing; the same key with another body is 409.",
        request=SendIn,
        parameters=[IDEMPOTENCY_KEY_HEADER],
        responses={
            201: MessageOut,
            400: OpenApiResponse(description="Invalid input"),
            403: OpenApiResponse(description="Not one of your clients, or read-only role"),
            404: OpenApiResponse(description="Unknown contact, channel or template"),
            409: OpenApiResponse(description="Idempotency-Key reused or in progress"),
            422: OpenApiResponse(description="Refused: outside the customer-service window, ..."),
        },
    )
    def post(self, request):
        data = SendIn(data=request.data)
        data.is_valid(raise_exception=True)
        require_writer(request)
        return idempotent_response(request, lambda: self._send(request, data.validated_data))

    def _send(self, request, data) -> tuple[int, dict]:
        """Returns the answer instead of raising for refusals, so a retry replays it too."""
        api_account = is_api_account(request)
        actor = None if api_account else request.user
        with transaction.atomic():
            contact = self._contact(request, data)
            channel = self._channel(request, data, contact)
            try:
                if "text" in data:
                    message = message_send_text(
                        channel=channel, contact=contact, text=data["text"], actor=actor
                    )
                else:
                    call = data["template"]
                    template = get_object_or_404(
                        MessageTemplate,
                        account_id=channel.account_id,
                        name=call["name"],
                        language=call["language"],
                    )
                    message = message_send_template(
                        channel=channel,
                        contact=contact,
                        template=template,
                        body_params=call.get("body_params"),
                        header_params=call.get("header_params"),
                        button_params=[dict(b) for b in call.get("button_params", [])],
                        actor=actor,
                    )
            except MessageRefused as exc:
                transaction.set_rollback(True)
                return refusal_answer(exc)
            if api_account:
                request.user.contact_claim(contact)
        message = Message.objects.select_related("conversation").get(pk=message.pk)
        return status.HTTP_201_CREATED, MessageOut(message).data

    def _contact(self, request, data) -> Contact:
        if "contact_id" in data:
            return get_object_or_404(contacts_visible(request), pk=data["contact_id"])
        address = data.get("address") or Address(AddressTransport.WHATSAPP, data["phone"])
        known = contact_by_address(address=address)
        if known is None:
            # A key may message anyone it knows how to reach: that is how a shop reaches its
            # customers. Typed, not seen on a webhook, so the address is not verified.
            contact, _ = contact_get_or_create_by_addresses(addresses=[address], verified=False)
            return contact
        if is_api_account(request) or contacts_visible(request).filter(pk=known.pk).exists():
            return known
        raise exceptions.PermissionDenied(
            f"{request.user} may not write to {address.value}: it is not one of their clients."
        )

    def _channel(self, request, data, contact) -> Channel:
        allowed = channels_allowed(request)
        if "channel" in data:
            return get_object_or_404(allowed.select_related("account"), pk=data["channel"])
        recent = (
            Conversation.objects.filter(contact=contact, channel__in=allowed.values("pk"))
            .order_by("-last_message_at", "-pk")
            .values_list("channel_id", flat=True)
            .first()
        )
        if recent is not None:
            return Channel.objects.select_related("account").get(pk=recent)
        only = list(allowed.select_related("account")[:2])
        if len(only) == 1:
            return only[0]
        raise exceptions.ValidationError(
            {"channel": ["Say which channel to send on: the contact has no conversation yet."]}
        )
