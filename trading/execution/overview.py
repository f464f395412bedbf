"""The desk at a glance, for the home page: the control state of an index (kill switch, circuit
breaker, last cycle) and its open positions marked to their last price."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from trading.core.charges import round_trip_pnl
from trading.execution.models import Position, PositionStatus, TradingState


@dataclass(frozen=True)
class OpenPosition:
    """An open position and its unrealised gross P&L (rupees, at ``mark``: the last price, else the
    entry price - 0 until the first mark)."""

    position: Position
    mark: Decimal
    unrealised: Decimal


@dataclass(frozen=True)
class DeskOverview:
    index: str
    state: TradingState
    positions: list[OpenPosition] = field(default_factory=list)

    @property
    def unrealised(self) -> Decimal:
        return sum((p.unrealised for p in self.positions), Decimal("0.00"))


def desk_overview(index: str) -> DeskOverview:
    """The index's kill switch and breaker state (an unsaved default row if none exists yet: reading
    the home page writes nothing) and its open positions, oldest first."""
    state = TradingState.objects.filter(index=index).first() or TradingState(index=index)
    rows = Position.objects.filter(index=index, status=PositionStatus.OPEN).order_by("entry_time", "id")
    positions = []
    for p in rows:
        mark = p.last_price if p.last_price is not None else p.entry_price
        pnl = round_trip_pnl(side=p.side, entry_price=p.entry_price, exit_price=mark, quantity=p.quantity)
        positions.append(OpenPosition(position=p, mark=mark, unrealised=pnl))
    return DeskOverview(index=index, state=state, positions=positions)
