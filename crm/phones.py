"""Phone numbers as people and providers write them, turned into E.164.

Providers are not consistent: WhatsApp sends `393351032246` (international, no plus), Twilio
`whatsapp:+393351032246`, a CRM may hold `0039 335 103 2246` and a person types `335 103 2246`.
"""

import re
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError

_SCHEMES = re.compile(r"^(whatsapp|tel|sms):", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s().\-/]")
E164 = phonenumbers.PhoneNumberFormat.E164


class PhoneNumberInvalid(ValidationError):
    def __init__(self, raw, reason):
        self.raw = raw
        super().__init__(f"{raw!r} is not a valid phone number: {reason}.", code="invalid_phone")


@lru_cache(maxsize=8192)
def _e164(candidate: str, region: str | None, lenient: bool) -> str | None:
    # Every inbound message normalises its sender, and the same customers write again and again:
    # libphonenumber's parse and validation are the costly part, and their answer never changes.
    number = _parse(candidate, region, lenient=lenient)
    return None if number is None else phonenumbers.format_number(number, E164)


def _parse(candidate: str, region: str | None, *, lenient: bool = False):
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_valid_number(number):
        return number
    # A provider's sender id is a real, reachable account even when the number sits in a range
    # libphonenumber's metadata does not list yet: refusing it would lose the customer's message.
    if lenient and phonenumbers.is_possible_number(number):
        return number
    return None


def phone_normalize(
    raw: str,
    *,
    region: str | None = None,
    international_prefix: str | None = None,
    assume_international: bool = False,
) -> str:
    """Return `raw` in E.164 (`+393351032246`) or raise `PhoneNumberInvalid`.

    `international_prefix` is how the source writes "international" (`00` in most of Europe);
    `assume_international` says that bare digits already start with the country code, as
    WhatsApp's `wa_id` does; such a number only has to be possible for its country, not listed.
    """
    region = (region or settings.PHONE_DEFAULT_REGION).upper()
    international_prefix = international_prefix or settings.PHONE_INTERNATIONAL_PREFIX
    text = _SEPARATORS.sub("", _SCHEMES.sub("", str(raw or "").strip()))
    if not text:
        raise PhoneNumberInvalid(raw, "it is empty")
    if text.startswith("+"):
        body, explicit = text[1:], True
    elif international_prefix != "+" and text.startswith(international_prefix):
        body, explicit = text[len(international_prefix) :], True
    else:
        body, explicit = text, False
    if not body.isdigit():
        raise PhoneNumberInvalid(raw, "it may hold only digits, spaces, dashes and a leading +")
    if len(body) < 6 or len(body) > 15:
        raise PhoneNumberInvalid(raw, "it must have between 6 and 15 digits")

    if explicit:
        attempts = [("+" + body, None)]
    elif assume_international:
        attempts = [("+" + body, None), (body, region)]
    else:
        # A national number first; bare digits that only make sense with a country code second.
        attempts = [(body, region)]
        if not body.startswith("0"):
            attempts.append(("+" + body, None))
    for candidate, candidate_region in attempts:
        e164 = _e164(candidate, candidate_region, assume_international)
        if e164 is not None:
            return e164
    where = "" if explicit else f" (read with default region {region})"
    raise PhoneNumberInvalid(raw, f"no country has such a number{where}")
