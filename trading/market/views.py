"""The option-chain page ``market/chain/`` and its API ``GET /api/market/chain``.

Both are one call to ``services.latest_chain``; the page renders the same dict the API returns
(and refreshes itself from the API).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from trading import access
from trading.core import calendar as market_calendar
from trading.core import contracts
from trading.market.services import ChainError, latest_chain


class OptionChainView(APIView):
    """The latest option chain of an index and expiry, with its summary figures."""

    read_permission = access.VIEW_MARKET

    @extend_schema(
        summary="Latest option chain",
        parameters=[
            OpenApiParameter(
                "index", OpenApiTypes.STR, description="NIFTY (default), BANKNIFTY, FINNIFTY, ..."
            ),
            OpenApiParameter("expiry", OpenApiTypes.DATE, description="YYYY-MM-DD; default the nearest"),
            OpenApiParameter(
                "source", OpenApiTypes.STR, description="SIM, REPLAY or KITE; default the newest"
            ),
        ],
        responses={
            200: OpenApiResponse(
                description="Per strike and side: ltp, bid, ask, oi, oi_change, volume, iv (fraction), delta; "
                "with spot, vix, atm_strike, atm_iv, pcr_oi, pcr_volume, max_pain, support, resistance"
            ),
            400: OpenApiResponse(description="Unknown index, malformed expiry or an expiry not in the chain"),
            404: OpenApiResponse(description="No snapshot of the index yet"),
        },
    )
    def get(self, request: Request) -> Response:
        index = request.query_params.get("index") or settings.TRADING_INDEX
        try:
            data = latest_chain(
                index,
                request.query_params.get("expiry") or None,
                source=request.query_params.get("source") or None,
            )
        except ChainError as exc:
            return Response({"detail": str(exc)}, status=exc.status)
        return Response(data)


@access.permission_required(access.VIEW_MARKET)
def chain_page(request: HttpRequest) -> HttpResponse:
    """The chain table and the OI-by-strike chart of one index and expiry."""
    index = (request.GET.get("index") or settings.TRADING_INDEX).upper()
    expiry = request.GET.get("expiry") or None
    try:
        chain, error, status = latest_chain(index, expiry), None, 200
    except ChainError as exc:
        chain, error, status = None, str(exc), exc.status
    context = {
        "chain": chain,
        "rows": _table_rows(chain) if chain else [],
        "atm_iv_pct": _cell(chain["atm_iv"] * 100 if chain and chain["atm_iv"] is not None else None, ".1f")
        + "%",
        "error": error,
        "index": index,
        "indices": list(contracts.INDICES),
        "expiry": chain["expiry"] if chain else (expiry or ""),
        "bar_time": _ist(chain["time"]) if chain else "",
        "oi_change_since": _ist(chain["oi_change_since"]) if chain and chain["oi_change_since"] else "",
    }
    return render(request, "trading/chain.html", context, status=status)


def _ist(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(market_calendar.IST).strftime("%Y-%m-%d %H:%M IST")


def _cell(value: float | None, fmt: str) -> str:
    return "\u2013" if value is None else format(value, fmt)


def _table_rows(chain: dict) -> list[dict]:
    """The chain's rows as display strings (calls left, puts right), with ATM and in-the-money flags."""
    spot, atm = chain["spot"], chain["atm_strike"]
    rows = []
    for row in chain["strikes"]:
        k = row["strike"]
        sides = {}
        for side in ("call", "put"):
            q = row[side]
            sides[side] = {
                "oi": _cell(q["oi"], ",.0f"),
                "oi_change": _cell(q["oi_change"], "+,.0f"),
                "oi_change_sign": 0 if not q["oi_change"] else (1 if q["oi_change"] > 0 else -1),
                "volume": _cell(q["volume"], ",.0f"),
                "iv": _cell(None if q["iv"] is None else q["iv"] * 100, ".1f"),
                "delta": _cell(q["delta"], ".2f"),
                "ltp": _cell(q["ltp"], ".2f"),
                "bid": _cell(q["bid"], ".2f"),
                "ask": _cell(q["ask"], ".2f"),
            }
        rows.append(
            {
                "strike": format(k, "g"),
                "atm": k == atm,
                "call_itm": k < spot,
                "put_itm": k > spot,
                **sides,
            }
        )
    return rows
