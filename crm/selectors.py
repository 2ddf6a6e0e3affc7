import contextlib

from django.db.models import Q, QuerySet

from crm.models import Contact
from crm.phones import PhoneNumberInvalid, phone_normalize


def contact_search(*, queryset: QuerySet[Contact], term: str) -> QuerySet[Contact]:
    """Match a name, an email, or a phone written in any format."""
    term = term.strip()
    if not term:
        return queryset
    condition = Q(name__icontains=term) | Q(email__icontains=term) | Q(phone__contains=term)
    with contextlib.suppress(PhoneNumberInvalid):
        condition |= Q(phone=phone_normalize(term))
    return queryset.filter(condition)
