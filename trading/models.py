"""The engine's persistent state: signals, orders and their transitions, positions, configuration,
control state, market snapshots and backtest runs. Written through ``trading.services`` only."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from trading.audit import ControlAudit  # noqa: F401 - registered with the app
from trading.choices import DataSource, InstrumentType, Mode, Side


class SignalStatus(models.TextChoices):
    ACCEPTED = "ACCEPTED", "Accepted"
    REJECTED = "REJECTED", "Rejected"


class Signal(models.Model):
    """Every signal the engine saw, accepted or rejected (with the reason), with the features of that bar."""

    strategy_name = models.CharField(max_length=64, db_index=True)
    index = models.CharField(max_length=20, default="NIFTY")
    bar_time = models.DateTimeField(db_index=True, help_text="Start of the bar the signal was computed on")
    direction = models.CharField(max_length=4, choices=InstrumentType.choices)
    strength = models.FloatField()
    reason = models.TextField(blank=True, default="")
    status = models.CharField(max_length=8, choices=SignalStatus.choices)
    reject_reason = models.CharField(max_length=64, blank=True, default="")
    reject_detail = models.TextField(blank=True, default="")
    features = models.JSONField(default=dict, blank=True)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PAPER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-bar_time", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["strategy_name", "index", "bar_time", "direction", "mode"], name="signal_once_per_bar"
            )
        ]

    def __str__(self) -> str:
        return f"{self.strategy_name} {self.direction} @ {self.bar_time:%Y-%m-%d %H:%M} {self.status}"


class OrderStatus(models.TextChoices):
    NEW = "NEW", "New"
    SUBMITTED = "SUBMITTED", "Submitted"
    OPEN = "OPEN", "Open"
    PARTIALLY_FILLED = "PARTIALLY_FILLED", "Partially filled"
    FILLED = "FILLED", "Filled"
    CANCELLED = "CANCELLED", "Cancelled"
    REJECTED = "REJECTED", "Rejected"
    EXPIRED = "EXPIRED", "Expired"


class Order(models.Model):
    """One order to the broker (a parent, or a freeze-quantity child of one). ``client_order_id`` is
    unique: submitting it twice never makes two orders; it is Kite's ``tag``."""

    client_order_id = models.CharField(max_length=20, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    broker_order_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    broker = models.CharField(max_length=16, default="paper")
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PAPER)
    strategy_name = models.CharField(max_length=64, db_index=True)
    signal = models.ForeignKey(
        Signal, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    position = models.ForeignKey(
        "Position", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    purpose = models.CharField(max_length=8, default="ENTRY", help_text="ENTRY or EXIT")
    position_ref = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_index=True,
        help_text="position_id the order opens or closes",
    )
    exit_type = models.CharField(
        max_length=16, blank=True, default="", help_text="Why an EXIT order was sent"
    )
    index = models.CharField(max_length=20, default="NIFTY")
    tradingsymbol = models.CharField(max_length=40)
    exchange = models.CharField(max_length=8, default="NFO")
    instrument_type = models.CharField(max_length=4, choices=InstrumentType.choices)
    strike_price = models.DecimalField(max_digits=12, decimal_places=2)
    expiry_date = models.DateField()
    transaction_type = models.CharField(max_length=4, help_text="BUY or SELL")
    order_type = models.CharField(max_length=8, default="MARKET")
    quantity = models.PositiveIntegerField()
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    filled_quantity = models.PositiveIntegerField(default=0)
    average_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.NEW, db_index=True
    )
    status_reason = models.CharField(max_length=120, blank=True, default="")
    modifications = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(help_text="Market-clock time the order was created")
    updated_at = models.DateTimeField(auto_now=True)
    filled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.client_order_id} {self.transaction_type} {self.quantity} {self.tradingsymbol} {self.status}"


class OrderEvent(models.Model):
    """One transition of an order's state machine: from -> to, when, why."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16)
    at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True, default="")
    filled_quantity = models.PositiveIntegerField(default=0)
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status} -> {self.to_status}"


class PositionStatus(models.TextChoices):
    OPEN = "OPEN", "Open"
    CLOSED = "CLOSED", "Closed"


class Position(models.Model):
    """An open (or closed) position in one contract, from its entry fill to the trade it becomes."""

    position_id = models.CharField(max_length=64, unique=True, help_text="Becomes the journal trade_id")
    strategy_name = models.CharField(max_length=64, db_index=True)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PAPER)
    data_source = models.CharField(max_length=6, choices=DataSource.choices, default=DataSource.SIM)
    index = models.CharField(max_length=20, default="NIFTY")
    tradingsymbol = models.CharField(max_length=40)
    exchange = models.CharField(max_length=8, default="NFO")
    instrument_type = models.CharField(max_length=4, choices=InstrumentType.choices)
    strike_price = models.DecimalField(max_digits=12, decimal_places=2)
    expiry_date = models.DateField()
    side = models.CharField(max_length=5, choices=Side.choices, default=Side.LONG)
    quantity = models.PositiveIntegerField()
    entry_price = models.DecimalField(max_digits=12, decimal_places=2)
    entry_time = models.DateTimeField()
    stop_loss_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    target_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    trail_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    last_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    high_water = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    low_water = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    status = models.CharField(max_length=8, choices=PositionStatus.choices, default=PositionStatus.OPEN)
    signal = models.ForeignKey(
        Signal, null=True, blank=True, on_delete=models.SET_NULL, related_name="positions"
    )
    entry_context = models.JSONField(default=dict, blank=True)
    exit_time = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-entry_time", "-id"]
        indexes = [models.Index(fields=["status", "strategy_name"], name="position_status_strategy")]

    def __str__(self) -> str:
        return f"{self.position_id} {self.side} {self.quantity} {self.tradingsymbol} {self.status}"


class StrategyConfig(models.Model):
    """How one strategy trades: switch, parameters (validated against its dataclass), limits."""

    name = models.CharField(max_length=64, unique=True)
    enabled = models.BooleanField(default=True)
    parameters = models.JSONField(default=dict, blank=True)
    capital_allocation = models.DecimalField(max_digits=14, decimal_places=2, default=100000)
    max_open_positions = models.PositiveIntegerField(default=1)
    cooldown_minutes = models.PositiveIntegerField(default=15)
    index = models.CharField(max_length=20, default="NIFTY")
    last_signal_at = models.DateTimeField(
        null=True, blank=True, help_text="For the cooldown, across restarts"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StrategyConfigAudit(models.Model):
    """A change of a strategy's configuration: who, when, field, old -> new."""

    config = models.ForeignKey(StrategyConfig, on_delete=models.CASCADE, related_name="audits")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    at = models.DateTimeField(auto_now_add=True)
    field = models.CharField(max_length=64)
    old_value = models.TextField(blank=True, default="")
    new_value = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.config_id}.{self.field}"


class TradingState(models.Model):
    """Control state of one index's engine: kill switch, circuit breaker, live confirmation, clock."""

    index = models.CharField(max_length=20, unique=True, default="NIFTY")
    kill_switch = models.BooleanField(default=False)
    circuit_breaker = models.BooleanField(default=False)
    circuit_breaker_reason = models.CharField(max_length=200, blank=True, default="")
    circuit_breaker_session = models.DateField(null=True, blank=True)
    live_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    live_confirmed_at = models.DateTimeField(null=True, blank=True)
    last_bar_time = models.DateTimeField(null=True, blank=True)
    last_cycle_at = models.DateTimeField(null=True, blank=True)
    feed_seed = models.IntegerField(
        null=True, blank=True, help_text="Simulated market seed of the running loop"
    )
    feed_start = models.DateField(
        null=True, blank=True, help_text="First session of the running loop's market"
    )
    kite_access_token = models.CharField(max_length=200, blank=True, default="")
    kite_token_date = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.index} state"


class MarketSnapshot(models.Model):
    """The latest view of one index's market (spot, VIX and chain summary), for pages and metrics."""

    index = models.CharField(max_length=20, db_index=True)
    time = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=6, choices=DataSource.choices, default=DataSource.SIM)
    spot = models.FloatField()
    vix = models.FloatField(null=True, blank=True)
    pcr = models.FloatField(null=True, blank=True)
    max_pain = models.FloatField(null=True, blank=True)
    atm_iv = models.FloatField(null=True, blank=True)
    chain = models.JSONField(default=dict, blank=True, help_text="Per expiry: strikes and per-side fields")

    class Meta:
        ordering = ["-time"]
        constraints = [models.UniqueConstraint(fields=["index", "time", "source"], name="snapshot_once")]

    def __str__(self) -> str:
        return f"{self.index} {self.time} {self.spot}"


class BacktestRun(models.Model):
    """One backtest: what ran over what, and its result summary. Its trades point back here."""

    name = models.CharField(max_length=120, blank=True, default="")
    strategies = models.JSONField(default=list)
    index = models.CharField(max_length=20, default="NIFTY")
    data_source = models.CharField(max_length=6, choices=DataSource.choices, default=DataSource.SIM)
    start = models.DateField()
    end = models.DateField()
    seed = models.IntegerField(null=True, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, default="PENDING")
    summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Backtest {self.pk} {self.start}..{self.end}"
