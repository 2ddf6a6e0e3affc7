"""Reading campaigns: the audience a segment selects, the preview, the totals and the recipient
table. Every figure is one aggregate query, whatever the audience's size."""

from dataclasses import dataclass
from datetime import date, datetime, time

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from crm.models import ConsentPurpose, ConsentRecord, ConsentState, Contact, ContactAddress
from integrations.campaign_models import Campaign, CampaignRecipient
from messaging.models import Channel, Conversation, Message

R = CampaignRecipient.State
M = Message.Status

# The filters a segment may hold. Labels are not here yet: conversations get labels in another
# change, and the segment gains a `labels` key when both are merged.
SEGMENT_KEYS = (
    "kind",
    "company",
    "responsible",
    "last_interaction_after",
    "last_interaction_before",
    "consent",
)
CONSENT_CHOICES = (ConsentState.OPTED_IN, ConsentState.OPTED_OUT, ConsentState.UNKNOWN)

# What a parameter path may read: the contact's own fields and those of its company and
# responsible. Anything else given as a parameter is a constant.
PARAMETER_PATHS = (
    "contact.name",
    "contact.first_name",
    "contact.last_name",
    "contact.email",
    "contact.phone",
    "contact.kind",
    "contact.company.name",
    "contact.responsible.name",
    "contact.responsible.first_name",
)


class SegmentInvalid(ValueError):
    """A segment filter that cannot be read; the text names it."""


def campaign_channel(*, campaign: Campaign) -> Channel | None:
    """The channel the campaign sends from: its own, or its service's channel on the
    template's account (the first by name)."""
    if campaign.channel_id:
        return campaign.channel
    if campaign.service_id:
        return (
            Channel.objects.select_related("account")
            .filter(service_id=campaign.service_id, account_id=campaign.template.account_id)
            .order_by("name", "pk")
            .first()
        )
    return None


def _day_start(value) -> datetime:
    """A date or datetime filter, in the business's time zone."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time.min)
    else:
        text = str(value)
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text)
            if day is None:
                raise SegmentInvalid(f"{text!r} is not a date (YYYY-MM-DD).")
            moment = datetime.combine(day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _transports(channel: Channel) -> tuple[str, ...]:
    return tuple(type(channel.get_provider()).recipient_transports)


def _consent_state(transports):
    """The state of the latest marketing record covering these transports (None: unknown)."""
    latest = (
        ConsentRecord.objects.filter(contact=OuterRef("pk"), purpose=ConsentPurpose.MARKETING)
        .filter(Q(address__isnull=True) | Q(address__transport__in=list(transports)))
        .order_by("-created_at", "-pk")
        .values("state")[:1]
    )
    return Subquery(latest)


def campaign_audience(*, channel: Channel, segment: dict) -> QuerySet[Contact]:
    """The contacts a segment selects that the channel can address at all. Consent, holds and
    unreachable addresses are not filtered here unless the segment asks: each such contact
    becomes a recipient skipped with the policy's reason, so the campaign shows who was left
    out and why."""
    transports = _transports(channel)
    reachable = Exists(
        ContactAddress.objects.filter(contact=OuterRef("pk"), transport__in=list(transports))
    )
    if "whatsapp" in transports:
        reachable = reachable | Q(phone__isnull=False)
    contacts = Contact.objects.filter(erased_at__isnull=True).filter(reachable)
    segment = segment or {}
    unknown = set(segment) - set(SEGMENT_KEYS)
    if unknown:
        raise SegmentInvalid(f"Unknown segment filter(s): {', '.join(sorted(unknown))}.")
    if segment.get("kind"):
        contacts = contacts.filter(kind=segment["kind"])
    if segment.get("company"):
        contacts = contacts.filter(company_id=int(segment["company"]))
    if segment.get("responsible"):
        contacts = contacts.filter(responsible_id=int(segment["responsible"]))
    if segment.get("last_interaction_after"):
        after = _day_start(segment["last_interaction_after"])
        contacts = contacts.filter(
            Exists(Conversation.objects.filter(contact=OuterRef("pk"), last_message_at__gte=after))
        )
    if segment.get("last_interaction_before"):
        before = _day_start(segment["last_interaction_before"])
        contacts = contacts.filter(
            Exists(Conversation.objects.filter(contact=OuterRef("pk"))),
            ~Exists(
                Conversation.objects.filter(contact=OuterRef("pk"), last_message_at__gte=before)
            ),
        )
    if segment.get("consent"):
        state = segment["consent"]
        if state not in CONSENT_CHOICES:
            raise SegmentInvalid(f"Consent must be one of {', '.join(CONSENT_CHOICES)}.")
        contacts = contacts.annotate(_consent=_consent_state(transports))
        if state == ConsentState.UNKNOWN:
            contacts = contacts.filter(Q(_consent__isnull=True) | Q(_consent=ConsentState.UNKNOWN))
        else:
            contacts = contacts.filter(_consent=state)
    return contacts


def campaign_audience_for(*, campaign: Campaign) -> QuerySet[Contact]:
    channel = campaign_channel(campaign=campaign)
    if channel is None:
        return Contact.objects.none()
    return campaign_audience(channel=channel, segment=campaign.segment)


def contact_parameter_values(contact: Contact) -> dict[str, str]:
    name = (contact.name or "").strip()
    first, _, last = name.partition(" ")
    responsible = contact.responsible
    return {
        "contact.name": name,
        "contact.first_name": first,
        "contact.last_name": last.strip(),
        "contact.email": contact.email or "",
        "contact.phone": contact.phone or "",
        "contact.kind": contact.kind,
        "contact.company.name": contact.company.name if contact.company_id else "",
        "contact.responsible.name": (responsible.get_full_name() or responsible.username)
        if responsible
        else "",
        "contact.responsible.first_name": responsible.first_name if responsible else "",
    }


def campaign_parameters_for(*, parameters: list, contact: Contact) -> list[str]:
    """The body parameters for one contact: paths read from it, constants as given."""
    values = contact_parameter_values(contact)
    return [values[p] if p in values else str(p) for p in parameters]


@dataclass(frozen=True)
class Sample:
    contact: Contact
    text: str


def campaign_preview(*, campaign: Campaign, samples: int = 3) -> tuple[int, list[Sample]]:
    """How many contacts the segment selects now, and the message as the first few read it."""
    from messaging.services.outbound import template_render

    audience = campaign_audience_for(campaign=campaign)
    count = audience.count()
    first = audience.select_related("company", "responsible").order_by("pk")[:samples]
    rendered = [
        Sample(
            contact,
            template_render(
                campaign.template,
                campaign_parameters_for(parameters=campaign.parameters, contact=contact),
            ),
        )
        for contact in first
    ]
    return count, rendered


def _replied():
    return Exists(
        Message.objects.filter(
            conversation_id=OuterRef("message__conversation_id"),
            direction=Message.Direction.INBOUND,
            created_at__gt=OuterRef("message__created_at"),
        )
    )


TOTAL_KEYS = (
    "total",
    "waiting",
    "queued",
    "sent",
    "delivered",
    "read",
    "failed",
    "skipped",
    "replied",
    "done",
)


def campaign_totals(*, campaign: Campaign) -> dict[str, int]:
    """Per-status counts in one query. `sent` counts messages the provider accepted that have
    no later status; `done` is what the progress bar shows (every recipient handed over or
    skipped)."""
    in_flight = [M.QUEUED, M.SENDING, M.UNKNOWN]
    figures = CampaignRecipient.objects.filter(campaign=campaign).aggregate(
        total=Count("pk"),
        waiting=Count("pk", filter=Q(state__in=[R.PENDING, R.CLAIMED])),
        queued=Count("pk", filter=Q(message__status__in=in_flight)),
        sent=Count("pk", filter=Q(message__status=M.SENT)),
        delivered=Count("pk", filter=Q(message__status=M.DELIVERED)),
        read=Count("pk", filter=Q(message__status=M.READ)),
        failed=Count("pk", filter=Q(message__status=M.FAILED)),
        skipped=Count("pk", filter=Q(state=R.SKIPPED)),
        replied=Count("pk", filter=Q(message__isnull=False) & Q(_replied())),
        done=Count("pk", filter=Q(state__in=[R.SETTLED, R.SKIPPED])),
    )
    return {key: figures[key] or 0 for key in TOTAL_KEYS}


def campaign_progress_percent(totals: dict) -> int:
    if not totals["total"]:
        return 0
    return int(100 * totals["done"] / totals["total"])


def campaign_recipients(*, campaign: Campaign) -> QuerySet[CampaignRecipient]:
    """The recipient table, with what each row shows read in the same query."""
    return (
        CampaignRecipient.objects.filter(campaign=campaign)
        .select_related("contact", "message")
        .annotate(replied=_replied())
        .order_by("pk")
    )


def recipient_status(recipient: CampaignRecipient) -> tuple[str, str]:
    """(status, detail) as a person reads it: waiting, skipped with its reason, or the
    message's own status (failed with its code)."""
    if recipient.state == R.SKIPPED:
        return "skipped", recipient.skip_reason
    message = recipient.message
    if message is None:
        return "waiting", ""
    status = message.status
    if status in (M.SENDING, M.UNKNOWN):
        status = M.QUEUED
    if status == M.FAILED:
        code = f"{message.error_code}: " if message.error_code is not None else ""
        return "failed", f"{code}{message.error_title}"
    return status, ""


def campaign_list_visible_to(*, user) -> QuerySet[Campaign]:
    """Campaigns write to many clients at once: managers (and quality control, read only) see
    them; sales reps only see those they created."""
    from accounts.models import Role
    from accounts.selectors import user_role

    role = user_role(user=user)
    campaigns = Campaign.objects.select_related("template", "channel", "service")
    if role in (Role.MANAGER, Role.QUALITY_CONTROL):
        return campaigns
    return campaigns.filter(created_by=user)
