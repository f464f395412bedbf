"""The execution layer's tables: orders and their transitions, positions, the desk's control state
and backtest runs. Written through ``trading.execution`` services only."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from trading.choices import DataSource, InstrumentType, Mode, Side


class ContractFields(models.Model):
    """The option contract an order or a position is in."""

    index = models.CharField(max_length=20, default="NIFTY")
    tradingsymbol = models.CharField(max_length=40)
    exchange = models.CharField(max_length=8, default="NFO")
    instrument_type = models.CharField(max_length=4, choices=InstrumentType.choices)
    strike_price = models.DecimalField(max_digits=12, decimal_places=2)
    expiry_date = models.DateField()

    class Meta:
        abstract = True


class OrderStatus(models.TextChoices):
    NEW = "NEW", "New"
    SUBMITTED = "SUBMITTED", "Submitted"
    OPEN = "OPEN", "Open"
    PARTIALLY_FILLED = "PARTIALLY_FILLED", "Partially filled"
    FILLED = "FILLED", "Filled"
    CANCELLED = "CANCELLED", "Cancelled"
    REJECTED = "REJECTED", "Rejected"
    EXPIRED = "EXPIRED", "Expired"


class Order(ContractFields):
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
        "trading.Signal", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
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


class Position(ContractFields):
    """An open (or closed) position in one contract, from its entry fill to the trade it becomes."""

    position_id = models.CharField(max_length=64, unique=True, help_text="Becomes the journal trade_id")
    strategy_name = models.CharField(max_length=64, db_index=True)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PAPER)
    data_source = models.CharField(max_length=6, choices=DataSource.choices, default=DataSource.SIM)
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
        "trading.Signal", null=True, blank=True, on_delete=models.SET_NULL, related_name="positions"
    )
    entry_context = models.JSONField(default=dict, blank=True)
    exit_time = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-entry_time", "-id"]
        indexes = [models.Index(fields=["status", "strategy_name"], name="position_status_strategy")]

    def __str__(self) -> str:
        return f"{self.position_id} {self.side} {self.quantity} {self.tradingsymbol} {self.status}"


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

    class Meta:
        # The desk's controls (trading.access): checked by the control and Kite pages and services.
        permissions = [
            ("control_desk", "Can use the kill switch and reset the circuit breaker"),
            ("confirm_live", "Can confirm LIVE trading for the day"),
            ("kite_login", "Can log in to Kite for the day"),
        ]

    def __str__(self) -> str:
        return f"{self.index} state"


class RunStatus(models.TextChoices):
    """Where a backtest run, a sweep or one combination of a sweep is: queued, running, finished or
    failed. A run whose worker died is marked FAILED by ``backtests.backtest_runs_reap`` (its
    heartbeat stopped), so nothing stays RUNNING for ever."""

    PENDING = "PENDING", "Queued"
    RUNNING = "RUNNING", "Running"
    DONE = "DONE", "Done"
    FAILED = "FAILED", "Failed"


class BacktestRun(models.Model):
    """One backtest: what ran over what (typed settings; ``parameters`` checked against each
    strategy's ``Params`` by ``backtests.run_parameters``), its progress while it runs and its result
    figures (typed; ``summary`` keeps the engine's whole summary). Its trades point back here."""

    name = models.CharField(max_length=120, blank=True, default="")
    strategies = models.JSONField(default=list)
    index = models.CharField(max_length=20, default="NIFTY")
    data_source = models.CharField(max_length=6, choices=DataSource.choices, default=DataSource.SIM)
    start = models.DateField()
    end = models.DateField()
    seed = models.IntegerField(null=True, blank=True)
    parameters = models.JSONField(
        default=dict, blank=True, help_text="{'risk': {...}, 'strategies': {name: {param: value}}}"
    )
    overrides = models.JSONField(
        default=dict, blank=True, help_text="The parameters asked for on top of the strategies' configuration"
    )
    data_version = models.CharField(
        max_length=64, blank=True, default="", help_text="SHA-256 of the market data the run traded"
    )
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.PENDING)
    bars_done = models.PositiveIntegerField(default=0)
    bars_total = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of its worker")
    error = models.TextField(blank=True, default="")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trade_count = models.PositiveIntegerField(null=True, blank=True)
    net_pnl = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    gross_pnl = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    charges = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    max_drawdown = models.DecimalField(
        max_digits=16, decimal_places=2, null=True, blank=True, help_text="Rupees, >= 0"
    )
    win_rate = models.FloatField(null=True, blank=True, help_text="Percent of trades with net > 0")
    summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # Research: starting backtests and sweeps, promoting a combination (trading.access).
        permissions = [("run_backtest", "Can start backtests and parameter sweeps")]

    def __str__(self) -> str:
        return f"Backtest {self.pk} {self.start}..{self.end}"

    @property
    def progress(self) -> float:
        """Share of the bars done, 0..1 (1 once finished)."""
        if self.status == RunStatus.DONE:
            return 1.0
        return min(1.0, self.bars_done / self.bars_total) if self.bars_total else 0.0


class SweepSample(models.TextChoices):
    GRID = "GRID", "Grid"
    RANDOM = "RANDOM", "Random sample"


class SweepObjective(models.TextChoices):
    """What a sweep's table is sorted by (best first)."""

    NET = "net_pnl", "Net P&L"
    SHARPE = "sharpe", "Sharpe ratio"
    PROFIT_FACTOR = "profit_factor", "Profit factor"
    MAX_DRAWDOWN = "max_drawdown", "Max drawdown (smallest first)"
    TRADES = "trade_count", "Trades"


class Sweep(models.Model):
    """A parameter sweep of one strategy: the space (a grid or a random sample within the bounds its
    ``Params`` declare), the market it ran on (built once, stored here, its SHA-256 the data version)
    and the seeds, so that it reproduces exactly. One ``SweepCombination`` per point."""

    name = models.CharField(max_length=120, blank=True, default="")
    strategy = models.CharField(max_length=64)
    index = models.CharField(max_length=20, default="NIFTY")
    data_source = models.CharField(max_length=6, choices=DataSource.choices, default=DataSource.SIM)
    start = models.DateField()
    end = models.DateField()
    seed = models.IntegerField(help_text="The simulated market's seed")
    sample = models.CharField(max_length=8, choices=SweepSample.choices, default=SweepSample.GRID)
    sample_seed = models.IntegerField(null=True, blank=True, help_text="The random sample's seed")
    space = models.JSONField(
        default=dict, help_text="{param: [values]} (grid) or {param: [min, max]} (random)"
    )
    base_parameters = models.JSONField(
        default=dict, blank=True, help_text="The strategy's configuration the combinations start from"
    )
    slot = models.JSONField(
        default=dict, blank=True, help_text="Cooldown, positions, capital of the strategy"
    )
    objective = models.CharField(max_length=16, choices=SweepObjective.choices, default=SweepObjective.SHARPE)
    embedded = models.BooleanField(default=False, help_text="Ran in a local process pool, not on workers")
    market_data = models.BinaryField(editable=False, default=bytes)
    data_version = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.PENDING)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Sweep {self.pk} {self.strategy} {self.start}..{self.end}"

    @property
    def progress(self) -> float:
        return min(1.0, (self.done + self.failed) / self.total) if self.total else 0.0


class SweepCombination(models.Model):
    """One point of a sweep: its parameters, and only its summary figures and equity curve (no trades:
    a combination promoted to a run writes those, ``sweeps.sweep_promote``)."""

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="combinations")
    number = models.PositiveIntegerField()
    parameters = models.JSONField(default=dict)
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.PENDING)
    trade_count = models.PositiveIntegerField(null=True, blank=True)
    net_pnl = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    sharpe = models.FloatField(null=True, blank=True, help_text="Annualised, daily returns on the capital")
    profit_factor = models.FloatField(null=True, blank=True)
    max_drawdown = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    win_rate = models.FloatField(null=True, blank=True)
    equity = models.JSONField(default=list, blank=True, help_text="[[exit time ISO, cumulative net], ...]")
    error = models.TextField(blank=True, default="")
    finished_at = models.DateTimeField(null=True, blank=True)
    promoted_run = models.ForeignKey(
        BacktestRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="promoted_from"
    )

    class Meta:
        ordering = ["sweep", "number"]
        constraints = [models.UniqueConstraint(fields=["sweep", "number"], name="sweep_combination_once")]

    def __str__(self) -> str:
        return f"Sweep {self.sweep_id} #{self.number}"
