from django.conf import settings
from django.db import models


class Company(models.Model):
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164")
    website = models.URLField(blank=True)
    vat_number = models.CharField("VAT number", max_length=40, blank=True)
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="companies",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name"]

    def __str__(self):
        return self.name


class ContactKind(models.TextChoices):
    LEAD = "lead", "Lead"
    CUSTOMER = "customer", "Customer"


class Contact(models.Model):
    """A person. The E.164 phone is unique: one number is one contact, whatever the channel."""

    kind = models.CharField(max_length=10, choices=ContactKind.choices, default=ContactKind.LEAD)
    name = models.CharField(max_length=200, blank=True)
    phone = models.CharField(
        max_length=20, unique=True, help_text="E.164, for example +393351032246"
    )
    email = models.EmailField(blank=True)
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["responsible", "kind"]), models.Index(fields=["name"])]

    def __str__(self):
        return f"{self.name} ({self.phone})" if self.name else self.phone


class Pipeline(models.Model):
    """A sales funnel: an ordered list of stages a deal moves through."""

    name = models.CharField(max_length=120, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Stage(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=120)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["pipeline", "position", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline", "name"], name="stage_unique_name_per_pipeline"
            )
        ]

    def __str__(self):
        return f"{self.pipeline} / {self.name}"


class DealStatus(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Deal(models.Model):
    """A sale in progress. It has its own responsible user, so one contact can have several deals
    handled by different people."""

    name = models.CharField(max_length=200)
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="deals")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="deals")
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deals",
    )
    contacts = models.ManyToManyField(Contact, related_name="deals")
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )
    status = models.CharField(max_length=10, choices=DealStatus.choices, default=DealStatus.OPEN)
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["responsible", "status"])]

    def __str__(self):
        return self.name
