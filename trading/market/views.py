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

from trading import access, formats
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
        # No snapshot yet is the page's empty state (200), a bad index or expiry is the reader's error.
        chain, error, status = None, str(exc), 200 if exc.status == 404 else exc.status
    context = {
        "chain": chain,
        "rows": _table_rows(chain) if chain else [],
        "atm_iv_pct": formats.iv_percent(chain["atm_iv"] if chain else None),
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


def _signed(value: float | None) -> str:
    text = formats.grouped(value, 0)
    return f"+{text}" if value is not None and value > 0 else text


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
                "oi": formats.grouped(q["oi"], 0),
                "oi_change": _signed(q["oi_change"]),
                "oi_change_sign": 0 if not q["oi_change"] else (1 if q["oi_change"] > 0 else -1),
                "volume": formats.grouped(q["volume"], 0),
                "iv": formats.iv_percent(q["iv"]),
                "delta": formats.grouped(q["delta"], 2),
                "ltp": formats.grouped(q["ltp"], 2),
                "bid": formats.grouped(q["bid"], 2),
                "ask": formats.grouped(q["ask"], 2),
            }
        rows.append(
            {
                "strike": formats.grouped(k, 0) if float(k).is_integer() else formats.grouped(k, 2),
                "atm": k == atm,
                "call_itm": k < spot,
                "put_itm": k > spot,
                **sides,
            }
        )
    return rows
