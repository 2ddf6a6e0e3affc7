"""GDPR over the REST API: a contact's export (a zip) and their erasure (managers only, with an
explicit confirmation in the body)."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api import contacts_visible, is_api_account
from integrations.services.gdpr import contact_erase, contact_export


class ContactExportApi(APIView):
    throttle_scope = "api_read"

    @extend_schema(
        summary="Export everything held about a contact (GDPR)",
        description="A zip with one JSON file per kind of object (contact, addresses, consent, "
        "conversations, messages, tickets, comments, deals, business events) and the media files.",
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
    )
    def get(self, request, pk: int):
        contact = get_object_or_404(contacts_visible(request), pk=pk)
        response = HttpResponse(contact_export(contact=contact), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="contact-{contact.pk}.zip"'
        return response


class EraseIn(serializers.Serializer):
    confirm = serializers.IntegerField(help_text="The contact's id again: erasure is final.")


class ErasureOut(serializers.Serializer):
    contact = serializers.IntegerField(source="contact_id")
    erased_at = serializers.DateTimeField()
    counts = serializers.DictField()
    crm_results = serializers.DictField()


class ContactEraseApi(APIView):
    throttle_scope = "api_write"

    @extend_schema(
        summary="Erase a contact (GDPR)",
        description="Media files and personal fields deleted, message texts replaced by a "
        "marker, addresses and consent dropped, the deletion pushed to connected CRMs that can "
        "delete; counts stay. Managers and administrators only; `confirm` must repeat the id.",
        request=EraseIn,
        responses={
            200: ErasureOut,
            400: OpenApiResponse(description="Missing or wrong confirmation"),
            403: OpenApiResponse(description="Not a manager or administrator"),
        },
    )
    def post(self, request, pk: int):
        if is_api_account(request):
            raise exceptions.PermissionDenied("Erasure is a person's decision: use a staff login.")
        contact = get_object_or_404(contacts_visible(request), pk=pk)
        data = EraseIn(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["confirm"] != contact.pk:
            raise exceptions.ValidationError({"confirm": ["Repeat the contact's id to confirm."]})
        if contact.erased_at is not None:
            raise exceptions.ValidationError({"confirm": ["This contact was already erased."]})
        try:
            erasure = contact_erase(contact=contact, actor=request.user)
        except DjangoPermissionDenied as exc:
            raise exceptions.PermissionDenied(str(exc)) from None
        return Response(ErasureOut(erasure).data)
