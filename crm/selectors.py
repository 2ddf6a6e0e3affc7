import contextlib

from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.models import Role
from accounts.selectors import user_role
from config.request_memo import request_memo
from config.row_totals import totals_for
from crm.addresses import PHONE_TRANSPORTS, Address
from crm.models import Company, Contact, ContactAddress, Deal, DealStatus, Pipeline
from crm.phones import PhoneNumberInvalid, phone_normalize


def contact_ids_by_phone(*, term: str) -> list[int]:
    """The contacts whose phone is `term` written any way, through the exact normalized number
    (two unique-index lookups); [] when `term` is no phone or nobody has it."""
    try:
        phone = phone_normalize(term.strip())
    except PhoneNumberInvalid:
        return []
    by_address = (
        ContactAddress.objects.filter(transport__in=PHONE_TRANSPORTS, address=phone)
        .order_by()
        .values_list("contact_id", flat=True)
    )
    by_phone = Contact.objects.filter(phone=phone).order_by().values_list("pk", flat=True)
    return sorted(set(by_address.union(by_phone)))


def contact_search(*, queryset: QuerySet[Contact], term: str) -> QuerySet[Contact]:
    """Match a name, an email, a username or other address, or a phone written in any format.

    A phone that is a contact's exact number finds that contact alone, through the indexes;
    anything else is looked for inside the texts (trigram indexes on PostgreSQL)."""
    term = term.strip()
    if not term:
        return queryset
    exact = contact_ids_by_phone(term=term)
    if exact:
        return queryset.filter(pk__in=exact)
    # Exists, not a join: one row per contact however many of its addresses match.
    address_matches = ContactAddress.objects.filter(contact=OuterRef("pk")).filter(
        Q(address__icontains=term) | Q(handle__icontains=term)
    )
    condition = (
        Q(name__icontains=term)
        | Q(email__icontains=term)
        | Q(phone__contains=term)
        | Q(handle__icontains=term)
        | Exists(address_matches)
    )
    with contextlib.suppress(PhoneNumberInvalid):
        condition |= Q(phone=phone_normalize(term))
    return queryset.filter(condition)


def contact_by_address(*, address: Address) -> Contact | None:
    """The contact `address` (normalized) belongs to, through `Contact.phone` for a phone."""
    row = (
        ContactAddress.objects.select_related("contact")
        .filter(transport=address.transport, address=address.value)
        .first()
    )
    if row is not None:
        return row.contact
    if address.transport in PHONE_TRANSPORTS:
        return Contact.objects.filter(phone=address.value).first()
    return None


ADDRESS_RECENCY = ("last_seen_at", "pk")


def contact_addresses_map(*, contact: Contact, addresses=None) -> dict[str, str]:
    """transport -> address of `contact`, for sending on a transport other than its phone; the
    most recently seen address wins when a transport has several. `addresses`: the contact's
    rows in ADDRESS_RECENCY order when the caller loaded them already (a delivery batch)."""
    if addresses is not None:
        return {a.transport: a.address for a in addresses}
    rows = ContactAddress.objects.filter(contact=contact).order_by(*ADDRESS_RECENCY)
    return {transport: address for transport, address in rows.values_list("transport", "address")}


def contact_list_visible_to(*, user) -> QuerySet[Contact]:
    """The one place that says whose clients a user sees; every surface starts from here.

    Managers and quality control see everyone. A sales rep sees the clients they are responsible
    for, those with a deal of theirs, and, while available, unclaimed clients who wrote to a
    first-responder channel they work.
    """
    role = user_role(user=user)
    contacts = Contact.objects.all()
    if role in (Role.MANAGER, Role.QUALITY_CONTROL):
        return contacts
    if role != Role.SALES_REP:
        return contacts.none()
    # The ids read first: see contact_ids_visible_to.
    return contacts.filter(pk__any=contact_ids_visible_to(user=user))


def contact_ids_visible_to(*, user) -> list[int] | None:
    """The ids of the contacts `user` sees, read now, for `contact_id__in` on the big tables;
    None when they see everyone.

    Read as a list (one query on indexes, as long as the rep's portfolio) because PostgreSQL
    cannot size a UNION in a subquery: it expects half the table, hashes every conversation or
    message to join it, and a rep's list reads the whole table. Given the ids, it walks the
    (contact) and (conversation, created_at) indexes."""
    role = user_role(user=user)
    if role in (Role.MANAGER, Role.QUALITY_CONTROL):
        return None
    if role != Role.SALES_REP:
        return []
    return request_memo(
        ("contact_ids_visible_to", user.pk),
        lambda: list(contact_ids_of_rep(user=user).values_list("pk", flat=True)),
    )


def contact_ids_of_rep(*, user) -> QuerySet:
    """The ids of the clients a sales rep sees, as one UNION of index lookups (their clients,
    the clients of their deals, unclaimed clients of their channels): no arm reads every
    contact, and the planner sizes each arm from its own index instead of guessing the share
    of an OR over the whole table."""
    own = Contact.objects.filter(responsible=user).order_by().values("pk")
    with_their_deal = (
        Deal.contacts.through.objects.filter(deal__responsible=user).order_by().values("contact_id")
    )
    # Only first-responder channels offer unclaimed clients to everyone; round robin hands each
    # new client to one agent, so the others never see it. A channel of a service is offered to
    # the service's agents while it is active; one without, to the profiles listing it
    # (messaging.agent_selectors says the same for routing). A conversation a website widget
    # started has its own service, which takes the channel's place. One filter() call: the
    # conditions hold for the same conversation and the same agent profile.
    unclaimed_on_their_channels = (
        Contact.objects.filter(
            Q(
                conversations__service__isnull=True,
                conversations__channel__service__isnull=True,
                conversations__channel__agents__user=user,
                conversations__channel__agents__is_available=True,
            )
            | Q(
                conversations__service__isnull=True,
                conversations__channel__service__is_active=True,
                conversations__channel__service__agents__user=user,
                conversations__channel__service__agents__is_available=True,
            )
            | Q(
                conversations__service__is_active=True,
                conversations__service__agents__user=user,
                conversations__service__agents__is_available=True,
            ),
            responsible__isnull=True,
            conversations__channel__routing_mode="first_responder",
        )
        .order_by()
        .values("pk")
    )
    return own.union(with_their_deal, unclaimed_on_their_channels)


def contact_open_deal_totals(*, contact_ids) -> dict[int, int]:
    """Contact id -> number of its open deals, for a page of contacts."""
    links = Deal.contacts.through.objects.filter(deal__status=DealStatus.OPEN)
    return totals_for(links, field="contact_id", ids=contact_ids)


def company_contact_totals(*, company_ids) -> dict[int, int]:
    return totals_for(Contact.objects.all(), field="company_id", ids=company_ids)


def company_open_deal_totals(*, company_ids) -> dict[int, int]:
    deals = Deal.objects.filter(status=DealStatus.OPEN)
    return totals_for(deals, field="company_id", ids=company_ids)


def contact_is_writable_by(*, user, contact: Contact) -> bool:
    """May `user` write to `contact`? None is the system itself (jobs, notifications)."""
    if user is None:
        return True
    role = user_role(user=user)
    if role == Role.MANAGER:
        return True
    if role == Role.SALES_REP:
        # One row to check: the UNION as a subquery, not every id of the rep read first.
        mine = Contact.objects.filter(pk=contact.pk, pk__in=contact_ids_of_rep(user=user))
        return mine.exists()
    return False


def deal_menu_for(*, contact: Contact, user) -> QuerySet[Deal]:
    """The deals a conversation page offers: with this contact, and the user's own unless they
    are a manager (open and closed alike)."""
    deals = Deal.objects.filter(contacts=contact).select_related("stage", "pipeline")
    if user_role(user=user) != Role.MANAGER:
        deals = deals.filter(responsible=user)
    return deals


def deal_list_visible_to(*, user) -> QuerySet[Deal]:
    """Managers and quality control see every deal; a sales rep sees their own deals and the
    deals of clients they are responsible for (a client may have deals with other reps)."""
    role = user_role(user=user)
    deals = Deal.objects.all()
    if role in (Role.MANAGER, Role.QUALITY_CONTROL):
        return deals
    if role != Role.SALES_REP:
        return deals.none()
    own = Deal.objects.filter(responsible=user).order_by().values("pk")
    of_their_clients = (
        Deal.contacts.through.objects.filter(contact__responsible=user).order_by().values("deal_id")
    )
    return deals.filter(pk__in=own.union(of_their_clients))


def deal_is_writable_by(*, user, deal: Deal) -> bool:
    """Managers change any deal; a sales rep only the deals they are responsible for."""
    role = user_role(user=user)
    if role == Role.MANAGER:
        return True
    return role == Role.SALES_REP and deal.responsible_id == user.pk


def company_list_visible_to(*, user) -> QuerySet[Company]:
    """Managers and quality control see every company; a sales rep sees the companies they are
    responsible for and those of the clients they see (whoever owns the company)."""
    role = user_role(user=user)
    companies = Company.objects.all()
    if role in (Role.MANAGER, Role.QUALITY_CONTROL):
        return companies
    if role != Role.SALES_REP:
        return companies.none()
    of_their_clients = contact_list_visible_to(user=user).filter(company__isnull=False)
    return companies.filter(Q(responsible=user) | Q(pk__in=of_their_clients.values("company_id")))


def company_is_writable_by(*, user, company: Company) -> bool:
    """Managers change any company. A sales rep changes the companies they are responsible for,
    and a company nobody owns where one of their own clients works; a colleague's company stays
    read-only even when a shared client makes it visible."""
    if user is None:
        return True
    role = user_role(user=user)
    if role == Role.MANAGER:
        return True
    if role != Role.SALES_REP:
        return False
    if company.responsible_id is not None:
        return company.responsible_id == user.pk
    return company.contacts.filter(responsible=user).exists()


def pipeline_list_visible_to(*, user) -> QuerySet[Pipeline]:
    """Every role sees every pipeline (deals are placed on them); only managers change them."""
    if user_role(user=user) is None:
        return Pipeline.objects.none()
    return Pipeline.objects.all()
