"""The public endpoint a provider fetches a temporary document link from."""

from django.http import HttpResponse, JsonResponse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from messaging.documents import DocumentLinkGone, DocumentLinkInvalid, document_link_consume


@require_GET
def document_fetch(request, signed: str):
    try:
        filename, content_type, content = document_link_consume(signed=signed)
    except DocumentLinkInvalid as exc:
        return JsonResponse({"error": {"code": "invalid_link", "message": str(exc)}}, status=403)
    except DocumentLinkGone as exc:
        return JsonResponse({"error": {"code": "gone", "message": str(exc)}}, status=410)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "no-store"
    return response
