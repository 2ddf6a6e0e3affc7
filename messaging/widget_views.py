"""The public side of website widgets: the embed script, its configuration and references for
the sites allowed to show it, the QR codes, and the demo page. Each view parses the request and
calls messaging.services.widgets; the origin check is the only policy here."""

import hashlib
import json
from functools import cache
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET, require_POST

from messaging.models import Widget, WidgetReference
from messaging.services.widget_reference import page_url_clean, widget_reference_issue
from messaging.services.widgets import (
    entry_qr_svg,
    origin_of,
    widget_embed_snippet,
    widget_entries,
    widget_links,
    widget_origin_allowed,
    widget_origins,
    widget_prefilled_texts,
    widget_public_config,
)

APP_SCRIPT = Path(__file__).resolve().parent / "widget_assets" / "widget.js"
YEAR = 365 * 24 * 3600
LOADER_MAX_AGE = 300  # the embed URL never changes: a new app version reaches sites this fast


@cache
def widget_app_script() -> tuple[str, str]:
    """(the widget's script, its version: the first hex digits of its hash)."""
    text = APP_SCRIPT.read_text()
    return text, hashlib.sha256(text.encode()).hexdigest()[:12]


def _active_widget(key: str) -> Widget:
    widget = Widget.objects.filter(key=key, is_active=True).first()
    if widget is None:
        raise Http404("No such widget.")
    return widget


def _request_origin(request) -> str:
    # Browsers send Origin on cross-origin requests; a same-origin GET (the demo page) carries
    # only the Referer.
    return origin_of(request.headers.get("Origin") or request.headers.get("Referer") or "")


def _frame_policy(response, widget: Widget):
    response["Content-Security-Policy"] = "frame-ancestors 'self' " + " ".join(
        widget_origins(widget)
    )
    return response


def _for_allowed_origin(request, widget: Widget, payload: dict):
    """The JSON for a site allowed to embed the widget, with CORS naming it; any other site
    gets an empty 403 without CORS headers, so its page can read nothing."""
    origin = _request_origin(request)
    if not widget_origin_allowed(widget=widget, origin=origin):
        response = HttpResponse(status=403)
        response["Vary"] = "Origin"
        return response
    response = JsonResponse(payload)
    response["Access-Control-Allow-Origin"] = origin
    response["Vary"] = "Origin"
    response["Cache-Control"] = "no-store"
    return _frame_policy(response, widget)


@require_GET
def widget_loader(request, key: str):
    """`/widget/<key>.js`, the URL of the embed snippet: queues the widget and loads the
    versioned script once."""
    widget = Widget.objects.filter(key=key, is_active=True).first()
    if widget is None:
        return HttpResponse("/* no such widget */", status=404, content_type="text/javascript")
    _, version = widget_app_script()
    base = settings.PUBLIC_BASE_URL
    options = json.dumps({"key": widget.key, "base": base})
    app = json.dumps(f"{base}/widget/app.{version}.js")
    body = (
        "(function(w,d){var q=w.SwitchboardWidget=w.SwitchboardWidget||[];"
        f"q.push({options});if(!w.SwitchboardWidgetLoading){{w.SwitchboardWidgetLoading=1;"
        f"var s=d.createElement('script');s.src={app};s.async=true;"
        "(d.head||d.body).appendChild(s)}})(window,document);\n"
    )
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = f"public, max-age={LOADER_MAX_AGE}"
    return response


@gzip_page
@require_GET
def widget_app(request, version: str):
    """The widget's script at a URL that changes with its content: cached for a year."""
    text, current = widget_app_script()
    response = HttpResponse(text, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = (
        f"public, max-age={YEAR}, immutable" if version == current else "public, max-age=300"
    )
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def widget_config(request, key: str):
    widget = _active_widget(key)
    config = widget_public_config(widget=widget, visitor_language=request.GET.get("lang", ""))
    return _for_allowed_origin(request, widget, config)


@csrf_exempt  # called cross-origin without cookies; the Origin check is the guard
@require_POST
def widget_reference_create(request, key: str):
    """A visitor opened the panel: a reference for their page, and the links carrying it."""
    widget = _active_widget(key)
    origin = _request_origin(request)
    if not widget_origin_allowed(widget=widget, origin=origin):
        return _for_allowed_origin(request, widget, {})
    page = page_url_clean(request.POST.get("page", ""))
    if origin_of(page) != origin:
        page = ""  # a page on another site than the one asking is not believed
    reference = widget_reference_issue(widget=widget, page_url=page)
    return _for_allowed_origin(request, widget, widget_links(widget=widget, reference=reference))


@gzip_page
@require_GET
def widget_qr(request, key: str, entry_id: int):
    """The QR code of one entry as SVG, for one reference (or none, for the admin's preview).
    Its content never changes for a given URL, so it is cached."""
    widget = _active_widget(key)
    entry = next((e for e in widget_entries(widget) if e.pk == entry_id), None)
    if entry is None:
        raise Http404("No such entry.")
    reference = None
    if request.GET.get("ref"):
        reference = WidgetReference.objects.filter(widget=widget, code=request.GET["ref"]).first()
        if reference is None:
            raise Http404("No such reference.")
    response = HttpResponse(
        entry_qr_svg(entry=entry, reference=reference), content_type="image/svg+xml"
    )
    response["Cache-Control"] = "public, max-age=86400"
    response["Access-Control-Allow-Origin"] = "*"
    return response


def widget_demo(request):
    """A page of the company's site, as the sandbox imagines it, showing a widget whose
    allowed origins include Switchboard's own (`make run`'s demo widget)."""
    if not settings.SANDBOX_ENABLED:
        raise Http404("The demo page is part of the sandbox.")
    own = origin_of(settings.PUBLIC_BASE_URL)
    widgets = Widget.objects.filter(is_active=True)
    if request.GET.get("key"):
        widgets = widgets.filter(key=request.GET["key"])
    widget = next((w for w in widgets if own in widget_origins(w)), None)
    context = {"widget": widget}
    if widget is not None:
        # The texts the widget's links would type, so the sandbox's customer can send one.
        page = settings.PUBLIC_BASE_URL + request.path
        reference = widget_reference_issue(widget=widget, page_url=page_url_clean(page))
        context["snippet"] = widget_embed_snippet(widget=widget)
        context["texts"] = widget_prefilled_texts(widget=widget, reference=reference)
    return render(request, "widget/demo.html", context)
