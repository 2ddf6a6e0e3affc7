"""Contacts, leads and companies kept in step with CRM-like platforms.

Pull: what the platform changed in the job's window is upserted by E.164 phone (the one key both
sides share, so a record without a phone is skipped; the unique index on Contact.phone decides
between racing writers). Push: ours that changed since their last sync go to the platform, with
phone "" for a contact reached only by a WhatsApp username or a Telegram chat. `ExternalLink`
remembers which record is which and what each side looked like at the last sync; when both sides
changed, the newest modification wins and a `SyncConflict` row says so.
"""

import logging
from collections import Counter
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Company, Contact, ContactKind
from crm.phones import PhoneNumberInvalid, phone_normalize
from crm.services import (
    ContactPhoneTaken,
    company_create,
    company_update,
    contact_get_or_create_by_phone,
    contact_update,
)
from integrations.connectors.base import ConnectorError, ExternalRecord, PushResult, RecordKind
from integrations.models import (
    ExternalLink,
    IntegrationAccount,
    JobRun,
    LinkedObject,
    Platform,
    SyncConflict,
    SyncJob,
)
from integrations.platforms import platform_client
from integrations.services.jobs import JobReport
from messaging.http import RemoteError

logger = logging.getLogger(__name__)

# Platforms we read changes from. Clerk.io has no "changed since" read: it only receives.
PULL_PLATFORMS = (Platform.VTENEXT, Platform.ACTIVECAMPAIGN)
# What we send to each platform, in this order (companies first, so contacts can point at them).
PUSH_SCOPE = {
    Platform.VTENEXT: (LinkedObject.COMPANY, LinkedObject.CONTACT),
    Platform.ACTIVECAMPAIGN: (LinkedObject.CONTACT,),
    Platform.CLERK: (LinkedObject.CONTACT,),
}
MODELS = {LinkedObject.CONTACT: Contact, LinkedObject.COMPANY: Company}
# Platforms that tell leads from contacts. Elsewhere (ActiveCampaign) everyone is a "contact",
# which says nothing about being a customer, so the kind is ours to keep.
KIND_AWARE = (Platform.VTENEXT,)
MAX_ERROR_LINES = 10


class RecordSendRefused(Exception):
    """The record cannot go to that account; the text says why."""


def customers_sync(*, job: SyncJob, run: JobRun | None = None, now=None) -> JobReport:
    """The `sync_customers` job: every CRM-like account, over the last `job.window_days` days."""
    now = now or timezone.now()
    since = now - timedelta(days=job.window_days)
    report = JobReport()
    accounts = list(IntegrationAccount.objects.filter(platform__in=PUSH_SCOPE).order_by("pk"))
    if not accounts:
        report.note("No CRM, marketing or shop account is configured.")
    ran = 0
    per_account = {}
    for account in accounts:
        if not account.is_active:
            report.add("accounts_skipped")
            report.note(f"{account}: skipped, the account is inactive.")
            per_account[account.description] = {"skipped": "inactive"}
            continue
        ran += 1
        try:
            stats, errors = account_customers_sync(account=account, since=since, run=run)
        except ConnectorError as exc:
            report.fail(f"{account}: {exc.message}")
            per_account[account.description] = {"error": exc.message}
            continue
        per_account[account.description] = dict(stats)
        for key, value in stats.items():
            report.add(key, value)
        summary = ", ".join(f"{k} {v}" for k, v in sorted(stats.items())) or "nothing changed"
        report.note(f"{account}: {summary}.")
        for error in errors:
            report.fail(f"{account}: {error}")
    ran += _crm_mirrors_sync(report=report, per_account=per_account)
    report.counts["since"] = since.isoformat(timespec="seconds")
    report.counts["accounts"] = per_account
    report.skipped = ran == 0
    return report


def _crm_mirrors_sync(*, report: JobReport, per_account: dict) -> int:
    """The platforms that mirror our CRM (Wazzup) get their push in the same job and window."""
    from integrations.services.crm_mirror import account_crm_push, crm_mirror_accounts

    ran = 0
    for account in crm_mirror_accounts():
        ran += 1
        try:
            stats, errors = account_crm_push(account=account)
        except RemoteError as exc:  # a provider's or a connector's
            report.fail(f"{account}: {exc.message}")
            per_account[account.description] = {"error": exc.message}
            continue
        per_account[account.description] = dict(stats)
        report.note(
            f"{account}: pushed "
            + (", ".join(f"{k} {v}" for k, v in sorted(stats.items())) or "nothing")
        )
        for error in errors:
            report.fail(f"{account}: {error}")
    return ran


def account_customers_sync(
    *, account: IntegrationAccount, since: datetime, run: JobRun | None = None
) -> tuple[Counter, list[str]]:
    """Pull then push one account. A failed pull raises; a failed push of one record is counted
    and listed, and the others still go."""
    connector = platform_client(account)
    stats: Counter = Counter()
    errors: list[str] = []
    try:
        if account.platform in PULL_PLATFORMS:
            for record in connector.iter_modified(since):
                _pull_one(account=account, record=record, since=since, run=run, stats=stats)
        for object_type in PUSH_SCOPE[account.platform]:
            _push_changed(
                account=account,
                connector=connector,
                object_type=object_type,
                since=since,
                stats=stats,
                errors=errors,
            )
    finally:
        close = getattr(connector, "close", None)
        if close:
            close()
    return stats, errors


# --- pull --------------------------------------------------------------------------------------


def _pull_one(*, account, record: ExternalRecord, since, run, stats: Counter) -> None:
    try:
        phone = phone_normalize(record.phone)
    except PhoneNumberInvalid:
        stats["skipped_no_phone"] += 1
        return
    object_type = (
        LinkedObject.COMPANY if record.kind == RecordKind.COMPANY else LinkedObject.CONTACT
    )
    try:
        with transaction.atomic():
            outcome = _upsert(
                account=account,
                object_type=object_type,
                record=record,
                phone=phone,
                since=since,
                run=run,
            )
    except IntegrityError:
        # A concurrent writer linked or created the same record first; the next run settles it.
        outcome = "skipped_concurrent"
    stats[outcome] += 1


def _upsert(*, account, object_type, record, phone, since, run) -> str:
    model = MODELS[object_type]
    link = (
        ExternalLink.objects.select_for_update()
        .filter(account=account, object_type=object_type, external_id=record.external_id)
        .first()
    )
    local = model.objects.filter(pk=link.local_id).first() if link else None
    if local is None:
        local = model.objects.filter(phone=phone).order_by("pk").first()
        if (
            local is not None
            and ExternalLink.objects.filter(
                account=account, object_type=object_type, local_id=local.pk
            )
            .exclude(external_id=record.external_id)
            .exists()
        ):
            # The platform holds two records with one number (a lead and a contact, say): ours
            # stays linked to the first and the second is left for a person to merge.
            return "skipped_duplicate_phone"
    wanted = _wanted_values(account=account, object_type=object_type, record=record, phone=phone)

    if local is None:
        local = _create_local(
            account=account, object_type=object_type, record=record, phone=phone, wanted=wanted
        )
        _link_save(account=account, object_type=object_type, local=local, record=record, link=link)
        return "created"

    changes = _differences(local, wanted)
    remote_changed = (
        link is None
        or link.remote_modified_at is None
        or record.modified_at is None
        or record.modified_at > link.remote_modified_at
    )
    if link is None:
        local_changed = local.updated_at >= since
    else:
        local_changed = link.synced_at is None or local.updated_at > link.synced_at
    if not remote_changed:
        # Seen before: a change of ours since the last sync is still to be pushed.
        _link_save(
            account=account,
            object_type=object_type,
            local=local,
            record=record,
            link=link,
            keep_synced_at=True,
        )
        return "unchanged"
    if not changes:
        _link_save(account=account, object_type=object_type, local=local, record=record, link=link)
        return "unchanged"

    if local_changed:
        remote_wins = record.modified_at is not None and record.modified_at > local.updated_at
        SyncConflict.objects.create(
            account=account,
            run=run,
            object_type=object_type,
            local_id=local.pk,
            external_id=record.external_id,
            local_modified_at=local.updated_at,
            remote_modified_at=record.modified_at or timezone.now(),
            winner=SyncConflict.Winner.REMOTE if remote_wins else SyncConflict.Winner.LOCAL,
            local_values={name: _plain(getattr(local, name)) for name in changes},
            remote_values={name: _plain(value) for name, value in changes.items()},
        )
        if not remote_wins:
            # Ours is newer: remember the platform's version as seen, keep `synced_at` so the push
            # below sends ours.
            _link_save(
                account=account,
                object_type=object_type,
                local=local,
                record=record,
                link=link,
                keep_synced_at=True,
            )
            return "conflicts_local_won"
        outcome = "conflicts_remote_won"
    else:
        outcome = "updated"
    local = _apply(object_type=object_type, local=local, changes=changes)
    _link_save(account=account, object_type=object_type, local=local, record=record, link=link)
    return outcome


def _wanted_values(*, account, object_type, record: ExternalRecord, phone: str) -> dict:
    """Our fields as the platform has them; an empty value on their side never blanks ours."""
    values = {"name": record.name, "email": record.email, "phone": phone}
    if object_type == LinkedObject.CONTACT:
        if record.kind == RecordKind.CONTACT and account.platform in KIND_AWARE:
            values["kind"] = ContactKind.CUSTOMER  # a customer is never demoted to a lead
        if record.company_external_id:
            company_link = ExternalLink.objects.filter(
                account=account,
                object_type=LinkedObject.COMPANY,
                external_id=record.company_external_id,
            ).first()
            if company_link:
                values["company_id"] = company_link.local_id
    return {k: v for k, v in values.items() if v not in ("", None)}


def _differences(local, wanted: dict) -> dict:
    return {name: value for name, value in wanted.items() if getattr(local, name) != value}


def _plain(value):
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def _create_local(*, account, object_type, record, phone, wanted):
    if object_type == LinkedObject.COMPANY:
        return company_create(
            name=wanted.get("name") or phone, phone=phone, email=wanted.get("email", "")
        )
    kind = wanted.get("kind", ContactKind.LEAD)
    contact, _ = contact_get_or_create_by_phone(
        phone_e164=phone, name=wanted.get("name", ""), kind=kind
    )
    extra = {k: v for k, v in wanted.items() if k in ("email", "company_id")}
    if extra:
        contact = contact_update(contact=contact, **extra)
    return contact


def _apply(*, object_type, local, changes: dict):
    if object_type == LinkedObject.CONTACT:
        phone = changes.pop("phone", None)
        if phone:
            try:
                local = contact_update(contact=local, phone=phone)
            except ContactPhoneTaken:
                logger.info("contact %s: the platform's new phone belongs to another", local.pk)
        return contact_update(contact=local, **changes) if changes else local
    return company_update(company=local, **changes)


def _link_save(*, account, object_type, local, record, link, keep_synced_at=False) -> None:
    synced_at = link.synced_at if (keep_synced_at and link) else local.updated_at
    if link is None:
        ExternalLink.objects.create(
            account=account,
            object_type=object_type,
            local_id=local.pk,
            external_id=record.external_id,
            external_kind=record.kind,
            remote_modified_at=record.modified_at,
            synced_at=synced_at,
        )
        return
    link.local_id = local.pk
    link.external_kind = record.kind
    if record.modified_at and (
        link.remote_modified_at is None or record.modified_at > link.remote_modified_at
    ):
        link.remote_modified_at = record.modified_at
    link.synced_at = synced_at
    link.save(update_fields=["local_id", "external_kind", "remote_modified_at", "synced_at"])


# --- push --------------------------------------------------------------------------------------


def _push_changed(*, account, connector, object_type, since, stats, errors) -> None:
    links = {
        link.local_id: link
        for link in ExternalLink.objects.filter(account=account, object_type=object_type)
    }
    rows = MODELS[object_type].objects.filter(updated_at__gte=since).order_by("pk")
    if object_type == LinkedObject.CONTACT:
        # An erased person is never sent again: the erasure asked the platform to forget them.
        rows = rows.select_related("company").filter(erased_at__isnull=True)
        if account.platform == Platform.CLERK:
            # Clerk.io's customers are shop customers, not prospects.
            rows = rows.filter(kind=ContactKind.CUSTOMER)
    company_ids = _company_external_ids(account) if object_type == LinkedObject.CONTACT else {}
    for obj in rows:
        link = links.get(obj.pk)
        if link and link.synced_at and obj.updated_at <= link.synced_at:
            continue  # unchanged since it was last synced (or just pulled)
        try:
            result = _push_one(
                account=account,
                connector=connector,
                object_type=object_type,
                obj=obj,
                link=link,
                company_ids=company_ids,
            )
        except ConnectorError as exc:
            stats["push_failed"] += 1
            if len(errors) < MAX_ERROR_LINES:
                errors.append(f"{object_type} #{obj.pk} not sent: {exc.message}")
            continue
        # The platform already held it (and refused a duplicate): ours is now linked to that one.
        stats["push_linked" if result.existed else "pushed"] += 1


def _company_external_ids(account) -> dict[int, str]:
    return dict(
        ExternalLink.objects.filter(account=account, object_type=LinkedObject.COMPANY).values_list(
            "local_id", "external_id"
        )
    )


def _record_for(*, account, object_type, obj, link, company_ids) -> ExternalRecord:
    if object_type == LinkedObject.COMPANY:
        return ExternalRecord(
            external_id=link.external_id if link else "",
            kind=RecordKind.COMPANY,
            name=obj.name,
            phone=obj.phone,
            email=obj.email,
        )
    if link and link.external_kind:
        kind = link.external_kind
    else:
        kind = RecordKind.LEAD if obj.kind == ContactKind.LEAD else RecordKind.CONTACT
    external_id = link.external_id if link else ""
    if account.platform == Platform.CLERK:
        # Clerk keeps the shop's own customer id (clerk-io.md §4): ours.
        external_id, kind = str(obj.pk), RecordKind.CONTACT
    company = obj.company
    return ExternalRecord(
        external_id=external_id,
        kind=kind,
        name=obj.name,
        # A contact reached only by a WhatsApp username or a Telegram chat has no phone.
        phone=obj.phone or "",
        email=obj.email,
        company_external_id=company_ids.get(company.pk, "") if company else "",
        company_name=company.name if company else "",
    )


def _push_one(*, account, connector, object_type, obj, link, company_ids) -> PushResult:
    record = _record_for(
        account=account, object_type=object_type, obj=obj, link=link, company_ids=company_ids
    )
    result = connector.push_result(record)
    external_id = result.external_id
    try:
        with transaction.atomic():
            ExternalLink.objects.update_or_create(
                account=account,
                object_type=object_type,
                local_id=obj.pk,
                defaults={
                    "external_id": external_id,
                    "external_kind": record.kind,
                    "synced_at": obj.updated_at,
                },
            )
    except IntegrityError:
        # ActiveCampaign's sync matches by e-mail, so two of ours sharing an address land on
        # one record there; the second is reported, not linked.
        other = ExternalLink.objects.filter(
            account=account, object_type=object_type, external_id=external_id
        ).first()
        raise ConnectorError(
            f"the platform stored it as {external_id}, which is already linked to "
            f"{object_type} #{other.local_id if other else '?'}."
        ) from None
    return result


# --- one record, now ---------------------------------------------------------------------------


def record_send(*, account: IntegrationAccount, object_type: str, local_id: int) -> str:
    """Send one contact or company to an account now; return its id there.

    Raises `RecordSendRefused` when it cannot go there, `ConnectorError` when the platform said no.
    """
    if object_type not in MODELS:
        raise RecordSendRefused(f"Only contacts and companies can be sent, not {object_type!r}.")
    if not account.is_active:
        raise RecordSendRefused(f"The account {account.description!r} is inactive.")
    scope = PUSH_SCOPE.get(account.platform, ())
    if object_type not in scope:
        raise RecordSendRefused(
            f"{account.get_platform_display()} does not store {object_type} records."
        )
    model = MODELS[object_type]
    related = ("company",) if object_type == LinkedObject.CONTACT else ()
    obj = model.objects.select_related(*related).filter(pk=local_id).first()
    if obj is None:
        raise RecordSendRefused(f"There is no {object_type} #{local_id}.")
    link = ExternalLink.objects.filter(
        account=account, object_type=object_type, local_id=obj.pk
    ).first()
    connector = platform_client(account)
    try:
        return _push_one(
            account=account,
            connector=connector,
            object_type=object_type,
            obj=obj,
            link=link,
            company_ids=_company_external_ids(account),
        ).external_id
    finally:
        close = getattr(connector, "close", None)
        if close:
            close()
