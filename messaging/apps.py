from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = _("Messaging")

    def ready(self):
        from messaging.webhook_accounts import webhook_accounts_forget

        # A cache, not business logic: a saved account or channel must not be served stale by
        # this process.
        for sender in ("integrations.IntegrationAccount", "messaging.Channel"):
            for signal in (post_save, post_delete):
                signal.connect(
                    webhook_accounts_forget,
                    sender=sender,
                    dispatch_uid=f"webhook_accounts_forget_{sender}_{signal}",
                )
