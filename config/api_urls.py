"""The REST API under /api/: v1 resources, the OpenAPI schema and its offline docs page."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from config.api_errors import api_not_found
from crm.api import CompanyViewSet, ContactViewSet, DealViewSet
from integrations.api import EventCreateApi
from integrations.api_campaigns import (
    CampaignActionApi,
    CampaignCreateApi,
    CampaignDetailApi,
    CampaignPreviewApi,
    CampaignRecipientsApi,
)
from integrations.api_gdpr import ContactEraseApi, ContactExportApi
from messaging.api import ConversationViewSet, MessageSendApi, TemplateViewSet
from tickets.api import TicketViewSet
from tickets.api_labels import ConversationLabelsApi, LabelViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("contacts", ContactViewSet, basename="contact")
router.register("companies", CompanyViewSet, basename="company")
router.register("deals", DealViewSet, basename="deal")
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("templates", TemplateViewSet, basename="template")
router.register("tickets", TicketViewSet, basename="ticket")
router.register("labels", LabelViewSet, basename="label")

v1 = [
    path("messages/", MessageSendApi.as_view(), name="message-send"),
    path("events/", EventCreateApi.as_view(), name="event-create"),
    path("contacts/<int:pk>/export/", ContactExportApi.as_view(), name="contact-export"),
    path("contacts/<int:pk>/erase/", ContactEraseApi.as_view(), name="contact-erase"),
    path(
        "conversations/<int:pk>/labels/",
        ConversationLabelsApi.as_view(),
        name="conversation-labels",
    ),
    path("campaigns/", CampaignCreateApi.as_view(), name="campaign-create"),
    path("campaigns/<int:pk>/", CampaignDetailApi.as_view(), name="campaign-detail"),
    path("campaigns/<int:pk>/preview/", CampaignPreviewApi.as_view(), name="campaign-preview"),
    path(
        "campaigns/<int:pk>/recipients/",
        CampaignRecipientsApi.as_view(),
        name="campaign-recipients",
    ),
    path("campaigns/<int:pk>/<str:action>/", CampaignActionApi.as_view(), name="campaign-action"),
    *router.urls,
]

urlpatterns = [
    path("v1/", include((v1, "api"), namespace="v1")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^.*$", api_not_found),
]
