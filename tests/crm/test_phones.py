import pytest

from crm.phones import PhoneNumberInvalid, phone_normalize

ITALIAN = "+393351032246"


@pytest.mark.parametrize(
    ("raw", "kwargs", "expected"),
    [
        # Italy
        ("+39 335 103 2246", {}, ITALIAN),
        ("+39-335-103-2246", {}, ITALIAN),
        ("0039 335 103 2246", {}, ITALIAN),
        ("393351032246", {}, ITALIAN),  # as WhatsApp sends it
        ("393351032246", {"assume_international": True}, ITALIAN),
        ("335 103 2246", {"region": "IT"}, ITALIAN),
        ("(335) 103.2246", {"region": "IT"}, ITALIAN),
        ("02 1234 5678", {"region": "IT"}, "+390212345678"),  # landline keeps its 0
        ("whatsapp:+393351032246", {}, ITALIAN),  # as Twilio sends it
        # Spain
        ("+34 612 34 56 78", {}, "+34612345678"),
        ("0034612345678", {}, "+34612345678"),
        ("34612345678", {"assume_international": True}, "+34612345678"),
        ("612 345 678", {"region": "ES"}, "+34612345678"),
        ("34612345678", {"region": "ES"}, "+34612345678"),  # country code of the region
        ("34612345678", {"region": "GB"}, "+34612345678"),  # bare international, foreign
        # United Kingdom
        ("+44 7911 123456", {}, "+447911123456"),
        ("07911 123456", {"region": "GB"}, "+447911123456"),
        ("0044 7911 123456", {}, "+447911123456"),
        ("447911123456", {"assume_international": True}, "+447911123456"),
        # United States
        ("+1 (201) 555-0123", {}, "+12015550123"),
        ("(201) 555-0123", {"region": "US"}, "+12015550123"),
        ("12015550123", {"assume_international": True}, "+12015550123"),
        ("tel:+1-201-555-0123", {}, "+12015550123"),
        # a source that writes "+" as its international prefix
        ("+393351032246", {"international_prefix": "+"}, ITALIAN),
        ("011 39 335 103 2246", {"international_prefix": "011"}, ITALIAN),
    ],
)
def test_it_normalises_to_e164(raw, kwargs, expected):
    assert phone_normalize(raw, **kwargs) == expected


def test_it_uses_the_configured_default_region(settings):
    settings.PHONE_DEFAULT_REGION = "ES"
    assert phone_normalize("612 345 678") == "+34612345678"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "'' is not a valid phone number: it is empty."),
        ("   ", "'   ' is not a valid phone number: it is empty."),
        ("hello", "'hello' is not a valid phone number: it may hold only digits"),
        ("+39 335 abc 2246", "it may hold only digits, spaces, dashes and a leading +"),
        ("12345", "'12345' is not a valid phone number: it must have between 6 and 15 digits."),
        ("+1234567890123456", "it must have between 6 and 15 digits"),
        ("+39 123", "it must have between 6 and 15 digits"),
        ("+999 123456789", "'+999 123456789' is not a valid phone number: no country has such"),
        ("123456789", "no country has such a number (read with default region IT)"),
    ],
)
def test_it_rejects_what_is_not_a_phone_number(raw, message):
    with pytest.raises(PhoneNumberInvalid) as excinfo:
        phone_normalize(raw)
    assert message in excinfo.value.messages[0]


def test_it_accepts_a_provider_sender_in_a_range_not_yet_listed():
    # +44 7700 900xxx is reserved for drama; a provider that sends it vouches for the account.
    assert phone_normalize("447700900123", assume_international=True) == "+447700900123"
    with pytest.raises(PhoneNumberInvalid):
        phone_normalize("+44 7700 900123")
