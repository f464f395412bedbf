"""Routes of the journal's pages, mounted at ``/journal/``."""

from __future__ import annotations

from django.urls import path

from journal import views

app_name = "journal"
urlpatterns = [
    path("", views.trade_list, name="list"),
    path("new/", views.trade_new, name="new"),
    path("calendar/", views.pnl_calendar, name="calendar"),
    path("import/", views.import_upload, name="import"),
    path("import/confirm/", views.import_confirm, name="import-confirm"),
    path("<int:pk>/", views.trade_detail, name="detail"),
    path("<int:pk>/annotate/", views.trade_annotate, name="annotate"),
]
