from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM")

    def ready(self):
        # `field__any=ids`, used by the visibility selectors of every app (config/id_arrays.py).
        import config.id_arrays  # noqa: F401
