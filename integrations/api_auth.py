"""API keys of integration accounts, and what a key may see.

A key request acts as an `AccountPrincipal` in `request.user`. The crm and messaging API modules
cannot import integrations (app direction), so they ask the principal itself for its scope:
`contacts_visible()`, `conversations_visible()`, `channels_allowed()`, `templates_visible()`,
`tickets_visible()`, `contact_claim(contact)`.

Scope of a key (the README's "API" section says the same):
- channels: its account's channels; an account without channels (a shop) sends on the channels
  its notification rules name;
- contacts: the ones it created, upserted, messaged or notified through the API, and anyone with
  a conversation on its account's own channels;
- conversations: those of its contacts on its channels;
- tickets: those of its contacts (it replies to them as the system, on its channels only);
- templates: its account's and those of its channels' accounts.
"""

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from crm.models import Contact
from integrations.models import AccountAPIKey
from integrations.selectors import channels_allowed_to_account, contacts_visible_to_account
from integrations.services import account_contact_link
from messaging.models import Conversation, MessageTemplate
from tickets.models import Ticket

KEYWORD = "Api-Key"


class AccountPrincipal:
    """Stands in for a user while an integration account's key makes a request."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    is_api_account = True

    def __init__(self, api_key: AccountAPIKey):
        self.api_key = api_key
        self.account = api_key.account
        # Throttling and idempotency keys are per key, not per account.
        self.pk = f"apikey:{api_key.prefix}"
        self.id = self.pk

    def __str__(self):
        return f"API key {self.api_key.name!r} of {self.account.description}"

    def channels_allowed(self):
        return channels_allowed_to_account(account=self.account)

    def contacts_visible(self):
        return contacts_visible_to_account(account=self.account)

    def conversations_visible(self):
        return Conversation.objects.filter(
            channel__in=self.channels_allowed().values("pk"),
            contact__in=self.contacts_visible().values("pk"),
        )

    def templates_visible(self):
        accounts = self.channels_allowed().values("account_id")
        return MessageTemplate.objects.filter(Q(account=self.account) | Q(account_id__in=accounts))

    def tickets_visible(self):
        return Ticket.objects.filter(contact__in=self.contacts_visible().values("pk"))

    def contact_claim(self, contact: Contact) -> None:
        account_contact_link(account=self.account, contact=contact)


class AccountAPIKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <prefix>.<secret>`. No such header: let the next scheme try."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != KEYWORD.lower():
            return None
        key = key.strip()
        if not key:
            raise exceptions.AuthenticationFailed("The Api-Key header holds no key.")
        try:
            api_key = AccountAPIKey.objects.get_from_key(key)
        except AccountAPIKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.") from None
        if api_key.expiry_date and api_key.expiry_date < timezone.now():
            raise exceptions.AuthenticationFailed("This API key has expired.")
        if not api_key.account.is_active:
            raise exceptions.AuthenticationFailed(
                f"The account {api_key.account.description!r} is inactive."
            )
        return AccountPrincipal(api_key), api_key

    def authenticate_header(self, request):
        return KEYWORD


class AccountAPIKeyScheme(OpenApiAuthenticationExtension):
    """Documents the key scheme in the OpenAPI schema (and the docs page's Authorize box)."""

    target_class = AccountAPIKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`: the key shown once when it was made in the admin.",
        }
