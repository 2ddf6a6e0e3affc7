"""The Italian catalogue is complete and the committed .mo matches the .po it came from, so the
tests and production read the same translations whether or not gettext is installed."""

import gettext
import re
from pathlib import Path

LOCALE = Path(__file__).resolve().parents[2] / "locale" / "it" / "LC_MESSAGES"


def po_entries(*, with_context=False):
    text = (LOCALE / "django.po").read_text(encoding="utf-8")
    found = re.findall(
        r'^(?:msgctxt "(.+)"\n)?msgid "(.+)"\nmsgstr "(.*)"$', text, flags=re.MULTILINE
    )
    entries = [
        (context, key.replace('\\"', '"'), value.replace('\\"', '"'))
        for context, key, value in found
    ]
    if with_context:
        return entries
    return [(key, value) for _context, key, value in entries]


def test_every_italian_string_is_translated_and_not_fuzzy():
    entries = po_entries()
    assert len(entries) > 50
    assert [key for key, value in entries if not value] == []
    assert "#, fuzzy" not in (LOCALE / "django.po").read_text(encoding="utf-8")


def test_the_compiled_catalogue_matches_the_source():
    with (LOCALE / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = [
        key
        for context, key, value in po_entries(with_context=True)
        if (compiled.pgettext(context, key) if context else compiled.gettext(key)) != value
    ]
    assert stale == [], "run: python manage.py compilemessages -l it"
