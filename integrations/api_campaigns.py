"""Campaigns over the REST API: create, preview, start, pause, resume, cancel, read the totals
and the recipients. Staff managers only: a campaign writes to many clients at once, so neither a
sales rep's nor an integration account's key may run one."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role
from accounts.selectors import user_role
from config.api_errors import ApiError
from crm.api import is_api_account
from integrations.campaign_models import Campaign
from integrations.campaign_selectors import (
    SEGMENT_KEYS,
    campaign_preview,
    campaign_progress_percent,
    campaign_recipients,
    campaign_totals,
    recipient_status,
)
from integrations.services.campaigns import (
    CampaignInvalid,
    campaign_cancel,
    campaign_create,
    campaign_pause,
    campaign_resume,
    campaign_start,
)
from messaging.models import Channel, MessageTemplate, Service

RECIPIENTS_PAGE = 500


def _require_manager(request) -> None:
    if is_api_account(request) or user_role(user=request.user) != Role.MANAGER:
        raise exceptions.PermissionDenied("Campaigns are run by managers.")


def _invalid(exc: CampaignInvalid) -> ApiError:
    fields = {exc.field: [str(exc)]} if exc.field else None
    return ApiError(str(exc), code="campaign_invalid", status_code=422, fields=fields)


class CampaignIn(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    template = serializers.IntegerField(help_text="An approved marketing template's id.")
    parameters = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=list,
        help_text='Body parameters in order: constants or contact paths ("contact.first_name").',
    )
    channel = serializers.IntegerField(required=False, allow_null=True)
    service = serializers.IntegerField(required=False, allow_null=True)
    segment = serializers.DictField(
        required=False, default=dict, help_text=f"Filters: {', '.join(SEGMENT_KEYS)}."
    )
    scheduled_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Empty: when started."
    )
    throttle_per_second = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class CampaignOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    template = serializers.IntegerField(source="template_id")
    parameters = serializers.ListField()
    channel = serializers.IntegerField(source="channel_id", allow_null=True)
    service = serializers.IntegerField(source="service_id", allow_null=True)
    segment = serializers.DictField()
    scheduled_at = serializers.DateTimeField(allow_null=True)
    throttle_per_second = serializers.IntegerField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    audience_count = serializers.IntegerField()


def _out(campaign: Campaign) -> dict:
    data = dict(CampaignOut(campaign).data)
    if campaign.status != Campaign.Status.DRAFT:
        totals = campaign_totals(campaign=campaign)
        data["totals"] = totals
        data["percent"] = campaign_progress_percent(totals)
    return data


class CampaignCreateApi(APIView):
    throttle_scope = "api_write"

    @extend_schema(
        summary="Create a campaign (a draft)",
        request=CampaignIn,
        responses={201: CampaignOut, 403: OpenApiResponse(description="Not a manager")},
    )
    def post(self, request):
        _require_manager(request)
        data = CampaignIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        template = get_object_or_404(MessageTemplate, pk=values["template"])
        channel = (
            get_object_or_404(Channel, pk=values["channel"]) if values.get("channel") else None
        )
        service = (
            get_object_or_404(Service, pk=values["service"]) if values.get("service") else None
        )
        try:
            campaign = campaign_create(
                name=values["name"],
                template=template,
                parameters=values["parameters"],
                channel=channel,
                service=service,
                segment=values["segment"],
                scheduled_at=values.get("scheduled_at"),
                throttle_per_second=values.get("throttle_per_second"),
                actor=request.user,
            )
        except CampaignInvalid as exc:
            raise _invalid(exc) from exc
        return Response(_out(campaign), status=status.HTTP_201_CREATED)


class CampaignDetailApi(APIView):
    throttle_scope = "api_read"

    @extend_schema(summary="A campaign, with its totals once started", responses=CampaignOut)
    def get(self, request, pk: int):
        _require_manager(request)
        return Response(_out(get_object_or_404(Campaign, pk=pk)))


class PreviewOut(serializers.Serializer):
    audience = serializers.IntegerField()
    samples = serializers.ListField(child=serializers.DictField())


class CampaignPreviewApi(APIView):
    throttle_scope = "api_read"

    @extend_schema(summary="The audience count and three rendered samples", responses=PreviewOut)
    def get(self, request, pk: int):
        _require_manager(request)
        campaign = get_object_or_404(Campaign, pk=pk)
        count, samples = campaign_preview(campaign=campaign)
        return Response(
            {
                "audience": count,
                "samples": [{"contact": s.contact.pk, "text": s.text} for s in samples],
            }
        )


ACTIONS = {
    "start": campaign_start,
    "pause": campaign_pause,
    "resume": campaign_resume,
    "cancel": campaign_cancel,
}


class CampaignActionApi(APIView):
    throttle_scope = "api_write"

    @extend_schema(
        operation_id="campaigns_action",
        summary="Start (now or at its time), pause, resume or cancel a campaign",
        request=None,
        responses={200: CampaignOut, 422: OpenApiResponse(description="Not possible now")},
    )
    def post(self, request, pk: int, action: str):
        _require_manager(request)
        campaign = get_object_or_404(Campaign, pk=pk)
        if action not in ACTIONS:
            raise exceptions.NotFound()
        try:
            campaign = ACTIONS[action](campaign=campaign)
        except CampaignInvalid as exc:
            raise _invalid(exc) from exc
        return Response(_out(campaign))


class RecipientOut(serializers.Serializer):
    id = serializers.IntegerField()
    contact = serializers.IntegerField()
    status = serializers.CharField()
    detail = serializers.CharField()
    message = serializers.IntegerField(allow_null=True)
    replied = serializers.BooleanField()


class RecipientsOut(serializers.Serializer):
    results = RecipientOut(many=True)
    next_after = serializers.IntegerField(allow_null=True)


class CampaignRecipientsApi(APIView):
    throttle_scope = "api_read"

    @extend_schema(
        summary="Per-recipient status",
        description=f"{RECIPIENTS_PAGE} rows a page (`?after=<last id>`): status is waiting, "
        "queued, sent, delivered, read, failed (detail: code and reason) or skipped (detail: "
        "the reason).",
        responses=RecipientsOut,
    )
    def get(self, request, pk: int):
        _require_manager(request)
        campaign = get_object_or_404(Campaign, pk=pk)
        rows = campaign_recipients(campaign=campaign)
        after = request.query_params.get("after", "")
        if after.isdigit():
            rows = rows.filter(pk__gt=int(after))
        page = list(rows[:RECIPIENTS_PAGE])
        results = []
        for row in page:
            state, detail = recipient_status(row)
            results.append(
                {
                    "id": row.pk,
                    "contact": row.contact_id,
                    "status": state,
                    "detail": detail,
                    "message": row.message_id,
                    "replied": bool(row.replied),
                }
            )
        return Response(
            {
                "results": results,
                "next_after": page[-1].pk if len(page) == RECIPIENTS_PAGE else None,
            }
        )
