"""Routes of the market data: the chain page ``market/chain/`` and ``api/market/chain``."""

from __future__ import annotations

from django.urls import path

from trading import market_views

urlpatterns = [
    path("market/chain/", market_views.chain_page, name="market-chain"),
    path("api/market/chain", market_views.OptionChainView.as_view(), name="api-market-chain"),
]
