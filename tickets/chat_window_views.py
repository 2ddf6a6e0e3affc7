"""The provider's chat window (Wazzup's iframe) in a page of ours, for the inbox and the contact
page. A fresh link per opening, never stored."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from crm.selectors import contact_list_visible_to
from messaging.http import RemoteError
from messaging.selectors import conversation_list_visible_to
from messaging.services.chat_window import ChatWindowUnavailable, chat_window_open


def _int(value):
    return int(value) if value and value.isdigit() and len(value) < 19 else None


@require_GET
@login_required
def chat_window_view(request):
    contact = conversation = None
    if conversation_id := _int(request.GET.get("conversation")):
        conversation = conversation_list_visible_to(user=request.user).filter(pk=conversation_id)
        conversation = conversation.select_related("contact").first()
        if conversation is None:
            raise Http404
    elif contact_id := _int(request.GET.get("contact")):
        contact = contact_list_visible_to(user=request.user).filter(pk=contact_id).first()
        if contact is None:
            raise Http404
    url, error = "", ""
    try:
        url = chat_window_open(user=request.user, contact=contact, conversation=conversation)
    except ChatWindowUnavailable as exc:
        error = str(exc)
    except RemoteError as exc:
        error = exc.message
    shown = conversation.contact if conversation is not None else contact
    return render(request, "inbox/chat_window.html", {"url": url, "error": error, "contact": shown})
