"""Campaigns: create, preview, start (now or at a time), run, pause, resume and cancel.

Every send goes through `message_send` (role, account, consent policy, template checks, the
message stored as queued) and `message_deliver` (the policy asked again right before the call,
queued -> sending -> sent | failed, the channel's throughput): a campaign adds pacing and
bookkeeping, never a path of its own.

Exactly once per recipient, and why it holds
--------------------------------------------
1. A recipient is one row, unique per (campaign, contact). A worker claims a batch of rows in one
   statement (SELECT ... FOR UPDATE SKIP LOCKED, then one UPDATE setting its token and a lease),
   so two workers never hold the same row.
2. The recipient's message is created by `message_send` in the same transaction that moves the
   row from `claimed` (with the worker's token) to `queued` and links the message. A worker
   killed before that commit leaves no message and a claimed row whose lease expires: the next
   worker claims it again. A worker whose lease ran out while it was still working finds its
   token gone and rolls its message back. So a recipient gets one message, never zero.
3. The message reaches the provider through `message_deliver`, whose conditional UPDATE
   queued -> sending lets one caller only make the call. A worker killed before that UPDATE
   leaves the message `queued`: the next worker (or the messaging sweep) delivers it. One
   killed after it and before the settle leaves it `sending` with no provider id, and nobody
   here can tell whether the request reached the provider.
4. The provider answers that, because Meta's send call has no idempotency key: the call
   carries our message id as callback data and the provider reports every message it accepted
   with a status webhook carrying that id (Meta: the `sent` status, within seconds; Twilio: the
   status callback), which settles the message (`status_apply`). The reconcile below waits
   `CAMPAIGN_STATUS_GRACE_SECONDS` (default 300) after the dead worker's lease
   (`CAMPAIGN_LEASE_SECONDS`, default 120) for that status. A message still `sending` with no
   provider id after the grace never reached the provider: it goes back to `queued` and is
   sent. Lease + grace must stay well above HTTP_TIMEOUT_SECONDS, so a live worker's call is
   never taken for a lost one.

The guarantee rests on one assumption, stated here rather than hidden: the provider reports an
accepted message within the grace period. If our webhook endpoint were down for longer than
that while a worker was also killed mid-call, that one message could go twice; the grace is a
setting. Campaigns send templates, so their providers are the WhatsApp Cloud API and Twilio, and
both report every accepted send.
"""

import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from crm.models import Contact
from integrations.campaign_models import Campaign, CampaignRecipient
from integrations.campaign_selectors import (
    PARAMETER_PATHS,
    SegmentInvalid,
    campaign_audience,
    campaign_channel,
    campaign_parameters_for,
)
from integrations.rate_limit import request_slot_acquire
from messaging.models import Message, MessageTemplate
from messaging.queueing import after_commit, task_enqueue
from messaging.services.outbound import (
    MessageRefused,
    TemplateContent,
    message_deliver,
    message_send,
)

logger = logging.getLogger(__name__)

C = Campaign.Status
R = CampaignRecipient.State
M = Message.Status


def _setting(name: str, default):
    return getattr(settings, name, default)


class CampaignInvalid(ValueError):
    """The campaign cannot be saved or started as given; `field` names what to fix."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


# ---------------------------------------------------------------------------------------------
# Creating and checking


def campaign_check(*, campaign: Campaign) -> None:
    """Raise CampaignInvalid unless the campaign can be sent as it stands."""
    template: MessageTemplate = campaign.template
    if not template.is_approved:
        raise CampaignInvalid(
            f"Template {template.name!r} is not approved (status {template.status}).",
            field="template",
        )
    if (template.category or "").upper() != "MARKETING":
        raise CampaignInvalid(
            f"Template {template.name!r} is a {template.category or 'uncategorised'} template: "
            "campaigns send marketing templates.",
            field="template",
        )
    parameters = campaign.parameters or []
    if not isinstance(parameters, list):
        raise CampaignInvalid("Parameters are a list, one per body parameter.", field="parameters")
    if len(parameters) != template.body_param_count:
        raise CampaignInvalid(
            f"Template {template.name!r} takes {template.body_param_count} body parameter(s); "
            f"{len(parameters)} given.",
            field="parameters",
        )
    for value in parameters:
        text = str(value).strip()
        if not text:
            raise CampaignInvalid("A parameter is empty.", field="parameters")
        if text.startswith("contact.") and text not in PARAMETER_PATHS:
            raise CampaignInvalid(
                f"{text!r} is not a contact field; use one of {', '.join(PARAMETER_PATHS)}.",
                field="parameters",
            )
    if bool(campaign.channel_id) == bool(campaign.service_id):
        raise CampaignInvalid("Choose a channel or a service (one of them).", field="channel")
    channel = campaign_channel(campaign=campaign)
    if channel is None:
        raise CampaignInvalid(
            "The service has no channel on the template's account.", field="service"
        )
    if channel.account_id != template.account_id:
        raise CampaignInvalid(
            f"Template {template.name!r} belongs to another account than {channel.name}.",
            field="template",
        )
    if campaign.throttle_per_second is not None and campaign.throttle_per_second < 1:
        raise CampaignInvalid("At least one message per second.", field="throttle_per_second")
    try:
        campaign_audience(channel=channel, segment=campaign.segment or {})
    except (SegmentInvalid, ValueError, TypeError) as exc:
        raise CampaignInvalid(str(exc), field="segment") from exc


def campaign_create(
    *,
    name: str,
    template: MessageTemplate,
    parameters: list | None = None,
    channel=None,
    service=None,
    segment: dict | None = None,
    scheduled_at=None,
    throttle_per_second: int | None = None,
    actor=None,
) -> Campaign:
    campaign = Campaign(
        name=name,
        template=template,
        parameters=list(parameters or []),
        channel=channel,
        service=service,
        segment={k: v for k, v in (segment or {}).items() if v not in (None, "")},
        scheduled_at=scheduled_at,
        throttle_per_second=throttle_per_second,
        created_by=actor,
    )
    campaign_check(campaign=campaign)
    campaign.save()
    return campaign


# ---------------------------------------------------------------------------------------------
# Starting, pausing, resuming, cancelling


def campaign_start(*, campaign: Campaign) -> Campaign:
    """A draft goes: at its time if it has one in the future, else now."""
    campaign_check(campaign=campaign)
    if campaign.scheduled_at and campaign.scheduled_at > timezone.now():
        moved = Campaign.objects.filter(pk=campaign.pk, status=C.DRAFT).update(status=C.SCHEDULED)
        if not moved:
            raise CampaignInvalid(f"The campaign is {campaign.get_status_display().lower()}.")
        campaign.refresh_from_db()
        return campaign
    return _launch(campaign=campaign, from_statuses=(C.DRAFT,))


def campaigns_start_due(*, now=None) -> int:
    """Scheduled campaigns whose time has come start; running ones nobody works on are woken."""
    now = now or timezone.now()
    started = []
    for campaign in Campaign.objects.filter(status=C.SCHEDULED, scheduled_at__lte=now):
        try:
            _launch(campaign=campaign, from_statuses=(C.SCHEDULED,))
            started.append(campaign.pk)
        except CampaignInvalid as exc:
            Campaign.objects.filter(pk=campaign.pk).update(last_error=str(exc))
    running = Campaign.objects.filter(status=C.RUNNING).exclude(pk__in=started)
    for campaign_id in running.values_list("pk", flat=True):
        held = CampaignRecipient.objects.filter(
            campaign_id=campaign_id, state__in=[R.CLAIMED, R.QUEUED], claimed_until__gt=now
        )
        if not held.exists():
            campaign_run_enqueue(campaign_id=campaign_id)
    return len(started)


def _launch(*, campaign: Campaign, from_statuses) -> Campaign:
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status not in from_statuses:
            raise CampaignInvalid(f"The campaign is {locked.get_status_display().lower()}.")
        count = campaign_audience_build(campaign=locked)
        Campaign.objects.filter(pk=campaign.pk).update(
            status=C.RUNNING, started_at=timezone.now(), audience_count=count, last_error=""
        )
        after_commit(
            lambda: campaign_run_enqueue(campaign_id=campaign.pk),
            what=f"campaign {campaign.pk}",
        )
    campaign.refresh_from_db()
    return campaign


def campaign_audience_build(*, campaign: Campaign) -> int:
    """One INSERT ... SELECT: the segment's contacts become pending recipients, each once (the
    unique constraint drops repeats). Returns how many rows were added."""
    channel = campaign_channel(campaign=campaign)
    audience = campaign_audience(channel=channel, segment=campaign.segment or {})
    sql, params = audience.order_by().values(recipient_contact=F("pk")).query.sql_with_params()
    table = CampaignRecipient._meta.db_table
    # `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
    statement = (
        f"INSERT INTO {table} "  # noqa: S608 (table name from the model, values as parameters)
        "(campaign_id, contact_id, state, claim_token, skip_code, skip_reason) "
        f"SELECT %s, audience.recipient_contact, %s, '', '', '' FROM ({sql}) audience WHERE true "
        "ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, (campaign.pk, R.PENDING, *params))
        added = cursor.rowcount
    return max(added, 0)


def campaign_pause(*, campaign: Campaign) -> Campaign:
    """Workers stop before their next send; what they hold goes back to the pool."""
    return _move(campaign, (C.RUNNING, C.SCHEDULED), C.PAUSED)


def campaign_resume(*, campaign: Campaign) -> Campaign:
    if not campaign.started_at:
        # Paused before its time came: scheduled again, or started now if the time has passed.
        if campaign.scheduled_at and campaign.scheduled_at > timezone.now():
            return _move(campaign, (C.PAUSED,), C.SCHEDULED)
        return _launch(campaign=campaign, from_statuses=(C.PAUSED,))
    campaign = _move(campaign, (C.PAUSED,), C.RUNNING)
    after_commit(
        lambda: campaign_run_enqueue(campaign_id=campaign.pk), what=f"campaign {campaign.pk}"
    )
    return campaign


def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """No further sends. Recipients not reached yet are skipped with the reason; messages already
    queued go their way (they are in the customer's thread already)."""
    with transaction.atomic():
        campaign = _move(campaign, (C.DRAFT, C.SCHEDULED, C.RUNNING, C.PAUSED), C.CANCELLED)
        CampaignRecipient.objects.filter(
            campaign=campaign, state__in=[R.PENDING, R.CLAIMED]
        ).update(
            state=R.SKIPPED,
            skip_code="cancelled",
            skip_reason="The campaign was cancelled before this recipient was reached.",
            claim_token="",
            claimed_until=None,
        )
        Campaign.objects.filter(pk=campaign.pk).update(finished_at=timezone.now())
    campaign.refresh_from_db()
    return campaign


def _move(campaign: Campaign, from_statuses, to: str) -> Campaign:
    moved = Campaign.objects.filter(pk=campaign.pk, status__in=from_statuses).update(status=to)
    campaign.refresh_from_db()
    if not moved:
        raise CampaignInvalid(f"The campaign is {campaign.get_status_display().lower()}.")
    return campaign


def campaign_run_enqueue(*, campaign_id: int) -> None:
    task_enqueue("integrations.campaign_tasks.campaign_run", campaign_id, group="campaigns")


# ---------------------------------------------------------------------------------------------
# The worker


@dataclass
class RunReport:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    reclaimed: int = 0
    requeued: int = 0
    batches: int = 0
    finished: bool = False
    stopped: str = ""
    errors: list[str] = field(default_factory=list)


class _ClaimLost(Exception):
    """The lease ran out and another worker took the row: this worker's message rolls back."""


def _claim(*, campaign_id: int, token: str, size: int, lease: timedelta) -> list[tuple[int, int]]:
    """Take up to `size` recipients nobody holds: pending ones, and claimed ones whose worker's
    lease ran out (it died before making their messages)."""
    now = timezone.now()
    with transaction.atomic():
        free = (
            CampaignRecipient.objects.filter(campaign_id=campaign_id)
            .filter(Q(state=R.PENDING) | Q(state=R.CLAIMED, claimed_until__lt=now))
            .order_by("pk")
            .select_for_update(skip_locked=True)
        )
        rows = list(free.values_list("pk", "contact_id")[:size])
        if rows:
            CampaignRecipient.objects.filter(pk__in=[pk for pk, _ in rows]).update(
                state=R.CLAIMED, claim_token=token, claimed_until=now + lease
            )
    return rows


def campaign_reconcile(*, campaign_id: int, now=None) -> tuple[int, int]:
    """Messages of recipients whose worker died (lease over) and that never got handed over.

    - `queued` (the worker died before the call): delivered again by this worker.
    - `sending`/`unknown` with no provider id after the grace (see the module's docstring):
      never reached the provider; back to `queued` and delivered.
    A message the provider's status webhook settled has a provider id and is left alone.
    Returns (to deliver, put back).
    """
    now = now or timezone.now()
    grace = timedelta(seconds=_setting("CAMPAIGN_STATUS_GRACE_SECONDS", 300))
    orphans = CampaignRecipient.objects.filter(
        campaign_id=campaign_id, state=R.QUEUED, claimed_until__lt=now
    )
    lost = Message.objects.filter(
        campaign_recipient__in=orphans.filter(claimed_until__lt=now - grace),
        status__in=[M.SENDING, M.UNKNOWN],
        provider_message_id__isnull=True,
    )
    requeued = lost.update(status=M.QUEUED, next_attempt_at=None)
    # Settled by a status webhook meanwhile, or by the sweep: nothing left to do but the books.
    CampaignRecipient.objects.filter(
        pk__in=orphans.exclude(message__status__in=[M.QUEUED, M.SENDING, M.UNKNOWN]).values("pk")
    ).update(state=R.SETTLED)
    waiting = orphans.filter(message__status=M.QUEUED).count()
    return waiting, requeued


def _orphans_take(
    *, campaign_id: int, token: str, size: int, lease: timedelta
) -> list[tuple[int, int]]:
    """Queued messages of dead workers, taken over with a fresh lease: (recipient, message)."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            CampaignRecipient.objects.filter(
                campaign_id=campaign_id,
                state=R.QUEUED,
                claimed_until__lt=now,
                message__status=M.QUEUED,
            )
            .order_by("pk")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", "message_id")[:size]
        )
        if rows:
            CampaignRecipient.objects.filter(pk__in=[pk for pk, _ in rows]).update(
                claim_token=token, claimed_until=now + lease
            )
    return [(pk, message_id) for pk, message_id in rows]


def _skip(*, recipient_id: int, token: str, code: str, reason: str) -> bool:
    mine = CampaignRecipient.objects.filter(pk=recipient_id, state=R.CLAIMED, claim_token=token)
    return bool(
        mine.update(state=R.SKIPPED, skip_code=code[:40], skip_reason=reason, claimed_until=None)
    )


@dataclass
class _Job:
    campaign: Campaign
    channel: object
    token: str
    throttle: int
    report: RunReport
    stop: threading.Event
    lock: threading.Lock = field(default_factory=threading.Lock)
    settled: list = field(default_factory=list)


def _pace(job: _Job) -> None:
    """The campaign's own rate, counted across every worker process (integrations.rate_limit);
    `message_deliver` then also takes the channel's per-number slot."""
    request_slot_acquire(name=f"campaign:{job.campaign.pk}", limit=job.throttle, period=1)


def _deliver(job: _Job, *, recipient_id: int, message_id: int) -> None:
    _pace(job)
    message = message_deliver(message_id=message_id)
    with job.lock:
        # Marked settled once per batch, in one statement: one commit less per message. If this
        # worker dies first, the reconcile settles them from their messages' statuses.
        job.settled.append(recipient_id)
        if message is not None and message.status == M.FAILED:
            job.report.failed += 1
        else:
            job.report.sent += 1


def _recipient_send(job: _Job, *, recipient_id: int, contact: Contact) -> None:
    campaign = job.campaign
    params = campaign_parameters_for(parameters=campaign.parameters, contact=contact)
    empty = [path for path, value in zip(campaign.parameters, params, strict=True) if not value]
    if empty:
        _skip(
            recipient_id=recipient_id,
            token=job.token,
            code="parameter_empty",
            reason=f"{', '.join(empty)} is empty for this contact.",
        )
        with job.lock:
            job.report.skipped += 1
        return
    # `message_send` asks the consent policy (and reachability) before it stores anything: a
    # refusal is a skipped recipient with the policy's code and reason, not a failed message.
    try:
        with transaction.atomic():
            message = message_send(
                channel=job.channel,
                contact=contact,
                content=TemplateContent(template=campaign.template, body_params=tuple(params)),
                actor=None,
                deliver=False,
            )
            if not CampaignRecipient.objects.filter(
                pk=recipient_id, state=R.CLAIMED, claim_token=job.token
            ).update(state=R.QUEUED, message=message):
                raise _ClaimLost
    except MessageRefused as exc:
        _skip(recipient_id=recipient_id, token=job.token, code=exc.code, reason=str(exc))
        with job.lock:
            job.report.skipped += 1
        return
    except _ClaimLost:
        return
    _deliver(job, recipient_id=recipient_id, message_id=message.pk)


def _still_running(job: _Job) -> bool:
    status = Campaign.objects.filter(pk=job.campaign.pk).values_list("status", flat=True).first()
    if status != C.RUNNING:
        job.stop.set()
    return not job.stop.is_set()


def _work(job: _Job, tasks: "queue.Queue", *, inline: bool = False) -> None:
    """Send what is in `tasks`. Inline (one at a time, in the caller's thread and transaction)
    it asks the campaign's status itself before each send; threads have a watcher for that."""
    try:
        while not job.stop.is_set() and (not inline or _still_running(job)):
            try:
                kind, a, b = tasks.get_nowait()
            except queue.Empty:
                return
            try:
                if kind == "new":
                    _recipient_send(job, recipient_id=a, contact=b)
                else:
                    _deliver(job, recipient_id=a, message_id=b)
            except Exception as exc:  # one recipient's fault must not stop the others
                logger.exception("campaign %s: recipient %s", job.campaign.pk, a)
                with job.lock:
                    job.report.errors.append(f"recipient {a}: {exc}")
    finally:
        if not inline:
            connection.close()


def _watch(job: _Job, done: threading.Event) -> None:
    """Pausing or cancelling takes effect before the next send, not at the end of a batch."""
    try:
        while not done.wait(0.25):
            status = Campaign.objects.filter(pk=job.campaign.pk).values_list("status", flat=True)
            if status.first() != C.RUNNING:
                job.stop.set()
                return
    finally:
        connection.close()


def _settled_flush(job: _Job) -> None:
    with job.lock:
        ids, job.settled = job.settled, []
    if ids:
        CampaignRecipient.objects.filter(pk__in=ids, state=R.QUEUED).update(state=R.SETTLED)


def _release(*, token: str) -> None:
    """Rows this worker claimed but did not reach (paused): back to the pool at once."""
    CampaignRecipient.objects.filter(claim_token=token, state=R.CLAIMED).update(
        state=R.PENDING, claim_token="", claimed_until=None
    )
    # Their messages wait in `queued`: the lease ends now, so the next worker delivers them.
    CampaignRecipient.objects.filter(claim_token=token, state=R.QUEUED).update(
        claimed_until=timezone.now()
    )


def _finish_if_done(campaign_id: int) -> bool:
    left = CampaignRecipient.objects.filter(
        campaign_id=campaign_id, state__in=[R.PENDING, R.CLAIMED, R.QUEUED]
    )
    if left.exists():
        return False
    return bool(
        Campaign.objects.filter(pk=campaign_id, status=C.RUNNING).update(
            status=C.FINISHED, finished_at=timezone.now()
        )
    )


def campaign_run(
    *,
    campaign_id: int,
    concurrency: int | None = None,
    batch_size: int | None = None,
    lease_seconds: float | None = None,
    idle_wait: float = 0.5,
) -> RunReport:
    """Work on a running campaign until nothing is left, it is paused or cancelled.

    Several workers (processes or machines) may run the same campaign: claims never overlap.
    Inside one worker, `concurrency` threads send at once, each with its own connection, so the
    provider's round trip does not cap the rate; the campaign's throttle paces them all.
    """
    concurrency = concurrency or _setting("CAMPAIGN_SEND_CONCURRENCY", 16)
    batch_size = batch_size or _setting("CAMPAIGN_CLAIM_BATCH", 200)
    lease = timedelta(seconds=lease_seconds or _setting("CAMPAIGN_LEASE_SECONDS", 120))
    token = uuid.uuid4().hex
    report = RunReport()
    while True:
        campaign = (
            Campaign.objects.select_related("template", "channel__account", "service")
            .filter(pk=campaign_id)
            .first()
        )
        if campaign is None or campaign.status != C.RUNNING:
            report.stopped = campaign.status if campaign else "deleted"
            break
        channel = campaign_channel(campaign=campaign)
        throttle = campaign.throttle_per_second or channel.throughput_per_second
        job = _Job(campaign, channel, token, throttle, report, threading.Event())
        _, requeued = campaign_reconcile(campaign_id=campaign_id)
        report.requeued += requeued
        tasks = queue.Queue()
        orphans = _orphans_take(campaign_id=campaign_id, token=token, size=batch_size, lease=lease)
        for recipient_id, message_id in orphans:
            tasks.put(("deliver", recipient_id, message_id))
        report.reclaimed += len(orphans)
        claimed = _claim(campaign_id=campaign_id, token=token, size=batch_size, lease=lease)
        # The batch's contacts in one query (with what parameters read), not one per recipient.
        contacts = Contact.objects.select_related("company", "responsible").in_bulk(
            [contact_id for _, contact_id in claimed]
        )
        for recipient_id, contact_id in claimed:
            tasks.put(("new", recipient_id, contacts[contact_id]))
        if tasks.empty():
            if _finish_if_done(campaign_id):
                report.finished = True
                break
            time.sleep(idle_wait)  # another worker's lease, or a grace period, still runs
            continue
        report.batches += 1
        if concurrency == 1:
            _work(job, tasks, inline=True)
            _settled_flush(job)
            if job.stop.is_set():
                _release(token=token)
            continue
        done = threading.Event()
        watcher = threading.Thread(target=_watch, args=(job, done), daemon=True)
        watcher.start()
        threads = [
            threading.Thread(target=_work, args=(job, tasks), daemon=True)
            for _ in range(min(concurrency, tasks.qsize()))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done.set()
        watcher.join()
        _settled_flush(job)
        if job.stop.is_set():
            _release(token=token)
    _release(token=token)
    return report
