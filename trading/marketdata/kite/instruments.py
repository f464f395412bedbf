"""Kite's instrument master: the option contracts of an index, its spot token and India VIX's."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np

from trading.core import contracts
from trading.marketdata.base import FeedError

VIX_SYMBOL = "NSE:INDIA VIX"


@dataclass(frozen=True)
class KiteContract:
    """One option of the chain as the instrument master lists it."""

    token: int
    tradingsymbol: str
    expiry: date
    strike: float
    option_type: str  # CE or PE
    lot_size: int


def kite_error(exc: Exception, what: str) -> FeedError:
    return FeedError(f"Kite {what} failed: {type(exc).__name__}: {exc}")


class KiteInstruments:
    """The option contracts of one index, its spot token and India VIX's, from Kite's master.

    ``records``: rows of ``kite.instruments(fo_exchange)``; ``cash_records``: rows of the cash
    exchange(s) holding the index and ``INDIA VIX`` (segment INDICES).
    """

    def __init__(self, index: str, records: Iterable[dict], cash_records: Iterable[dict]) -> None:
        self.index = index.upper()
        spec = contracts.index_spec(self.index)
        self.contracts: dict[int, KiteContract] = {}
        for row in records:
            if row.get("name") != self.index or row.get("instrument_type") not in ("CE", "PE"):
                continue
            expiry = row["expiry"]
            if isinstance(expiry, str):
                expiry = date.fromisoformat(expiry)
            contract = KiteContract(
                token=int(row["instrument_token"]),
                tradingsymbol=str(row["tradingsymbol"]),
                expiry=expiry,
                strike=float(row["strike"]),
                option_type=str(row["instrument_type"]),
                lot_size=int(row["lot_size"]),
            )
            self.contracts[contract.token] = contract
        if not self.contracts:
            raise FeedError(f"the {spec.fo_exchange} instrument master lists no {self.index} options")
        cash = {
            f"{row.get('exchange')}:{row.get('tradingsymbol')}": int(row["instrument_token"])
            for row in cash_records
        }
        try:
            self.spot_token = cash[spec.spot_symbol]
            self.vix_token = cash[VIX_SYMBOL]
        except KeyError as exc:
            raise FeedError(f"the instrument master has no {exc.args[0]}") from None
        self.spot_symbol = spec.spot_symbol
        self._by_key = {
            (item.expiry, item.strike, item.option_type): item for item in self.contracts.values()
        }

    @classmethod
    def load(cls, kite: object, index: str) -> KiteInstruments:
        """Read the master through a ``KiteConnect`` (``instruments(exchange)``); FeedError on failure."""
        spec = contracts.index_spec(index)
        exchanges = [spec.fo_exchange]
        cash_exchanges = sorted({spec.spot_symbol.split(":")[0], VIX_SYMBOL.split(":")[0]})
        try:
            records = kite.instruments(exchanges[0])  # type: ignore[attr-defined]
            cash = [row for exchange in cash_exchanges for row in kite.instruments(exchange)]  # type: ignore[attr-defined]
        except Exception as exc:  # kiteconnect raises its own hierarchy and requests' errors
            raise kite_error(exc, "instrument master") from exc
        return cls(index, records, cash)

    def expiries(self, on: date) -> list[date]:
        """Expiry dates listed on or after ``on``, ascending (the broker's, holidays included)."""
        return sorted({item.expiry for item in self.contracts.values() if item.expiry >= on})

    def strikes(self, expiry: date) -> np.ndarray:
        """Strikes listed for ``expiry`` with both a CE and a PE, ascending."""
        listed = [item for item in self.contracts.values() if item.expiry == expiry]
        calls = {item.strike for item in listed if item.option_type == "CE"}
        puts = {item.strike for item in listed if item.option_type == "PE"}
        return np.array(sorted(calls & puts), dtype=float)

    def window(self, expiry: date, spot: float, steps: int) -> np.ndarray:
        """The listed strikes of ``expiry`` nearest ``spot``: the ATM one and ``steps`` on each side."""
        strikes = self.strikes(expiry)
        if strikes.size == 0:
            return strikes
        distance = np.abs(strikes - spot)
        atm = strikes.size - 1 - int(np.argmin(distance[::-1]))  # a tie goes to the higher strike
        return strikes[max(atm - steps, 0) : atm + steps + 1]

    def contract(self, expiry: date, strike: float, option_type: str) -> KiteContract | None:
        """The listed option, None when the master has no such contract."""
        return self._by_key.get((expiry, float(strike), option_type))

    def tokens(self, expiries: Iterable[date], spot: float, steps: int) -> dict[int, KiteContract]:
        """The contracts of ATM +- ``steps`` strikes of each expiry, by instrument token."""
        out: dict[int, KiteContract] = {}
        for expiry in expiries:
            for strike in self.window(expiry, spot, steps):
                for option_type in ("CE", "PE"):
                    contract = self.contract(expiry, strike, option_type)
                    if contract is not None:
                        out[contract.token] = contract
        return out
