"""The integrations' part when two contacts of one person become one
(crm.identity.contact_merge): the accounts that knew the source know the target."""

from integrations.models import AccountContact


def account_contacts_move_to_contact(*, source, target) -> int:
    known = set(AccountContact.objects.filter(contact=target).values_list("account_id", flat=True))
    AccountContact.objects.filter(contact=source, account_id__in=known).delete()
    return AccountContact.objects.filter(contact=source).update(contact=target)
