"""Business events in, WhatsApp template notifications out.

An external system (a shop, a reserved area, an agenda, a document store) posts an event; the
account's `NotificationRule` for that type says whether it notifies, on which channel, with which
approved template and which parameters taken from the event data. Every event is kept as a
`BusinessEvent` with its outcome: sent (with the message), scheduled (a due reminder), skipped
(and why), failed (and the error) or rejected (invalid, with the field errors).
"""

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm.models import Contact
from crm.phones import PhoneNumberInvalid, phone_normalize
from crm.services import contact_get_or_create_by_phone
from crm.services_consent import CONSENT_REFUSALS
from integrations.models import BusinessEvent, EventType, NotificationRule
from integrations.notification_text import text_notification_send
from integrations.selectors import contacts_visible_to_account
from integrations.serializers import EVENT_TYPES, EventIn
from integrations.services import account_contact_link
from messaging.services import MessageRefused, message_send_template

logger = logging.getLogger(__name__)

State = BusinessEvent.State


class EventRejected(Exception):
    def __init__(self, errors: dict, event: BusinessEvent):
        self.errors = errors
        self.event = event
        super().__init__(f"Invalid event: {errors}")


class ParameterMissing(Exception):
    pass


class _Outcome(Exception):
    """Ends processing with a final state; raised from deep helpers, caught once."""

    def __init__(self, state: str, reason: str):
        self.state = state
        self.reason = reason
        super().__init__(reason)


def _storable(value):
    """The posted JSON as PostgreSQL's jsonb takes it: no NUL characters (jsonb refuses
    `\\u0000`); the rest is kept as sent."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def business_event_receive(*, account, body) -> tuple[BusinessEvent, bool]:
    """Store and process one posted event; True when new.

    The same id twice is one event: the unique index on (account, id) decides, and the second
    post reads the first one's outcome. An invalid event is kept as rejected and raises
    `EventRejected` with the field errors.
    """
    body = _storable(body)
    envelope = EventIn(data=body)
    if not envelope.is_valid():
        raw = body if isinstance(body, dict) else {"body": body}
        event = BusinessEvent.objects.create(
            account=account,
            external_id=str(raw.get("id", ""))[:200],
            type=str(raw.get("type", ""))[:40],
            payload=raw,
            state=State.REJECTED,
            reason="Invalid event.",
            errors=envelope.errors,
            processed_at=timezone.now(),
        )
        raise EventRejected(envelope.errors, event)
    valid = envelope.validated_data
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = BusinessEvent.objects.create(
                    account=account,
                    external_id=valid["id"],
                    dedupe_key=valid["id"],
                    type=valid["type"],
                    payload=body,
                )
        except IntegrityError:
            return BusinessEvent.objects.get(account=account, dedupe_key=valid["id"]), False
        business_event_process(event=event)
    return event, True


def business_event_process(*, event: BusinessEvent, due: bool = False) -> BusinessEvent:
    """Send the event's notification, or record why not. `due`: a scheduled reminder whose time
    has come, sent now (its rule is read again: an operator may have switched it off since)."""
    try:
        rule = _rule_for(event)
        _check_status(event, rule)
        phone, name, contact = _recipient(event)
        event.recipient_phone = phone or ""
        if event.type == EventType.ACTIVITY_DUE and not due:
            send_at = _reminder_time(event, rule)
            if send_at > timezone.now():
                event.send_at = send_at
                raise _Outcome(
                    State.SCHEDULED,
                    f"Reminder due at {timezone.localtime(send_at):%Y-%m-%d %H:%M} "
                    f"({rule.lead_time_minutes} minutes before the activity).",
                )
        _send(event, rule, phone=phone, name=name, contact=contact)
    except _Outcome as outcome:
        event.state = outcome.state
        event.reason = outcome.reason
    event.processed_at = timezone.now()
    event.save()
    return event


def business_events_send_due(*, now=None) -> dict:
    """Send the reminders whose time has come. A job runs this every minute; each event is
    claimed with a conditional UPDATE, so two workers never send one reminder twice."""
    now = now or timezone.now()
    due = list(
        BusinessEvent.objects.filter(state=State.SCHEDULED, send_at__lte=now)
        .order_by("send_at")
        .values_list("pk", flat=True)[:500]
    )
    counts = {"sent": 0, "skipped": 0, "failed": 0}
    for pk in due:
        with transaction.atomic():
            if not BusinessEvent.objects.filter(pk=pk, state=State.SCHEDULED).update(
                state=State.RECEIVED
            ):
                continue
            event = BusinessEvent.objects.select_related("account").get(pk=pk)
            event = business_event_process(event=event, due=True)
        counts[event.state] = counts.get(event.state, 0) + 1
    return counts


# ---------------------------------------------------------------------------------------------


def _rule_for(event: BusinessEvent) -> NotificationRule:
    rule = (
        NotificationRule.objects.select_related("channel__account", "template")
        .filter(account_id=event.account_id, event_type=event.type)
        .first()
    )
    if rule is None:
        raise _Outcome(State.SKIPPED, f"No notification rule for {event.type} events.")
    if not rule.is_enabled:
        raise _Outcome(State.SKIPPED, f"The notification rule for {event.type} is off.")
    return rule


def _check_status(event: BusinessEvent, rule: NotificationRule) -> None:
    if event.type != EventType.ORDER_STATUS_CHANGED or not rule.statuses:
        return
    order_status = str(event.payload["data"].get("status", ""))
    if order_status not in rule.statuses:
        raise _Outcome(
            State.SKIPPED,
            f"Order status {order_status!r} does not notify (notifying: "
            f"{', '.join(rule.statuses)}).",
        )


def _recipient(event: BusinessEvent) -> tuple[str, str, Contact | None]:
    recipient = event.payload.get("recipient") or {}
    if recipient.get("contact_id"):
        contact = (
            contacts_visible_to_account(account=event.account)
            .filter(pk=recipient["contact_id"])
            .first()
        )
        if contact is None:
            raise _Outcome(State.FAILED, f"Unknown contact {recipient['contact_id']}.")
        return contact.phone or "", contact.name, contact
    raw, name = recipient.get("phone"), ""
    if not raw:
        _, path = EVENT_TYPES[event.type]
        raw = _lookup(event.payload["data"], path, default="")
        name = str(_lookup(event.payload["data"], path.rsplit(".", 1)[0] + ".name", default=""))
        if not raw:
            raise _Outcome(
                State.SKIPPED, f"No phone: the event has no recipient and no data.{path}."
            )
    try:
        return phone_normalize(str(raw)), name, None
    except PhoneNumberInvalid as exc:
        raise _Outcome(State.FAILED, exc.messages[0]) from None


def _reminder_time(event: BusinessEvent, rule: NotificationRule):
    due_at = parse_datetime(str(event.payload["data"]["activity"]["due_at"]))
    if timezone.is_naive(due_at):
        due_at = timezone.make_aware(due_at)
    return due_at - timedelta(minutes=rule.lead_time_minutes)


def _send(event: BusinessEvent, rule: NotificationRule, *, phone, name, contact) -> None:
    if not rule.channel.capabilities.template_kind:
        # A channel without templates (a Telegram bot) sends the rule's text.
        try:
            state, reason, message = text_notification_send(
                event=event, rule=rule, phone=phone, contact=contact
            )
        except ParameterMissing as exc:
            raise _Outcome(State.FAILED, str(exc)) from None
        event.rule, event.message = rule, message
        raise _Outcome(state, reason)
    if contact is None:
        contact, _ = contact_get_or_create_by_phone(phone_e164=phone, name=name)
    account_contact_link(account=event.account, contact=contact)
    context = {
        **event.payload["data"],
        "event": {"id": event.external_id, "type": event.type},
        "contact": {"name": contact.name, "phone": contact.phone or ""},
    }
    event.rule = rule
    try:
        params = notification_parameters(rule=rule, context=context)
        with transaction.atomic():
            message = message_send_template(
                channel=rule.channel, contact=contact, template=rule.template, **params
            )
    except MessageRefused as exc:
        if exc.code in CONSENT_REFUSALS:
            # The person's choice, not a fault: logged as skipped with the policy's reason.
            raise _Outcome(State.SKIPPED, f"{exc.code}: {exc}") from None
        raise _Outcome(State.FAILED, str(exc)) from None
    except ParameterMissing as exc:
        raise _Outcome(State.FAILED, str(exc)) from None
    event.message = message
    raise _Outcome(State.SENT, f"Sent {rule.template.name} [{rule.template.language}].")


_MISSING = object()


def _lookup(data, path: str, default=_MISSING):
    value = data
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            if default is _MISSING:
                raise ParameterMissing(f"The event data has no {path}.")
            return default
    return value


def notification_parameters(*, rule: NotificationRule, context: dict) -> dict:
    """The template parameters a rule asks for, each read from the event by its dotted path."""
    mapping = rule.parameters or {}
    body = [str(_lookup(context, path)) for path in mapping.get("body", [])]
    header = [str(_lookup(context, path)) for path in mapping.get("header", [])]
    buttons = [
        {
            "index": int(button.get("index", 0)),
            "sub_type": button.get("sub_type", "url"),
            "value": str(_lookup(context, button["path"])),
        }
        for button in mapping.get("buttons", [])
    ]
    return {"body_params": body, "header_params": header, "button_params": buttons}
