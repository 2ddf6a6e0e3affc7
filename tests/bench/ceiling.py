"""The ceiling for webhook intake: verify the signature, insert one row, answer 200.

It does the work the real endpoint cannot avoid and nothing else: the same HMAC-SHA256 check of
X-Hub-Signature-256 over the raw body, a SHA-256 dedupe key, and one INSERT of the same row shape
into `bench_ceiling`, a copy of messaging_webhookevent made with `LIKE ... INCLUDING ALL` (same
columns, defaults, unique (provider, dedupe_key) index and secondary indexes), so both views pay
the same storage and index cost per request. What it leaves out is what the comparison is for:
the account lookup, secrets decryption, ORM model building, the savepoint and the task enqueue.
The app secret is a process constant (BENCH_APP_SECRET), as a per-process cache would make it.
"""

import hashlib
import hmac
import json
import os

from django.db import connection
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt

APP_SECRET = os.environ.get("BENCH_APP_SECRET", "").encode()
KEPT_HEADERS = ("content-type", "user-agent", "x-hub-signature-256")
INSERT = (
    "INSERT INTO bench_ceiling"
    " (provider, channel_id, received_at, body, headers, query, signature_valid, dedupe_key,"
    " state, error, attempts)"
    " VALUES ('whatsapp_cloud', NULL, now(), %s, %s, '', true, %s, 'pending', '', 0)"
    " ON CONFLICT DO NOTHING"
)


@csrf_exempt
def webhook(request, account_key):
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST"})
    body = request.body
    given = request.headers.get("X-Hub-Signature-256", "").strip().lower()
    expected = "sha256=" + hmac.new(APP_SECRET, body, hashlib.sha256).hexdigest()
    if not APP_SECRET or not hmac.compare_digest(given, expected):
        return HttpResponseForbidden("Signature rejected.")
    headers = {name: request.headers[name] for name in KEPT_HEADERS if name in request.headers}
    with connection.cursor() as cursor:
        cursor.execute(INSERT, [body, json.dumps(headers), hashlib.sha256(body).hexdigest()])
    return HttpResponse("OK")
