"""Choices shared by every layer (journal, strategies, execution): a leaf that imports nothing of the
project, so that a model of any layer can name them without importing another layer."""

from __future__ import annotations

from django.db import models


class InstrumentType(models.TextChoices):
    """What a trade or an order is in: a call or a put option."""

    CALL = "CALL", "Call"
    PUT = "PUT", "Put"


class Side(models.TextChoices):
    """Which way a trade opened."""

    LONG = "LONG", "Long (bought first)"
    SHORT = "SHORT", "Short (sold first)"


class Mode(models.TextChoices):
    """How a trade was made: paper, live through the broker, or in a backtest."""

    PAPER = "PAPER", "Paper"
    LIVE = "LIVE", "Live"
    BACKTEST = "BACKTEST", "Backtest"


class DataSource(models.TextChoices):
    """The market data a trade was made on."""

    SIM = "SIM", "Simulated market"
    REPLAY = "REPLAY", "CSV replay"
    KITE = "KITE", "Kite live feed"
    STORE = "STORE", "Market-data store"


class ExitType(models.TextChoices):
    """Why a position was closed."""

    TARGET = "TARGET", "Target"
    STOP_LOSS = "STOP_LOSS", "Stop loss"
    TRAILING_STOP = "TRAILING_STOP", "Trailing stop"
    TIME_EXIT = "TIME_EXIT", "Time exit"
    SQUARE_OFF = "SQUARE_OFF", "End-of-day square-off"
    EXPIRY = "EXPIRY", "Expiry"
    KILL_SWITCH = "KILL_SWITCH", "Kill switch"
    SIGNAL = "SIGNAL", "Opposite signal"
    MANUAL = "MANUAL", "Manual"
    UNWIND = "UNWIND", "Unwound: another leg of its combo failed"
