"""A provider's own chat window for one of our users (Wazzup's iframe), for teams that prefer it:
for one contact (their chats, opened on the conversation's channel) or for all of the user's
chats. The link is asked for on every opening and never stored."""

from django.utils.translation import gettext as _

from crm.models import ContactAddress
from messaging.models import Channel, Conversation
from messaging.providers import provider_class
from messaging.providers.base import Address


class ChatWindowUnavailable(Exception):
    pass


def chat_window_channels():
    """Channels whose provider serves a chat window, of active accounts."""
    keys = [key for key in _provider_keys() if provider_class(key).has_chat_window]
    return Channel.objects.filter(provider__in=keys, account__is_active=True).select_related(
        "account"
    )


def _provider_keys():
    from messaging.providers import PROVIDERS

    return list(PROVIDERS)


def chat_window_label() -> str:
    """The button's label ("Wazzup chat"), or "" when no channel has a chat window."""
    channel = chat_window_channels().order_by("pk").first()
    if channel is None:
        return ""
    return _("%(provider)s chat") % {"provider": provider_class(channel.provider).label}


def chat_window_open(*, user, contact=None, conversation: Conversation | None = None) -> str:
    """The chat window's URL for `user`: the conversation's (or the contact's) chats, else all
    of theirs. Raises ChatWindowUnavailable, or ProviderError when the provider refuses."""
    channels = chat_window_channels()
    channel = None
    if conversation is not None:
        contact = conversation.contact
        channel = channels.filter(pk=conversation.channel_id).first()
    if channel is None and contact is not None:
        talked_on = Conversation.objects.filter(contact=contact, channel__in=channels)
        first = talked_on.order_by("-last_message_at", "-pk").values_list("channel_id", flat=True)
        channel = channels.filter(pk__in=first[:1]).first()
    channel = channel or channels.order_by("pk").first()
    if channel is None:
        raise ChatWindowUnavailable(_("No channel of an active account has a chat window."))
    chats: tuple[Address, ...] = ()
    if contact is not None:
        rows = ContactAddress.objects.filter(contact=contact).order_by("pk")
        chats = tuple(Address(r.transport, r.address, r.handle) for r in rows)
        if contact.phone and not any(a.value == contact.phone for a in chats):
            chats = (Address("whatsapp", contact.phone), *chats)
        if not chats:
            raise ChatWindowUnavailable(_("This contact has no messenger address for the window."))
    return channel.get_provider().chat_window_url(
        user_id=str(user.pk),
        user_name=user.get_full_name() or user.get_username(),
        chats=chats,
        name=contact.name if contact is not None else "",
        channel_external_id=channel.external_id if contact is not None else "",
    )
