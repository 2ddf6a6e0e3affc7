"""API shapes of contacts, companies and deals: what goes in and what comes out."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from rest_framework import serializers

from crm.addresses import Address, AddressTransport, address_normalize
from crm.models import (
    Company,
    ConsentPurpose,
    ConsentRecord,
    ConsentSource,
    ConsentState,
    Contact,
    ContactAddress,
    ContactKind,
    Deal,
    Pipeline,
    Stage,
)
from crm.phones import PhoneNumberInvalid, phone_normalize


class PhoneField(serializers.CharField):
    """A phone in any format in, E.164 out; an unreadable number is a field error."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault(
            "help_text", "Any format (`+39 335 103 2246`, `0039...`, `335...`); stored as E.164."
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        raw = super().to_internal_value(data)
        try:
            return phone_normalize(raw)
        except PhoneNumberInvalid as exc:
            raise serializers.ValidationError(exc.messages[0]) from None


def optional_email(**kwargs):
    # A blank email is stored as "": declared as a plain string, so the schema does not promise
    # an address where there may be none (EmailField would document `format: email`).
    return serializers.CharField(
        max_length=254, allow_blank=True, validators=[EmailValidator()], **kwargs
    )


def optional_url(**kwargs):
    return serializers.CharField(
        max_length=200, allow_blank=True, validators=[URLValidator()], **kwargs
    )


class ContactAddressOut(serializers.ModelSerializer):
    class Meta:
        model = ContactAddress
        fields = ["transport", "address", "handle", "first_seen_at", "last_seen_at", "verified"]
        read_only_fields = fields


class ContactOut(serializers.ModelSerializer):
    email = optional_email(read_only=True)
    addresses = ContactAddressOut(
        many=True,
        read_only=True,
        help_text="Every way the contact is reached: the WhatsApp phone, the WhatsApp user id "
        "(for a username user without a phone), a Telegram chat.",
    )

    class Meta:
        model = Contact
        fields = [
            "id",
            "kind",
            "name",
            "phone",
            "handle",
            "addresses",
            "email",
            "company",
            "responsible",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AddressIn(serializers.Serializer):
    transport = serializers.ChoiceField(choices=AddressTransport.choices)
    address = serializers.CharField(max_length=200)
    handle = serializers.CharField(max_length=200, required=False, allow_blank=True)

    def validate(self, attrs):
        try:
            return address_normalize(
                Address(attrs["transport"], attrs["address"], attrs.get("handle", ""))
            )
        except ValidationError as exc:
            raise serializers.ValidationError({"address": exc.messages}) from None


class ConsentIn(serializers.Serializer):
    purpose = serializers.ChoiceField(choices=ConsentPurpose.choices)
    state = serializers.ChoiceField(choices=ConsentState.choices)
    source = serializers.ChoiceField(
        choices=ConsentSource.choices,
        default=ConsentSource.API,
        help_text="Where the person gave it: widget, api, import, agent, ...",
    )
    transport = serializers.ChoiceField(
        choices=AddressTransport.choices,
        required=False,
        allow_blank=True,
        help_text="Only for the contact's addresses on this transport; absent: every channel.",
    )
    text_shown = serializers.CharField(
        required=False, allow_blank=True, help_text="The wording the person agreed to."
    )


class ConsentOut(serializers.ModelSerializer):
    transport = serializers.CharField(source="address.transport", default="", read_only=True)
    actor = serializers.CharField(source="actor.username", default="", read_only=True)

    class Meta:
        model = ConsentRecord
        fields = [
            "id",
            "purpose",
            "state",
            "source",
            "transport",
            "text_shown",
            "note",
            "actor",
            "created_at",
        ]
        read_only_fields = fields


class ContactIn(serializers.Serializer):
    """Create-or-update by phone or by address (POST) and update (PUT/PATCH). Absent fields are
    left as they are on update."""

    phone = PhoneField(required=False)
    address = AddressIn(
        required=False,
        help_text="Instead of a phone: how else the contact is reached, for example "
        '`{"transport": "whatsapp_bsuid", "address": "IT.1502576394655843"}`.',
    )
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = optional_email(required=False)
    kind = serializers.ChoiceField(choices=ContactKind.choices, required=False)
    company = serializers.PrimaryKeyRelatedField(
        queryset=Company.objects.all(), required=False, allow_null=True
    )
    responsible = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True), required=False, allow_null=True
    )
    consent = ConsentIn(
        many=True,
        required=False,
        help_text="Consent statements to append to the contact's history, each with its source.",
    )

    def validate(self, attrs):
        if self.partial:
            return attrs
        given = [key for key in ("phone", "address") if key in attrs]
        if not given:
            raise serializers.ValidationError({"phone": ["Give a phone or an address."]})
        if self.context.get("creating") and len(given) > 1:
            raise serializers.ValidationError(
                {"address": ["Give a phone or an address, not both: one finds the contact."]}
            )
        return attrs


class CompanySerializer(serializers.ModelSerializer):
    class Meta:
        model = Company
        fields = [
            "id",
            "name",
            "email",
            "phone",
            "website",
            "vat_number",
            "responsible",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    phone = PhoneField(required=False, allow_blank=True)
    email = optional_email(required=False)
    website = optional_url(required=False)


class DealSerializer(serializers.ModelSerializer):
    pipeline = serializers.PrimaryKeyRelatedField(queryset=Pipeline.objects.all())
    stage = serializers.PrimaryKeyRelatedField(
        queryset=Stage.objects.all(),
        required=False,
        help_text="Default: the pipeline's first stage.",
    )
    contacts = serializers.PrimaryKeyRelatedField(
        queryset=Contact.objects.all(), many=True, help_text="At least one."
    )

    class Meta:
        model = Deal
        fields = [
            "id",
            "name",
            "pipeline",
            "stage",
            "status",
            "amount",
            "responsible",
            "company",
            "contacts",
            "created_at",
            "updated_at",
            "closed_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at", "closed_at"]
        extra_kwargs = {"amount": {"min_value": 0}}

    def validate(self, attrs):
        pipeline = attrs.get("pipeline") or getattr(self.instance, "pipeline", None)
        stage = attrs.get("stage") or getattr(self.instance, "stage", None)
        if pipeline and stage and stage.pipeline_id != pipeline.pk:
            raise serializers.ValidationError(
                {"stage": [f"Stage {stage.pk} is not a stage of pipeline {pipeline.pk}."]}
            )
        return attrs
