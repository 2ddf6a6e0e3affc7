"""Read-only tables of what hangs off a contact or a company, for their admin pages.

Conversations and tickets belong to apps to the right of crm, so they are reached only through
the reverse relations those apps declare (`contact.conversations`, `contact.tickets`) and linked
by admin URL name, never by importing their code.
"""

from dataclasses import dataclass

from django.db.models import OuterRef, Subquery
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.formats import date_format

# A page lists this many rows per section and links to the full, filtered list for the rest.
SECTION_LIMIT = 20


@dataclass
class Cell:
    text: str
    url: str | None = None


def admin_url(name: str, *args) -> str | None:
    """The URL of an admin page, or None while that model has no admin registered."""
    try:
        return reverse(f"admin:{name}", args=args)
    except NoReverseMatch:
        return None


def _when(value) -> str:
    if value is None:
        return "—"
    return date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")


def _render(*, headers, rows, empty, more_url=None, add_url=None, add_label="") -> str:
    return render_to_string(
        "admin/crm/includes/related_table.html",
        {
            "headers": headers,
            "rows": rows[:SECTION_LIMIT],
            "truncated": len(rows) > SECTION_LIMIT,
            "limit": SECTION_LIMIT,
            "more_url": more_url,
            "empty": empty,
            "add_url": add_url,
            "add_label": add_label,
        },
    )


def addresses_table(contact) -> str:
    """Every way the contact was reached, as inbound learnt it; crm services write them."""
    rows = [
        [
            Cell(address.get_transport_display()),
            Cell(address.address),
            Cell(address.handle or "—"),
            Cell("yes" if address.verified else "no"),
            Cell(_when(address.first_seen_at)),
            Cell(_when(address.last_seen_at)),
        ]
        for address in contact.addresses.order_by("transport", "address")[: SECTION_LIMIT + 1]
    ]
    return _render(
        headers=["Transport", "Address", "Username", "Verified", "First seen", "Last seen"],
        rows=rows,
        empty="No addresses yet.",
    )


def conversations_table(contact) -> str:
    conversations = contact.conversations.all()
    message_model = conversations.model._meta.get_field("messages").related_model
    last_text = (
        message_model.objects.filter(conversation=OuterRef("pk"))
        .order_by("-created_at", "-pk")
        .values("text")[:1]
    )
    conversations = (
        conversations.select_related("channel")
        .annotate(last_text=Subquery(last_text))
        .order_by("-opened_at", "-pk")[: SECTION_LIMIT + 1]
    )
    rows = []
    for conversation in conversations:
        preview = (conversation.last_text or "").strip()
        last = _when(conversation.last_message_at)
        if conversation.last_message_status:
            last += f" ({conversation.last_message_status})"
        if preview:
            last += f": {preview[:80]}"
        rows.append(
            [
                Cell(
                    f"#{conversation.pk}",
                    admin_url("messaging_conversation_change", conversation.pk),
                ),
                Cell(str(conversation.channel)),
                Cell(conversation.get_status_display()),
                Cell(_when(conversation.opened_at)),
                Cell(last),
            ]
        )
    changelist = admin_url("messaging_conversation_changelist")
    return _render(
        headers=["Conversation", "Channel", "Status", "Opened", "Last message"],
        rows=rows,
        empty="No conversations yet.",
        more_url=changelist and f"{changelist}?contact__id__exact={contact.pk}",
    )


def tickets_table(contact) -> str:
    tickets = contact.tickets.order_by("-created_at", "-pk")[: SECTION_LIMIT + 1]
    rows = [
        [
            Cell(ticket.number, admin_url("tickets_ticket_change", ticket.pk)),
            Cell(ticket.title),
            Cell(ticket.get_status_display()),
            Cell(_when(ticket.created_at)),
        ]
        for ticket in tickets
    ]
    changelist = admin_url("tickets_ticket_changelist")
    return _render(
        headers=["Number", "Title", "Status", "Opened"],
        rows=rows,
        empty="No tickets yet.",
        more_url=changelist and f"{changelist}?contact__id__exact={contact.pk}",
    )


def _deal_rows(deals) -> list[list[Cell]]:
    return [
        [
            Cell(deal.name, admin_url("crm_deal_change", deal.pk)),
            Cell(deal.pipeline.name),
            Cell(deal.stage.name),
            Cell(deal.get_status_display()),
            Cell(str(deal.responsible) if deal.responsible else "—"),
            Cell("—" if deal.amount is None else str(deal.amount)),
        ]
        for deal in deals.select_related("pipeline", "stage", "responsible").order_by(
            "-created_at", "-pk"
        )[: SECTION_LIMIT + 1]
    ]


DEAL_HEADERS = ["Deal", "Pipeline", "Stage", "Status", "Responsible", "Amount"]


def contact_deals_table(contact, *, deals=None) -> str:
    """`deals`: the contact's deals to list (default all), e.g. narrowed to what a viewer sees."""
    changelist = admin_url("crm_deal_changelist")
    add = admin_url("crm_deal_add")
    add_url = f"{add}?contacts={contact.pk}"
    if contact.company_id:
        add_url += f"&company={contact.company_id}"
    return _render(
        headers=DEAL_HEADERS,
        rows=_deal_rows(contact.deals.all() if deals is None else deals),
        empty="No deals yet.",
        more_url=f"{changelist}?contacts__id__exact={contact.pk}",
        add_url=add_url,
        add_label="Add a deal for this contact",
    )


def company_deals_table(company, *, deals=None) -> str:
    changelist = admin_url("crm_deal_changelist")
    return _render(
        headers=DEAL_HEADERS,
        rows=_deal_rows(company.deals.all() if deals is None else deals),
        empty="No deals yet.",
        more_url=f"{changelist}?company__id__exact={company.pk}",
        add_url=f"{admin_url('crm_deal_add')}?company={company.pk}",
        add_label="Add a deal for this company",
    )


def consent_table(contact) -> str:
    """The consent history, newest first: what decides a marketing send is the top row for each
    purpose and scope."""
    records = contact.consent_records.select_related("address", "actor")[: SECTION_LIMIT + 1]
    rows = [
        [
            Cell(record.get_purpose_display()),
            Cell(record.get_state_display()),
            Cell(str(record.address) if record.address else "All channels"),
            Cell(record.get_source_display() + (f" ({record.note})" if record.note else "")),
            Cell(record.text_shown or "—"),
            Cell(record.actor.get_username() if record.actor else "—"),
            Cell(_when(record.created_at)),
        ]
        for record in records
    ]
    return _render(
        headers=["Purpose", "State", "Scope", "Source", "Text shown", "By", "When"],
        rows=rows,
        empty="No consent recorded: marketing templates are refused until the contact opts in.",
    )
