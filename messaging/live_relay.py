"""The web process's door for events published by a task cluster process on the embedded
default (in-memory channel layer, no Redis): signed with the secret key, so only Switchboard's
own processes can push to browsers through it."""

import hmac
import json

from django.http import HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from messaging.live import GROUP_ALL, RELAY_HEADER, live_group_send, relay_signature


@csrf_exempt
@require_POST
def live_relay_view(request):
    signature = request.headers.get(RELAY_HEADER, "")
    if not hmac.compare_digest(signature, relay_signature(request.body)):
        return HttpResponseForbidden("bad signature")
    try:
        sends = [(str(group), dict(event)) for group, event in json.loads(request.body)["sends"]]
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "expected {'sends': [[group, event], ...]}"}, status=400)
    if any(not (g == GROUP_ALL or g.startswith("inbox.user.")) for g, _e in sends):
        return JsonResponse({"error": "unknown group"}, status=400)
    live_group_send(sends)
    return HttpResponse(status=204)
