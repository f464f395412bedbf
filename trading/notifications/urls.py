"""Routes of the notifications' staff page."""

from __future__ import annotations

from django.urls import path

from trading.notifications import views

urlpatterns = [path("notifications/", views.notifications_page, name="notifications")]
