"""URL routes. Each app adds its own under its prefix."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import IsAuthenticated

from tradingsite import views

# A route that matches nothing under /api/ answers in the API's JSON, as its documented 404.
handler404 = "tradingsite.views.not_found"
# A database outage met outside a view (middleware) answers 503 like one met inside it.
handler500 = "tradingsite.views.server_error"

# The admin's modules are imported here, with the URLs (settings: SimpleAdminConfig), not at every
# start-up: a management command that serves no page (a backtest, say) does not pay for them.
admin.autodiscover()

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", RedirectView.as_view(url=static("desk/favicon.svg"), permanent=True), name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The API's description is for its users: a login (any role) or a token.
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]), name="schema"),
    path(
        "api/docs/",
        login_required(
            SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[IsAuthenticated])
        ),
        name="swagger-ui",
    ),
    path("", include("journal.urls")),
    path("", include("trading.urls")),
    path("", include("analytics.urls")),
    path("analytics/", include("analytics.page_urls")),
]
