"""How a contact is reached on one transport: a WhatsApp phone, a WhatsApp user id (BSUID), a
Telegram chat. Providers build `Address`es from the wire; crm normalizes them and finds the
contact by the strongest one (design.md, "The inbound path").
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from django.core.exceptions import ValidationError
from django.db import models

from crm.phones import phone_normalize


class AddressTransport(models.TextChoices):
    WHATSAPP = "whatsapp", "WhatsApp phone"  # value: E.164
    WHATSAPP_BSUID = "whatsapp_bsuid", "WhatsApp user id"  # IT.1502576394655843, as received
    WHATSAPP_PARENT_BSUID = "whatsapp_parent_bsuid", "WhatsApp parent user id"
    TELEGRAM = "telegram", "Telegram chat"
    WAZZUP = "wazzup", "Wazzup chat"  # "chatType:chatId"


# Transports whose value is a phone number, kept in step with `Contact.phone`.
PHONE_TRANSPORTS: frozenset[str] = frozenset({AddressTransport.WHATSAPP})
BSUID_TRANSPORTS: frozenset[str] = frozenset(
    {AddressTransport.WHATSAPP_BSUID, AddressTransport.WHATSAPP_PARENT_BSUID}
)
# Lower is stronger. A BSUID names exactly one person for one business; a phone can be recycled;
# a chat id is only as good as the transport that issued it.
STRENGTH: dict[str, int] = {
    AddressTransport.WHATSAPP_BSUID: 0,
    AddressTransport.WHATSAPP_PARENT_BSUID: 1,
    AddressTransport.WHATSAPP: 2,
    AddressTransport.TELEGRAM: 3,
    AddressTransport.WAZZUP: 3,
}
BSUID_RE = re.compile(r"^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$")


@dataclass(frozen=True)
class Address:
    transport: str
    # As received; the values of PHONE_TRANSPORTS stay raw until `address_normalize`.
    value: str
    # The display name on that transport: the WhatsApp username.
    handle: str = ""


class AddressInvalid(ValidationError):
    def __init__(self, address: Address, reason: str):
        self.address = address
        super().__init__(
            f"{address.value!r} is not a valid {address.transport} address: {reason}.",
            code="invalid_address",
        )


def address_normalize(
    address: Address,
    *,
    international_prefix: str | None = None,
    assume_international: bool = False,
    region: str | None = None,
) -> Address:
    """The address as stored: phones in E.164 (raises `PhoneNumberInvalid`), BSUIDs checked for
    their shape but never read as phones, anything else stripped. Raises `AddressInvalid`."""
    if address.transport not in STRENGTH:
        raise AddressInvalid(address, "the transport is unknown")
    handle = (address.handle or "").strip()
    if address.transport in PHONE_TRANSPORTS:
        value = phone_normalize(
            address.value,
            region=region,
            international_prefix=international_prefix,
            assume_international=assume_international,
        )
    else:
        value = str(address.value or "").strip()
        if not value:
            raise AddressInvalid(address, "it is empty")
        if address.transport in BSUID_TRANSPORTS and not BSUID_RE.match(value):
            raise AddressInvalid(address, "a WhatsApp user id looks like IT.1502576394655843")
        if len(value) > 200:
            raise AddressInvalid(address, "it is longer than 200 characters")
    if value == address.value and handle == address.handle:
        return address
    return replace(address, value=value, handle=handle[:200])


def addresses_by_strength(addresses: Iterable[Address]) -> list[Address]:
    """Strongest first, each (transport, value) once; the first handle seen is kept."""
    seen: dict[tuple[str, str], Address] = {}
    for address in addresses:
        key = (address.transport, address.value)
        if key not in seen or (address.handle and not seen[key].handle):
            seen[key] = address
    return sorted(seen.values(), key=lambda a: STRENGTH.get(a.transport, 99))
