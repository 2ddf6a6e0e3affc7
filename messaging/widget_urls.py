from django.urls import path

from messaging import widget_views

urlpatterns = [
    path("demo/", widget_views.widget_demo, name="widget-demo"),
    path("app.<str:version>.js", widget_views.widget_app, name="widget-app"),
    path("<str:key>.js", widget_views.widget_loader, name="widget-loader"),
    path("<str:key>/config", widget_views.widget_config, name="widget-config"),
    path("<str:key>/reference", widget_views.widget_reference_create, name="widget-reference"),
    path("<str:key>/qr/<int:entry_id>.svg", widget_views.widget_qr, name="widget-qr"),
]
