"""Tickets over the REST API: list and read them, comment (to the customer or as an internal
note) and change their status.

Staff see what the helpdesk shows them (`ticket_list_visible_to`) and write as the ticket
services allow their role. An integration account's key sees the tickets of its visible
contacts (its principal's `tickets_visible()`, since tickets may not import integrations); it
replies as the system (no author) on the channels its account may use, and neither reads nor
writes internal notes, which are for staff.
"""

import django_filters
from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api_errors import ApiError
from config.api_filters import ApiFilterSet
from crm.api import is_api_account, require_writer
from messaging.api import (
    IDEMPOTENCY_KEY_HEADER,
    REFUSAL_STATUS,
    conversations_visible,
    idempotent_response,
    refusal_answer,
    refusal_status,
)
from messaging.services import MessageRefused
from tickets.models import Ticket, TicketComment, TicketPriority, TicketStatus
from tickets.selectors import (
    ticket_list,
    ticket_list_visible_to,
    ticket_reply_channel,
    ticket_search,
    ticket_totals_set,
    ticket_with_history,
)
from tickets.serializers import (
    TicketCommentIn,
    TicketCommentOut,
    TicketDetailOut,
    TicketOut,
    TicketStatusIn,
)
from tickets.services import ticket_comment_add, ticket_status_set

# Reopening while the contact has another open ticket conflicts with the state, not the input.
TICKET_REFUSAL_STATUS = {**REFUSAL_STATUS, "another_ticket_open": 409}


def tickets_visible(request):
    if is_api_account(request):
        return request.user.tickets_visible()
    return ticket_list_visible_to(user=request.user)


def _refused(exc: MessageRefused) -> ApiError:
    """The service's refusal in the API's error shape, with its code."""
    return ApiError(
        str(exc),
        code=exc.code,
        status_code=refusal_status(exc, statuses=TICKET_REFUSAL_STATUS),
    )


class TicketFilter(ApiFilterSet):
    search = django_filters.CharFilter(
        method="filter_search",
        label="Ticket number (`TT24` or `24`), contact name, or a phone in any format.",
    )
    status = django_filters.ChoiceFilter(choices=TicketStatus.choices)
    priority = django_filters.ChoiceFilter(choices=TicketPriority.choices)

    class Meta:
        model = Ticket
        fields = ["status", "priority", "channel", "assignee", "contact"]

    def filter_search(self, queryset, name, value):
        return ticket_search(queryset=queryset, term=value)


REFUSALS = (
    "Refused, nothing sent: `outside_window_no_template` (the customer-service window is closed "
    "and the channel has no utility template), `ticket_closed`, `template_parameters`, "
    "`no_channel`, "
    "`empty`, ..."
)


@extend_schema_view(
    list=extend_schema(summary="List the tickets you may see"),
    retrieve=extend_schema(
        summary="One ticket with its description, conversations and comments",
        responses=TicketDetailOut,
    ),
)
class TicketViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = TicketOut
    filterset_class = TicketFilter
    ordering_fields = ["created_at", "updated_at", "closed_at", "id"]
    ordering = ["-created_at", "-pk"]

    def get_throttles(self):
        self.throttle_scope = "api_read" if self.request.method == "GET" else "api_write"
        return super().get_throttles()

    def get_serializer_class(self):
        return TicketDetailOut if self.action == "retrieve" else TicketOut

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Ticket.objects.none()
        tickets = tickets_visible(self.request)
        if self.action in ("comments", "status_change"):
            return tickets.select_related("contact", "channel")
        public_only = is_api_account(self.request)
        tickets = ticket_list(queryset=tickets)
        if self.action == "retrieve":
            tickets = ticket_with_history(queryset=tickets, public_only=public_only)
        return tickets.order_by("-created_at", "-pk")

    def _detail(self, ticket_id: int) -> dict:
        public_only = is_api_account(self.request)
        ticket = ticket_with_history(
            queryset=ticket_list(queryset=Ticket.objects.filter(pk=ticket_id)),
            public_only=public_only,
        ).get()
        ticket_totals_set(tickets=[ticket], public_only=public_only)
        self._conversation_ids_add(ticket)
        return TicketDetailOut(ticket).data

    def _conversation_ids_add(self, ticket: Ticket) -> None:
        ticket.conversation_ids = list(
            conversations_visible(self.request)
            .filter(ticket=ticket)
            .order_by("-opened_at", "-pk")
            .values_list("pk", flat=True)
        )

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        if page is not None:
            ticket_totals_set(tickets=page, public_only=is_api_account(self.request))
        return page

    def retrieve(self, request, *args, **kwargs):
        ticket = self.get_object()
        ticket_totals_set(tickets=[ticket], public_only=is_api_account(self.request))
        self._conversation_ids_add(ticket)
        return Response(TicketDetailOut(ticket).data)

    @extend_schema(
        summary="Comment on a ticket",
        description="A comment goes to the customer on the channel by the ticket rules: as text "
        "while their customer-service window is open, else with the channel's utility template; "
        "the ticket then waits for their response. `internal: true` adds a note for staff that is "
        "never sent (staff only). With an API key the reply is sent as the system, on a channel "
        "of the key's account. With an `Idempotency-Key` header a retry returns the first "
        "answer and sends nothing more; the same key with another body is 409.",
        request=TicketCommentIn,
        parameters=[IDEMPOTENCY_KEY_HEADER],
        responses={
            201: TicketCommentOut,
            403: OpenApiResponse(
                description="Read-only role, not one of your clients (`not_writable`), or a "
                "channel the key may not send on"
            ),
            409: OpenApiResponse(
                description="Another open ticket, or Idempotency-Key reused or in progress"
            ),
            422: OpenApiResponse(description=REFUSALS),
        },
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def comments(self, request, pk=None):
        ticket = self.get_object()
        require_writer(request)
        data = TicketCommentIn(data=request.data)
        data.is_valid(raise_exception=True)
        internal = data.validated_data["internal"]
        author = None
        if is_api_account(request):
            self._check_key_may_reply(ticket, internal=internal)
        else:
            author = request.user
        text = data.validated_data["text"]
        return idempotent_response(
            request, lambda: self._comment(ticket, author=author, text=text, internal=internal)
        )

    def _comment(self, ticket, *, author, text: str, internal: bool) -> tuple[int, dict]:
        """Returns the answer instead of raising for refusals, so a retry replays it too."""
        with transaction.atomic():
            try:
                comment = ticket_comment_add(
                    ticket=ticket, author=author, text=text, internal=internal
                )
            except MessageRefused as exc:
                transaction.set_rollback(True)
                return refusal_answer(exc, statuses=TICKET_REFUSAL_STATUS)
        comment = TicketComment.objects.select_related("author", "message").get(pk=comment.pk)
        return status.HTTP_201_CREATED, TicketCommentOut(comment).data

    def _check_key_may_reply(self, ticket: Ticket, *, internal: bool) -> None:
        if internal:
            raise exceptions.PermissionDenied(
                "Internal notes are for staff: an API key can only reply to the customer."
            )
        channel = ticket_reply_channel(ticket=ticket)
        if (
            channel is not None
            and not self.request.user.channels_allowed().filter(pk=channel.pk).exists()
        ):
            raise ApiError(
                f"{self.request.user} may not send on the channel {channel.name!r}, where "
                f"ticket {ticket.number} is answered.",
                code="not_writable",
                status_code=403,
            )

    @extend_schema(
        summary="Change a ticket's status",
        description="`closed` closes it; any other status reopens a closed ticket, unless the "
        "contact has another open ticket (409 `another_ticket_open`).",
        request=TicketStatusIn,
        responses={
            200: TicketDetailOut,
            403: OpenApiResponse(
                description="Read-only role, or not one of your clients (`not_writable`)"
            ),
            409: OpenApiResponse(description="The contact has another open ticket"),
        },
    )
    @action(detail=True, methods=["post"], url_path="status", filter_backends=[])
    def status_change(self, request, pk=None):
        ticket = self.get_object()
        require_writer(request)
        data = TicketStatusIn(data=request.data)
        data.is_valid(raise_exception=True)
        actor = None if is_api_account(request) else request.user
        try:
            ticket_status_set(ticket=ticket, status=data.validated_data["status"], actor=actor)
        except MessageRefused as exc:
            raise _refused(exc) from None
        return Response(self._detail(ticket.pk))
