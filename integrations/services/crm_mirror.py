"""Our CRM pushed to platforms that mirror it (Wazzup: its chat shows our agents, our contacts
with their responsible agent, our deals and funnels). Push only: the platform's own changes come
back as webhooks (createContact, createDeal).

What goes: every agent and every funnel each time (a few hundred rows at most); the contacts and
deals changed since their last push, or never pushed; deletions for what was pushed and is gone
here. `ExternalLink` remembers what was pushed (with the platform's refusal, per record, when it
refused one); a refused record goes again next time. Runs after commit when something changes
(`crm_mirrors_push_soon`) and in the customer-sync job.

The push is on for an account whose `crm_push` setting is "on".
"""

import logging
import time
from collections import Counter

from django.conf import settings
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from accounts.models import AgentProfile
from crm.models import Contact, ContactAddress, Deal, DealStatus, Pipeline
from integrations.connectors.mirrors import CRM_MIRRORS
from integrations.connectors.wazzup_crm import PipelineRecord, UserRecord
from integrations.models import ExternalLink, IntegrationAccount, LinkedObject
from messaging.http import RemoteError
from messaging.providers.base import Address, ContactRecord, DealRecord
from messaging.queueing import after_commit, task_wake

logger = logging.getLogger(__name__)

PUSH_TASK = "integrations.tasks.crm_mirrors_push"
PUSH_FLAG = "crm-mirror"
PUSH_RETRY_NAME = "crm_mirrors_push_retry"
PUSH_RETRY_SECONDS = 60
ROUTE_OBJECTS = {
    "users": LinkedObject.USER,
    "pipelines": LinkedObject.PIPELINE,
    "contacts": LinkedObject.CONTACT,
    "deals": LinkedObject.DEAL,
}


def crm_mirror_accounts():
    return IntegrationAccount.objects.filter(
        platform__in=list(CRM_MIRRORS), is_active=True, settings__crm_push="on"
    ).order_by("pk")


# Whether any account mirrors our CRM, remembered for a few seconds per process: the check runs
# on the inbound path (after every message) and on every save of what a mirror shows.
MIRRORS_CHECK_SECONDS = 10
_mirrors_known: list = [0.0, False]  # [checked at (monotonic), any mirror]


def _mirrors_exist() -> bool:
    now = time.monotonic()
    if now - _mirrors_known[0] > MIRRORS_CHECK_SECONDS:
        _mirrors_known[:] = [now, crm_mirror_accounts().exists()]
    return _mirrors_known[1]


def crm_mirrors_forget(**_kwargs) -> None:
    _mirrors_known[:] = [0.0, False]


def crm_mirrors_push_soon(**kwargs) -> None:
    """Signal receiver: something a mirror shows changed; push once the change is committed. A
    contact address saved again (seen again) changes nothing a mirror shows; a new one does."""
    if kwargs.get("sender") is ContactAddress and not kwargs.get("created", True):
        return
    if not _mirrors_exist():
        return
    after_commit(lambda: task_wake(PUSH_TASK, flag=PUSH_FLAG), what="CRM mirror push")


def crm_mirror_on_message(*, message, conversation_created: bool) -> None:
    """Inbound and echo pipeline step: a new client's contact (written in bulk, no signal), a
    claim or an assignment (conditional UPDATEs) may have changed what a mirror shows."""
    if conversation_created or message.sent_by_id is not None:
        crm_mirrors_push_soon()


def crm_mirrors_push() -> dict:
    """Push every mirror account; one account's failure never stops the others."""
    done = {}
    for account in crm_mirror_accounts():
        try:
            stats, errors = account_crm_push(account=account)
        except RemoteError as exc:
            logger.warning("CRM push to %s failed: %s", account, exc.message)
            done[account.description] = {"error": exc.message}
            if not exc.permanent:
                crm_mirrors_push_retry()
            continue
        done[account.description] = {**stats, "errors": errors}
    return done


def crm_mirrors_push_retry() -> None:
    """Push again in a minute: the platform was out of reach (or busy), and nothing else may
    change soon enough to push what is waiting. One pending retry at a time; a failure to schedule
    it is logged, and the customer-sync job pushes all the same."""
    from django_q.models import Schedule

    try:
        Schedule.objects.get_or_create(
            name=PUSH_RETRY_NAME,
            defaults={
                "func": PUSH_TASK,
                "schedule_type": Schedule.ONCE,
                "repeats": -1,  # deleted once it has run
                "next_run": timezone.now() + timezone.timedelta(seconds=PUSH_RETRY_SECONDS),
            },
        )
    except Exception:
        logger.exception("the CRM push retry could not be scheduled")


def account_crm_push(*, account: IntegrationAccount, now=None) -> tuple[Counter, list[str]]:
    """Push one account; returns the counts and the records the platform refused (why)."""
    now = now or timezone.now()
    mirror = CRM_MIRRORS.get(account.platform)(settings=account.settings, secrets=account.secrets)
    stats: Counter = Counter()
    errors: list[str] = []
    users = _users()
    pushed_users = {record.id for record in users}
    batches = {
        "users": users,
        "pipelines": _pipelines(),
        "contacts": _contacts_changed(account=account, known_users=pushed_users, stats=stats),
    }
    for route in ("users", "pipelines", "contacts"):
        _push(mirror, account, route, batches[route], now=now, stats=stats, errors=errors)
    deals = _deals_changed(account=account, known_users=pushed_users, stats=stats)
    _push(mirror, account, "deals", deals, now=now, stats=stats, errors=errors)
    _deletions_push(mirror, account, current=batches, stats=stats)
    return stats, errors


def _push(mirror, account, route, records, *, now, stats, errors) -> None:
    if not records:
        return
    outcome = mirror.push(route, records)
    object_type = ROUTE_OBJECTS[route]
    for record_id in outcome.sent:
        _link_set(account, object_type, record_id, synced_at=now, error="")
    for record_id, reason in outcome.refused.items():
        _link_set(account, object_type, record_id, synced_at=None, error=reason)
        errors.append(f"{object_type} {record_id}: {reason}")
    stats[f"{route}_pushed"] += len(outcome.sent)
    stats[f"{route}_refused"] += len(outcome.refused)
    stats["requests"] += outcome.requests


def _link_set(account, object_type, record_id: str, *, synced_at, error: str) -> None:
    ExternalLink.objects.update_or_create(
        account=account,
        object_type=object_type,
        local_id=int(record_id),
        defaults={"external_id": record_id, "synced_at": synced_at, "push_error": error[:2000]},
    )


def _users() -> list[UserRecord]:
    profiles = AgentProfile.objects.filter(user__is_active=True).select_related("user")
    return [
        UserRecord(id=str(p.user_id), name=p.user.get_full_name() or p.user.get_username())
        for p in profiles.order_by("user_id")
    ]


def _pipelines() -> list[PipelineRecord]:
    return [
        PipelineRecord(
            id=str(p.pk),
            name=p.name,
            stages=tuple((str(s.pk), s.name) for s in p.stages.all()),
        )
        for p in Pipeline.objects.prefetch_related("stages").order_by("pk")
    ]


def _changed(model, account, object_type, *, touched=None):
    """Rows never pushed, refused last time, or changed since their last push. `touched(row)`
    is the latest change of what belongs to the row (a contact's newest address)."""
    links = ExternalLink.objects.filter(account=account, object_type=object_type)
    fresh = {
        link.local_id: link.synced_at
        for link in links.filter(synced_at__isnull=False).only("local_id", "synced_at")
    }
    for row in model.objects.order_by("pk").iterator(chunk_size=500):
        synced_at = fresh.get(row.pk)
        changed_at = max(row.updated_at, touched(row)) if touched else row.updated_at
        if synced_at is None or changed_at > synced_at:
            yield row


def _contacts_changed(*, account, known_users, stats) -> list[ContactRecord]:
    newest_address = dict(
        ContactAddress.objects.values("contact_id")
        .annotate(at=Max("first_seen_at"))
        .values_list("contact_id", "at")
    )
    records = []
    touched = lambda contact: newest_address.get(contact.pk) or contact.updated_at  # noqa: E731
    for contact in _changed(Contact, account, LinkedObject.CONTACT, touched=touched):
        record = contact_mirror_record(contact)
        if not record.addresses:
            stats["contacts_skipped_no_chat"] += 1
        elif record.responsible_id not in known_users:
            # The platform needs a responsible agent; a new client gets one when routed.
            stats["contacts_skipped_no_responsible"] += 1
        else:
            records.append(record)
    return records


def _deals_changed(*, account, known_users, stats) -> list[DealRecord]:
    pushed_contacts = set(
        ExternalLink.objects.filter(
            account=account, object_type=LinkedObject.CONTACT, synced_at__isnull=False
        ).values_list("external_id", flat=True)
    )
    records = []
    for deal in _changed(Deal, account, LinkedObject.DEAL):
        record = deal_mirror_record(deal)
        contacts = tuple(c for c in record.contact_ids if c in pushed_contacts)
        if not contacts or record.responsible_id not in known_users:
            stats["deals_skipped"] += 1
            continue
        record.contact_ids = contacts
        records.append(record)
    return records


def _deletions_push(mirror, account, *, current, stats) -> None:
    """Records pushed before and gone here (or no longer agents) are deleted at the platform."""
    alive = {
        LinkedObject.USER: {int(r.id) for r in current["users"]},
        LinkedObject.CONTACT: set(Contact.objects.values_list("pk", flat=True)),
        LinkedObject.DEAL: set(Deal.objects.values_list("pk", flat=True)),
    }
    routes = {
        LinkedObject.USER: "users",
        LinkedObject.CONTACT: "contacts",
        LinkedObject.DEAL: "deals",
    }
    for object_type, route in routes.items():
        gone = ExternalLink.objects.filter(account=account, object_type=object_type).exclude(
            local_id__in=alive[object_type]
        )
        ids = list(gone.values_list("external_id", flat=True))
        if not ids:
            continue
        stats["requests"] += mirror.delete(route, ids)
        gone.delete()
        stats[f"{route}_deleted"] += len(ids)


def contact_mirror_record(contact: Contact) -> ContactRecord:
    rows = ContactAddress.objects.filter(contact=contact).order_by("pk")
    addresses = tuple(Address(r.transport, r.address, r.handle) for r in rows)
    if contact.phone and not any(a.value == contact.phone for a in addresses):
        addresses = (Address("whatsapp", contact.phone), *addresses)
    chats = tuple(a for a in addresses if a.transport in ("whatsapp", "telegram", "wazzup"))
    return ContactRecord(
        id=str(contact.pk),
        name=contact.name or contact.reach,
        responsible_id=str(contact.responsible_id or ""),
        addresses=chats,
        uri=settings.PUBLIC_BASE_URL + reverse("admin:crm_contact_change", args=[contact.pk]),
    )


def deal_mirror_record(deal: Deal) -> DealRecord:
    contacts = list(deal.contacts.order_by("pk"))
    responsible = deal.responsible_id or next(
        (c.responsible_id for c in contacts if c.responsible_id), None
    )
    return DealRecord(
        id=str(deal.pk),
        name=deal.name,
        responsible_id=str(responsible or ""),
        contact_ids=tuple(str(c.pk) for c in contacts),
        closed=deal.status != DealStatus.OPEN,
        uri=settings.PUBLIC_BASE_URL + reverse("admin:crm_deal_change", args=[deal.pk]),
    )
