"""Message templates: synced from the provider, and kept current by status webhooks."""

import re

from django.db import transaction
from django.utils import timezone

from messaging.models import MessageTemplate
from messaging.providers import provider_class
from messaging.providers.base import ProviderError, TemplateInfo, TemplateStatusUpdate
from messaging.services.health import account_follow_error

PLACEHOLDER = re.compile(r"{{\s*([^}]+?)\s*}}")


def _count(text: str) -> int:
    return len(set(PLACEHOLDER.findall(text or "")))


def _shape(components: list) -> dict:
    shape = {"header_format": "", "header_param_count": 0, "body_param_count": 0}
    buttons = 0
    for component in components:
        kind = component.get("type", "").upper()
        if kind == "HEADER":
            shape["header_format"] = component.get("format", "TEXT").upper()
            if shape["header_format"] == "TEXT":
                shape["header_param_count"] = _count(component.get("text", ""))
        elif kind == "BODY":
            shape["body_param_count"] = _count(component.get("text", ""))
        elif kind == "BUTTONS":
            for button in component.get("buttons", []):
                if button.get("type", "").upper() == "URL" and PLACEHOLDER.search(
                    button.get("url", "")
                ):
                    buttons += 1
    shape["button_param_count"] = buttons
    return shape


def _upsert(account, info: TemplateInfo, now) -> bool:
    _, created = MessageTemplate.objects.update_or_create(
        account=account,
        name=info.name,
        language=info.language,
        defaults={
            "external_id": info.external_id,
            "category": info.category,
            "status": info.status,
            "components": info.components,
            "parameter_format": info.parameter_format or "POSITIONAL",
            "rejected_reason": info.rejected_reason or info.raw.get("rejected_reason", "") or "",
            "synced_at": now,
            **_shape(info.components),
        },
    )
    return created


def templates_sync(*, account) -> dict:
    """Read every page of the account's templates; ones the provider no longer has are DELETED."""
    provider = provider_class(account.platform)(settings=account.settings, secrets=account.secrets)
    try:
        infos = list(provider.iter_templates())
    except ProviderError as exc:
        account_follow_error(account, exc)
        raise
    return templates_store(account=account, infos=infos, prune=True)


def templates_store(*, account, infos: list[TemplateInfo], prune: bool = False) -> dict:
    """Store templates as the provider describes them; with `prune`, the account's templates
    missing from `infos` are marked DELETED (a full sync knows they are gone)."""
    now = timezone.now()
    gone = []
    with transaction.atomic():
        created = sum(_upsert(account, info, now) for info in infos)
        if prune:
            seen = {(info.name, info.language) for info in infos}
            gone = [
                t.pk
                for t in MessageTemplate.objects.filter(account=account).exclude(status="DELETED")
                if (t.name, t.language) not in seen
            ]
            MessageTemplate.objects.filter(pk__in=gone).update(status="DELETED", synced_at=now)
    return {"seen": len(infos), "created": created, "deleted": len(gone)}


def template_status_apply(*, account, update: TemplateStatusUpdate) -> bool:
    templates = MessageTemplate.objects.filter(account=account)
    matched = (
        templates.filter(external_id=update.template_external_id)
        if (update.template_external_id)
        else templates.none()
    )
    if not matched.exists():
        matched = templates.filter(name=update.name, language=update.language)
    changes = {"status": update.status, "synced_at": timezone.now()}
    if update.status == "REJECTED":
        changes["rejected_reason"] = update.reason
    return bool(matched.update(**changes))
