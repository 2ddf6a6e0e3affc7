"""Labels over the REST API: the labels defined, and the labels of one conversation (read, and
replaced by a writer). Conversations list their labels and filter by one (messaging/api.py)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_errors import ApiError
from crm.api import _actor, require_writer
from messaging.api import conversations_visible
from messaging.services import MessageRefused
from tickets.models_inbox import Label
from tickets.selectors_inbox import label_list
from tickets.services_inbox import conversation_labels_set


class LabelOut(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name", "colour", "description"]
        read_only_fields = fields


class ConversationLabelsIn(serializers.Serializer):
    labels = serializers.ListField(
        child=serializers.CharField(max_length=40), allow_empty=True, max_length=50
    )


class LabelViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Labels are defined by managers in the admin; everyone reads them."""

    serializer_class = LabelOut
    throttle_scope = "api_read"
    filter_backends = []

    def get_queryset(self):
        return label_list()


class ConversationLabelsApi(APIView):
    def get_throttles(self):
        self.throttle_scope = "api_read" if self.request.method == "GET" else "api_write"
        return super().get_throttles()

    def _conversation(self, request, pk):
        return get_object_or_404(conversations_visible(request).select_related("contact"), pk=pk)

    @extend_schema(summary="The labels of a conversation", responses=LabelOut(many=True))
    def get(self, request, pk):
        conversation = self._conversation(request, pk)
        return Response(LabelOut(conversation.labels.order_by("name"), many=True).data)

    @extend_schema(
        summary="Set the labels of a conversation",
        description="Exactly the labels named end up on the conversation (an empty list removes "
        "them all). Labels are defined in the admin: an unknown name is 400 `unknown_label`.",
        request=ConversationLabelsIn,
        responses={
            200: LabelOut(many=True),
            400: OpenApiResponse(description="An unknown label name"),
            403: OpenApiResponse(
                description="Read-only role, or not one of your clients (`not_writable`)"
            ),
        },
    )
    def put(self, request, pk):
        conversation = self._conversation(request, pk)
        require_writer(request)
        data = ConversationLabelsIn(data=request.data)
        data.is_valid(raise_exception=True)
        names = list(dict.fromkeys(data.validated_data["labels"]))
        labels = list(label_list().filter(name__in=names))
        unknown = sorted(set(names) - {label.name for label in labels})
        if unknown:
            raise ApiError(
                f"No label named {', '.join(unknown)}: managers define labels in the admin.",
                code="unknown_label",
            )
        try:
            conversation_labels_set(conversation=conversation, labels=labels, user=_actor(request))
        except MessageRefused as exc:
            raise ApiError(str(exc), code=exc.code, status_code=403) from None
        return Response(LabelOut(conversation.labels.order_by("name"), many=True).data)
