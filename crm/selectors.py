import contextlib

from django.db.models import Q, QuerySet

from accounts.models import Role
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


def contact_is_writable_by(*, user, contact: Contact) -> bool:
    """May `user` send to `contact`? None is the system itself (jobs, notifications)."""
    if user is None or user.is_superuser:
        return True
    profile = getattr(user, "agent_profile", None)
    if profile is None:
        return False
    if profile.role == Role.MANAGER:
        return True
    if profile.role == Role.SALES_REP:
        return contact.responsible_id in (None, user.pk)
    return False
