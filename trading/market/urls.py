"""Routes of the market data: the chain page ``market/chain/`` and ``api/market/chain``."""

from __future__ import annotations

from django.urls import path

from trading.market import views

urlpatterns = [
    path("market/chain/", views.chain_page, name="market-chain"),
    path("api/market/chain", views.OptionChainView.as_view(), name="api-market-chain"),
]
