import uuid

from django.db import models

from integrations.crypto import EncryptedJSONField


class Platform(models.TextChoices):
    WHATSAPP_CLOUD = "whatsapp_cloud", "WhatsApp Cloud API"
    VTENEXT = "vtenext", "vtenext / vtiger CRM"
    ACTIVECAMPAIGN = "activecampaign", "ActiveCampaign"
    CLERK = "clerk", "Clerk.io"
    ECOMMERCE = "ecommerce", "E-commerce shop"


class IntegrationAccount(models.Model):
    """One configured connection to an external platform.

    `settings` holds what may be shown; `secrets` (tokens, app secrets) is encrypted at rest and
    never shown back after saving. Deactivating keeps both and stops the account's work.
    """

    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    description = models.CharField(max_length=200)
    platform = models.CharField(max_length=30, choices=Platform.choices)
    is_active = models.BooleanField("active", default=True)
    settings = models.JSONField(default=dict, blank=True)
    secrets = EncryptedJSONField(default=dict, blank=True)
    is_healthy = models.BooleanField("healthy", default=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["description"]

    def __str__(self):
        return f"{self.description} ({self.get_platform_display()})"
