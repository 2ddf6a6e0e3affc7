"""What a website widget shows and links to: the public configuration its script reads, the
chat links and QR codes of its entries, its business hours, and who may embed it.

Links are built from what a channel is (its transport, its number, the deep link its provider
offers), never from which provider it runs on.
"""

import io
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlsplit

import segno
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from messaging.models import Channel, Transport, Widget, WidgetEntry, WidgetReference
from messaging.services.widget_reference import reference_start_token, reference_text

WHATSAPP_TRANSPORTS = (Transport.WHATSAPP, Transport.WABA)
KIND_WHATSAPP, KIND_TELEGRAM = "whatsapp", "telegram"

STRINGS = {
    "en": {
        "open": "Chat with us",
        "close": "Close",
        "title": "Contact us",
        "scan": "Scan with your phone's camera to chat on WhatsApp",
        "scan_telegram": "Scan with your phone's camera to chat on Telegram",
        "qr_alt": "QR code that opens a chat with us on %s",
        "web": "Open WhatsApp Web",
        "app": "Open WhatsApp",
        "telegram": "Open Telegram",
        "closed": "We are closed now. %s",
        "hours": "We answer %s.",
        "every_day": "every day",
        "all_day": "at any time",
        "whatsapp": "WhatsApp",
        "telegram_label": "Telegram",
        "days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
        "range": "%s to %s",
        "and": "and",
    },
    "it": {
        "open": "Scrivici",
        "close": "Chiudi",
        "title": "Contattaci",
        "scan": "Inquadra con la fotocamera del telefono per scriverci su WhatsApp",
        "scan_telegram": "Inquadra con la fotocamera del telefono per scriverci su Telegram",
        "qr_alt": "Codice QR che apre una chat con noi su %s",
        "web": "Apri WhatsApp Web",
        "app": "Apri WhatsApp",
        "telegram": "Apri Telegram",
        "closed": "Ora siamo chiusi. %s",
        "hours": "Rispondiamo %s.",
        "every_day": "tutti i giorni",
        "all_day": "a qualsiasi ora",
        "whatsapp": "WhatsApp",
        "telegram_label": "Telegram",
        "days": [
            "lunedì",
            "martedì",
            "mercoledì",
            "giovedì",
            "venerdì",
            "sabato",
            "domenica",
        ],
        "range": "da %s a %s",
        "and": "e",
    },
}
# A start parameter used only to ask a channel whether it has deep links at all.
LINK_PROBE = "widget"
HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def entry_kind(channel: Channel) -> str:
    if channel.transport in WHATSAPP_TRANSPORTS:
        return KIND_WHATSAPP
    if channel.transport == Transport.TELEGRAM:
        return KIND_TELEGRAM
    return ""


def channel_phone_digits(channel: Channel) -> str:
    return re.sub(r"\D", "", channel.display_number or "")


def widget_entry_problem(*, channel: Channel, service_id: int | None) -> str:
    """Why `channel` cannot be an entry of a widget of `service_id` ("" when it can)."""
    kind = entry_kind(channel)
    if kind == KIND_WHATSAPP:
        if channel.service_id != service_id:
            return f"{channel.name} is not a channel of the widget's service."
        if len(channel_phone_digits(channel)) < 8:
            return f"{channel.name} has no phone number to open a chat with (its display number)."
        return ""
    if kind == KIND_TELEGRAM:
        if not channel.get_provider().start_link(token=LINK_PROBE):
            return f"{channel.name} has no bot username yet: connect the bot first."
        return ""
    return f"{channel.name} is neither a WhatsApp line nor a Telegram bot."


def origin_of(url: str) -> str:
    parts = urlsplit((url or "").strip().lower())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def widget_origins(widget: Widget) -> list[str]:
    return [o for o in (origin_of(line) for line in widget.allowed_origins.splitlines()) if o]


def widget_origin_allowed(*, widget: Widget, origin: str) -> bool:
    return bool(origin) and origin_of(origin) in widget_origins(widget)


def widget_language(*, widget: Widget, visitor_language: str) -> str:
    if widget.language in STRINGS:
        return widget.language
    wanted = (visitor_language or "").lower()[:2]
    return wanted if wanted in STRINGS else "en"


def _days_text(days: list[int], strings: dict) -> str:
    names = strings["days"]
    if not days or len(days) == 7:
        return strings["every_day"]
    if days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
        return strings["range"] % (names[days[0] - 1], names[days[-1] - 1])
    listed = [names[d - 1] for d in days]
    if len(listed) == 1:
        return listed[0]
    return ", ".join(listed[:-1]) + f" {strings['and']} " + listed[-1]


def _widget_days(widget: Widget) -> list[int]:
    return sorted({int(d) for d in widget.hours_days if d in "1234567"})


@dataclass(frozen=True)
class Hours:
    open_now: bool
    text: str


def widget_hours(*, widget: Widget, language: str, at: datetime | None = None) -> Hours:
    """Whether the team answers now (server time zone) and the sentence saying when it does."""
    strings = STRINGS[language]
    now = timezone.localtime(at or timezone.now())
    days = _widget_days(widget)
    day_open = not days or now.isoweekday() in days
    if widget.opens_at and widget.closes_at:
        span = f"{widget.opens_at:%H:%M}-{widget.closes_at:%H:%M}"
        time_open = widget.opens_at <= now.time() < widget.closes_at
    else:
        span, time_open = strings["all_day"], True
    when = f"{_days_text(days, strings)}, {span}"
    return Hours(open_now=day_open and time_open, text=strings["hours"] % when)


def _entry_label(entry: WidgetEntry, strings: dict) -> str:
    if entry.label:
        return entry.label
    kind = entry_kind(entry.channel)
    return strings["telegram_label"] if kind == KIND_TELEGRAM else strings["whatsapp"]


def widget_entries(widget: Widget) -> list[WidgetEntry]:
    """The entries a visitor can use, in order (an entry whose channel can no longer open a
    chat is left out rather than shown broken)."""
    entries = widget.entries.select_related("channel__account").order_by("position", "pk")
    service = widget.service_id
    return [e for e in entries if not widget_entry_problem(channel=e.channel, service_id=service)]


def widget_public_config(
    *, widget: Widget, visitor_language: str = "", language: str | None = None
) -> dict:
    """What the widget's script needs to draw the launcher and the panel (no links yet: those
    carry a reference, issued when a visitor opens the panel). `language` forces one (the
    admin's preview)."""
    if language not in STRINGS:
        language = widget_language(widget=widget, visitor_language=visitor_language)
    strings = STRINGS[language]
    hours = widget_hours(widget=widget, language=language)
    return {
        "name": widget.name,
        "greeting": widget.greeting,
        "color": widget.color if HEX_COLOUR.match(widget.color) else "#1f7a5c",
        "textColor": widget.text_color if HEX_COLOUR.match(widget.text_color) else "#ffffff",
        "position": widget.position,
        "language": language,
        "openNow": hours.open_now,
        "hours": hours.text,
        "strings": {k: v for k, v in strings.items() if isinstance(v, str)},
        "entries": [
            {"id": e.pk, "kind": entry_kind(e.channel), "label": _entry_label(e, strings)}
            for e in widget_entries(widget)
        ],
    }


def entry_message_text(*, entry: WidgetEntry, reference: WidgetReference | None) -> str:
    text = entry.prefilled_text.strip()
    if reference is None:
        return text
    return f"{text} {reference_text(code=reference.code)}".strip()


def entry_chat_link(*, entry: WidgetEntry, reference: WidgetReference | None) -> str:
    """The link a QR encodes and a phone opens: wa.me with the pre-filled text, or the bot's
    deep link with the reference as its start parameter."""
    if entry_kind(entry.channel) == KIND_TELEGRAM:
        token = reference_start_token(code=reference.code) if reference else ""
        link = entry.channel.get_provider().start_link(token=token or LINK_PROBE)
        return link if reference else link.split("?", 1)[0]
    digits = channel_phone_digits(entry.channel)
    text = entry_message_text(entry=entry, reference=reference)
    return f"https://wa.me/{digits}" + (f"?text={quote(text)}" if text else "")


def entry_web_link(*, entry: WidgetEntry, reference: WidgetReference | None) -> str:
    """WhatsApp Web on a desktop, with the same pre-filled text ("" for Telegram)."""
    if entry_kind(entry.channel) != KIND_WHATSAPP:
        return ""
    digits = channel_phone_digits(entry.channel)
    text = entry_message_text(entry=entry, reference=reference)
    return f"https://web.whatsapp.com/send?phone={digits}&text={quote(text)}"


def entry_qr_url(*, widget: Widget, entry: WidgetEntry, reference: WidgetReference | None) -> str:
    path = reverse("widget-qr", kwargs={"key": widget.key, "entry_id": entry.pk})
    return settings.PUBLIC_BASE_URL + path + (f"?ref={reference.code}" if reference else "")


def widget_links(*, widget: Widget, reference: WidgetReference | None) -> dict:
    """Every entry's links for one visitor (or for the admin's preview, without a reference)."""
    return {
        "reference": reference.code if reference else "",
        "entries": [
            {
                "id": entry.pk,
                "app": entry_chat_link(entry=entry, reference=reference),
                "web": entry_web_link(entry=entry, reference=reference),
                "qr": entry_qr_url(widget=widget, entry=entry, reference=reference),
            }
            for entry in widget_entries(widget)
        ],
    }


def entry_qr(*, entry: WidgetEntry, reference: WidgetReference | None) -> segno.QRCode:
    return segno.make(entry_chat_link(entry=entry, reference=reference), error="m")


def entry_qr_svg(*, entry: WidgetEntry, reference: WidgetReference | None) -> str:
    buffer = io.BytesIO()
    entry_qr(entry=entry, reference=reference).save(
        buffer, kind="svg", scale=4, border=2, xmldecl=False, title=str(entry)
    )
    return buffer.getvalue().decode()


def entry_poster(*, entry: WidgetEntry, reference: WidgetReference, kind: str) -> bytes:
    """A print-size QR (PNG or SVG) for a poster or a shop window."""
    buffer = io.BytesIO()
    extra = {"title": f"{entry.widget.name}: {entry}"} if kind == "svg" else {"dpi": 300}
    entry_qr(entry=entry, reference=reference).save(buffer, kind=kind, scale=16, border=4, **extra)
    return buffer.getvalue()


def widget_embed_snippet(*, widget: Widget) -> str:
    """The one line a site adds to show the widget."""
    src = settings.PUBLIC_BASE_URL + reverse("widget-loader", kwargs={"key": widget.key})
    return f'<script src="{src}" async></script>'


def widget_prefilled_texts(*, widget: Widget, reference: WidgetReference) -> list[tuple[str, str]]:
    """(line name, the text its WhatsApp link types for the visitor) for each WhatsApp entry: what
    the sandbox's demo page asks the person playing the visitor to send."""
    return [
        (entry.channel.name, entry_message_text(entry=entry, reference=reference))
        for entry in widget_entries(widget)
        if entry_kind(entry.channel) == KIND_WHATSAPP
    ]
