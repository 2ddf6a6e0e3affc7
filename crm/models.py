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
