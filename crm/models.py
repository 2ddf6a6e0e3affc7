from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from crm.addresses import AddressTransport


class Company(models.Model):
    name = models.CharField(max_length=200, verbose_name=_("name"))
    email = models.EmailField(blank=True, verbose_name=_("email"))
    phone = models.CharField(max_length=20, blank=True, help_text="E.164", verbose_name=_("phone"))
    website = models.URLField(blank=True)
    vat_number = models.CharField("VAT number", max_length=40, blank=True)
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="companies",
        verbose_name=_("responsible"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        ordering = ["name"]

    def __str__(self):
        return self.name


class ContactKind(models.TextChoices):
    LEAD = "lead", _("Lead")
    CUSTOMER = "customer", _("Customer")


class Contact(models.Model):
    """A person. The E.164 phone is unique: one number is one contact, whatever the channel.

    The phone is optional: a WhatsApp username user or a Telegram user writes without one. Every
    way to reach the contact is a `ContactAddress`; the phone is mirrored there as its
    ("whatsapp", E.164) address.
    """

    kind = models.CharField(
        max_length=10, choices=ContactKind.choices, default=ContactKind.LEAD, verbose_name=_("kind")
    )
    name = models.CharField(max_length=200, blank=True, verbose_name=_("name"))
    # NULL, never "": many contacts without a phone must not collide on the unique index.
    phone = models.CharField(
        max_length=20,
        unique=True,
        null=True,
        blank=True,
        help_text="E.164, for example +393351032246",
        verbose_name=_("phone"),
    )
    handle = models.CharField(
        max_length=200,
        blank=True,
        help_text="What names a contact without a phone: their username, else a transport's id.",
    )
    email = models.EmailField(blank=True, verbose_name=_("email"))
    company = models.ForeignKey(
        Company,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
        verbose_name=_("company"),
    )
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
        verbose_name=_("responsible"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    # Set by a GDPR erasure: the row stays (counts, reports), its personal fields are gone.
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["responsible", "kind"]),
            models.Index(fields=["name"]),
            models.Index(fields=["created_at", "id"], name="contact_recent"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(phone=""), name="contact_phone_not_blank")
        ]

    def __str__(self):
        reach = self.reach
        if self.name:
            return f"{self.name} ({reach})" if reach else self.name
        return reach or f"Contact #{self.pk}"

    @property
    def reach(self) -> str:
        """How a person recognises the contact besides the name: the phone, else the handle."""
        return self.phone or self.handle or ""


class ContactAddress(models.Model):
    """One way to reach a contact on one transport. (transport, address) is unique: the index is
    what makes two first messages from one new person end in one contact."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="addresses")
    transport = models.CharField(max_length=30, choices=AddressTransport.choices)
    address = models.CharField(max_length=200)
    handle = models.CharField(max_length=200, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    verified = models.BooleanField(
        default=False,
        help_text="Seen on an authentic inbound webhook; not when typed by staff or the API.",
    )
    # Set when the transport refused to deliver to it for good (the user blocked the bot); sends
    # are refused until the person writes again.
    unreachable_at = models.DateTimeField(null=True, blank=True)
    unreachable_reason = models.CharField(max_length=255, blank=True)
    # The platform asked us to hold marketing to this address until then (a per-user limit).
    marketing_held_until = models.DateTimeField(null=True, blank=True)
    marketing_held_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        verbose_name_plural = "contact addresses"
        ordering = ["transport", "address"]
        constraints = [
            models.UniqueConstraint(
                fields=["transport", "address"], name="contactaddress_unique_transport_address"
            ),
            models.UniqueConstraint(
                fields=["contact"],
                condition=Q(transport="whatsapp"),
                name="contactaddress_one_phone_per_contact",
            ),
        ]
        indexes = [models.Index(fields=["contact", "transport"])]

    def __str__(self):
        return f"{self.get_transport_display()}: {self.address}"


class Pipeline(models.Model):
    """A sales funnel: an ordered list of stages a deal moves through."""

    name = models.CharField(max_length=120, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")
        ordering = ["name"]

    def __str__(self):
        return self.name


class Stage(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=120)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ["pipeline", "position", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline", "name"], name="stage_unique_name_per_pipeline"
            )
        ]

    def __str__(self):
        # The default stage names are in the catalogue; names an operator types show as typed.
        return f"{self.pipeline} / {gettext(self.name)}"


class DealStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("deal status", "Open")
    WON = "won", pgettext_lazy("deal status", "Won")
    LOST = "lost", pgettext_lazy("deal status", "Lost")


class Deal(models.Model):
    """A sale in progress. It has its own responsible user, so one contact can have several deals
    handled by different people."""

    name = models.CharField(max_length=200, verbose_name=_("name"))
    pipeline = models.ForeignKey(
        Pipeline, on_delete=models.PROTECT, related_name="deals", verbose_name=_("pipeline")
    )
    stage = models.ForeignKey(
        Stage, on_delete=models.PROTECT, related_name="deals", verbose_name=_("stage")
    )
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deals",
        verbose_name=_("responsible"),
    )
    contacts = models.ManyToManyField(Contact, related_name="deals")
    company = models.ForeignKey(
        Company,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deals",
        verbose_name=_("company"),
    )
    status = models.CharField(
        max_length=10, choices=DealStatus.choices, default=DealStatus.OPEN, verbose_name=_("status")
    )
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, verbose_name=_("amount")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("deal")
        verbose_name_plural = _("deals")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["responsible", "status"]),
            models.Index(fields=["created_at", "id"], name="deal_recent"),
        ]

    def __str__(self):
        return self.name


class ConsentPurpose(models.TextChoices):
    MARKETING = "marketing", _("Marketing")
    UTILITY = "utility", _("Utility")


class ConsentState(models.TextChoices):
    OPTED_IN = "opted_in", _("Opted in")
    OPTED_OUT = "opted_out", _("Opted out")
    UNKNOWN = "unknown", _("Unknown")


class ConsentSource(models.TextChoices):
    WIDGET = "widget", _("Widget")
    API = "api", _("API")
    IMPORT = "import", _("Import")
    KEYWORD = "keyword", _("Keyword or button")
    AGENT = "agent", _("Agent")
    INBOUND = "inbound", _("Inbound conversation")
    # The messaging platform refused a send because the person stopped marketing there.
    PLATFORM = "platform", _("Messaging platform")


class ConsentRecord(models.Model):
    """One statement of consent, never changed afterwards: the history is the proof.

    A record without an address covers the whole contact; one with an address covers that way
    of reaching them (so that channel type). The latest record that covers a send decides it.
    """

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consent_records")
    address = models.ForeignKey(
        ContactAddress,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="consent_records",
    )
    purpose = models.CharField(max_length=10, choices=ConsentPurpose.choices)
    state = models.CharField(max_length=10, choices=ConsentState.choices)
    source = models.CharField(max_length=10, choices=ConsentSource.choices)
    text_shown = models.TextField(blank=True, help_text="The wording the person agreed to.")
    note = models.CharField(max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["contact", "purpose", "created_at"])]

    def __str__(self):
        return f"{self.get_purpose_display()}: {self.get_state_display()} ({self.source})"


class ContactErasure(models.Model):
    """Who erased which contact and when. Holds no personal data: the contact row is kept,
    anonymised, so counts and reports stay right."""

    contact = models.ForeignKey(
        Contact, null=True, on_delete=models.SET_NULL, related_name="erasures"
    )
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    erased_at = models.DateTimeField(default=timezone.now)
    counts = models.JSONField(default=dict, blank=True)
    crm_results = models.JSONField(
        default=dict, blank=True, help_text="What each connected CRM did with the deletion."
    )

    class Meta:
        ordering = ["-erased_at"]

    def __str__(self):
        return f"Contact #{self.contact_id} erased at {self.erased_at:%Y-%m-%d %H:%M}"
