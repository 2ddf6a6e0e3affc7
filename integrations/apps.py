from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("Integrations")

    def ready(self):
        # What platforms that mirror our CRM show (Wazzup) is pushed after each change commits.
        from django.db.models.signals import post_delete, post_save

        from integrations.services.crm_mirror import crm_mirrors_forget, crm_mirrors_push_soon

        post_save.connect(
            crm_mirrors_forget,
            sender="integrations.IntegrationAccount",
            dispatch_uid="crm_mirrors_forget",
        )
        for model in (
            "crm.Contact",
            "crm.ContactAddress",
            "crm.Deal",
            "crm.Pipeline",
            "crm.Stage",
            "accounts.AgentProfile",
        ):
            for signal in (post_save, post_delete):
                signal.connect(
                    crm_mirrors_push_soon,
                    sender=model,
                    dispatch_uid=f"crm_mirrors_push_soon_{model}_{signal}",
                )
