"""Contacts, companies and deals over the REST API.

Who sees what is decided where the inbox decides it: `crm.selectors` for staff, and for an
integration account's key its principal (see integrations/api_auth.py), asked through
`_contacts_visible`; crm may not import integrations, so the principal carries its own scope.
"""

from contextlib import contextmanager

import django_filters
from django.db import transaction
from django.db.models import Exists, OuterRef
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import Role
from accounts.selectors import user_role
from config.api_filters import ApiFilterSet
from crm.addresses import Address, AddressTransport
from crm.models import Company, Contact, ContactKind, Deal, DealStatus
from crm.selectors import (
    company_list_visible_to,
    contact_by_address,
    contact_is_writable_by,
    contact_list_visible_to,
    contact_search,
    deal_list_visible_to,
)
from crm.serializers import (
    CompanySerializer,
    ConsentIn,
    ConsentOut,
    ContactIn,
    ContactOut,
    DealSerializer,
)
from crm.services import (
    ContactAddressTaken,
    ContactPhoneTaken,
    WriteRefused,
    company_create,
    company_update,
    contact_address_add,
    contact_update,
    contact_upsert_by_address,
    deal_contacts_set,
    deal_create,
    deal_status_set,
    deal_update,
)
from crm.services_consent import contact_consent_add

READ_ONLY_MESSAGE = "Quality control can read but not write: {user} may not change anything."


def is_api_account(request) -> bool:
    return getattr(request.user, "is_api_account", False)


def contacts_visible(request):
    if is_api_account(request):
        return request.user.contacts_visible()
    return contact_list_visible_to(user=request.user)


def require_writer(request) -> None:
    """Keys of integration accounts, managers and sales reps write; quality control does not."""
    if is_api_account(request):
        return
    role = user_role(user=request.user)
    if role == Role.QUALITY_CONTROL:
        raise exceptions.PermissionDenied(READ_ONLY_MESSAGE.format(user=request.user))
    if role not in (Role.MANAGER, Role.SALES_REP):
        raise exceptions.PermissionDenied(f"{request.user} has no role that may write.")


def _actor(request):
    """Who the services check: a user, or None for an account's key (Switchboard's own
    integration, scoped by the key's principal instead)."""
    return None if is_api_account(request) else request.user


class ContactFilter(ApiFilterSet):
    search = django_filters.CharFilter(
        method="filter_search",
        label="Name, email, username or phone in any format (`+39 335 1032246`, `0039...`, "
        "`335...`).",
    )
    phone = django_filters.CharFilter(method="filter_search", label="A phone in any format.")
    kind = django_filters.ChoiceFilter(choices=ContactKind.choices)

    class Meta:
        model = Contact
        fields = ["kind", "company", "responsible"]

    def filter_search(self, queryset, name, value):
        return contact_search(queryset=queryset, term=value)


@extend_schema_view(
    list=extend_schema(summary="List the contacts you may see"),
    retrieve=extend_schema(summary="One contact"),
    create=extend_schema(
        summary="Create or update a contact by phone or by address",
        description="The phone (any format) or the `address` (for a contact without a phone, "
        "such as a WhatsApp username user) identifies the contact: an existing one is updated "
        "(200), a new one creates a lead (201).",
        request=ContactIn,
        responses={200: ContactOut, 201: ContactOut},
    ),
    update=extend_schema(summary="Update a contact", request=ContactIn, responses=ContactOut),
    partial_update=extend_schema(
        summary="Update some fields of a contact", request=ContactIn, responses=ContactOut
    ),
)
class ContactViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ContactOut
    filterset_class = ContactFilter
    ordering_fields = ["name", "created_at", "updated_at", "phone"]
    ordering = ["-created_at", "-pk"]

    def get_throttles(self):
        self.throttle_scope = "api_read" if self.request.method == "GET" else "api_write"
        return super().get_throttles()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Contact.objects.none()
        return (
            contacts_visible(self.request)
            .prefetch_related("addresses")
            .order_by("-created_at", "-pk")
        )

    def create(self, request, *args, **kwargs):
        data = ContactIn(data=request.data, context={"creating": True})
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        phone = fields.pop("phone", None)
        address = fields.pop("address", None) or Address(AddressTransport.WHATSAPP, phone)
        consent = fields.pop("consent", [])
        require_writer(request)
        actor = _actor(request)
        if user_role(user=actor) == Role.SALES_REP and contact_by_address(address=address) is None:
            # A rep's new contact is theirs, or they could not see what they just created.
            fields.setdefault("responsible", actor)
        with refusals_as_403(), transaction.atomic():
            contact, created = contact_upsert_by_address(address=address, actor=actor, **fields)
            _consent_add(contact, consent, actor=actor)
        if is_api_account(request):
            request.user.contact_claim(contact)
        return Response(
            ContactOut(contact).data, status=status.HTTP_201_CREATED if created else 200
        )

    def update(self, request, *args, **kwargs):
        contact = self.get_object()
        require_writer(request)
        data = ContactIn(data=request.data, partial=kwargs.get("partial", False))
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        address = fields.pop("address", None)
        consent = fields.pop("consent", [])
        try:
            with refusals_as_403(), transaction.atomic():
                contact = contact_update(contact=contact, actor=_actor(request), **fields)
                if address is not None:
                    contact_address_add(contact=contact, address=address, actor=_actor(request))
                _consent_add(contact, consent, actor=_actor(request))
        except ContactPhoneTaken as exc:
            raise exceptions.ValidationError({"phone": [str(exc)]}) from None
        except ContactAddressTaken as exc:
            raise exceptions.ValidationError({"address": [str(exc)]}) from None
        return Response(ContactOut(contact).data)

    @extend_schema(
        methods=["GET"],
        summary="A contact's consent history, newest first",
        responses=ConsentOut(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Append a consent statement (opt-in, opt-out) with its source",
        request=ConsentIn,
        responses={201: ConsentOut(many=True)},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="consent",
        filter_backends=[],
        pagination_class=None,
    )
    def consent(self, request, pk=None):
        contact = self.get_object()
        if request.method == "GET":
            records = contact.consent_records.select_related("address", "actor")
            return Response(ConsentOut(records, many=True).data)
        require_writer(request)
        actor = _actor(request)
        if actor is not None and not contact_is_writable_by(user=actor, contact=contact):
            raise exceptions.PermissionDenied(f"{actor} may not write to {contact}.")
        data = ConsentIn(data=request.data)
        data.is_valid(raise_exception=True)
        with refusals_as_403(), transaction.atomic():
            records = _consent_add(contact, [data.validated_data], actor=actor)
        return Response(ConsentOut(records, many=True).data, status=status.HTTP_201_CREATED)


def _consent_add(contact, statements, *, actor) -> list:
    records = []
    for statement in statements:
        try:
            records += contact_consent_add(contact=contact, actor=actor, **statement)
        except ValueError as exc:
            raise exceptions.ValidationError({"consent": [str(exc)]}) from None
    return records


class CompanyFilter(ApiFilterSet):
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = Company
        fields = ["responsible"]


def companies_visible(request):
    if is_api_account(request):
        return Company.objects.filter(pk__in=contacts_visible(request).values("company_id"))
    return company_list_visible_to(user=request.user)


def deals_visible(request):
    if is_api_account(request):
        with_visible_contact = Deal.contacts.through.objects.filter(
            deal=OuterRef("pk"), contact__in=contacts_visible(request).values("pk")
        )
        deals = Deal.objects.filter(Exists(with_visible_contact))
    else:
        deals = deal_list_visible_to(user=request.user)
    return deals.prefetch_related("contacts")


@contextmanager
def refusals_as_403():
    """The services' role checks (WriteRefused) answered as the API's 403."""
    try:
        yield
    except WriteRefused as exc:
        raise exceptions.PermissionDenied(" ".join(exc.messages)) from None


class StaffWritesMixin:
    """Companies and deals are written by staff; an account's key reads them."""

    def get_throttles(self):
        self.throttle_scope = "api_read" if self.request.method == "GET" else "api_write"
        return super().get_throttles()

    def check_write(self):
        if is_api_account(self.request):
            raise exceptions.PermissionDenied(
                "Companies and deals are written by staff; an API key can only read them."
            )
        require_writer(self.request)


class CompanyViewSet(
    StaffWritesMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = CompanySerializer
    filterset_class = CompanyFilter
    ordering_fields = ["name", "created_at"]
    ordering = ["name", "pk"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Company.objects.none()
        return companies_visible(self.request).order_by("name", "pk")

    def perform_create(self, serializer):
        self.check_write()
        fields = dict(serializer.validated_data)
        if user_role(user=self.request.user) == Role.SALES_REP:
            # A rep's new company is theirs, or they could not see what they just created.
            fields["responsible"] = fields.get("responsible") or self.request.user
        with refusals_as_403():
            serializer.instance = company_create(actor=self.request.user, **fields)

    def perform_update(self, serializer):
        self.check_write()
        with refusals_as_403():
            company_update(
                company=serializer.instance, actor=self.request.user, **serializer.validated_data
            )


class DealFilter(ApiFilterSet):
    status = django_filters.ChoiceFilter(choices=DealStatus.choices)

    class Meta:
        model = Deal
        fields = ["status", "pipeline", "stage", "responsible", "company", "contacts"]


class DealViewSet(
    StaffWritesMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = DealSerializer
    filterset_class = DealFilter
    ordering_fields = ["created_at", "amount", "name"]
    ordering = ["-created_at", "-pk"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Deal.objects.none()
        return deals_visible(self.request).order_by("-created_at", "-pk")

    def _check_contacts(self, contacts):
        visible = set(
            contacts_visible(self.request)
            .filter(pk__in=[c.pk for c in contacts])
            .values_list("pk", flat=True)
        )
        hidden = [c.pk for c in contacts if c.pk not in visible]
        if hidden:
            raise exceptions.ValidationError({"contacts": [f"Unknown contacts: {hidden}."]})

    def create(self, request, *args, **kwargs):
        self.check_write()
        data = DealSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        contacts = fields.pop("contacts", [])
        status_wanted = fields.pop("status", DealStatus.OPEN)
        self._check_contacts(contacts)
        if user_role(user=request.user) == Role.SALES_REP:
            # A rep's new deal is theirs, or they could not see what they just created.
            fields["responsible"] = request.user
        with refusals_as_403(), transaction.atomic():
            deal = deal_create(contacts=contacts, actor=request.user, **fields)
            deal_status_set(deal=deal, status=status_wanted, actor=request.user)
        return Response(DealSerializer(deal).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        deal = self.get_object()
        self.check_write()
        data = DealSerializer(deal, data=request.data, partial=kwargs.get("partial", False))
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        contacts = fields.pop("contacts", None)
        status_wanted = fields.pop("status", None)
        actor = request.user
        with refusals_as_403(), transaction.atomic():
            if fields:
                deal_update(deal=deal, actor=actor, **fields)
            if contacts is not None:
                self._check_contacts(contacts)
                deal_contacts_set(deal=deal, contacts=contacts, actor=actor)
            if status_wanted is not None:
                deal_status_set(deal=deal, status=status_wanted, actor=actor)
        deal = self.get_queryset().get(pk=deal.pk)
        return Response(DealSerializer(deal).data)
