"""The trade journal: one row per closed round trip, with its full market context."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from trading.audit import AuditEntry
from trading.choices import DataSource, ExitType, InstrumentType, Mode, Side


class TradeStatus(models.TextChoices):
    CLOSED = "CLOSED", "Closed"


class TradeOrigin(models.TextChoices):
    """Who wrote a trade: the engine (the only trades its risk figures count), a person by hand
    (page, API, admin) or an import. Set by the code that calls ``record_trade``, never by input."""

    ENGINE = "ENGINE", "Engine"
    MANUAL = "MANUAL", "Manual"
    IMPORT = "IMPORT", "Import"


def _money(**kw):
    return models.DecimalField(max_digits=14, decimal_places=2, **kw)


def _price(**kw):
    return models.DecimalField(max_digits=12, decimal_places=2, **kw)


def stored_tags(stored: str | None) -> list[str]:
    """Tags as a trade stores them (``,eod,oi-wall,``: lower-case, sorted, comma-fenced) -> a list."""
    return [t for t in (stored or "").split(",") if t]


class ComboStatus(models.TextChoices):
    """The life of a combo, as the engine's ``core.state.OpenCombo.status``."""

    ENTERING = "ENTERING", "Entering (legs being sent)"
    OPEN = "OPEN", "Open"
    CLOSING = "CLOSING", "Closing"
    CLOSED = "CLOSED", "Closed"


class Combo(models.Model):
    """A multi-leg position (a short straddle, an iron condor...): its legs are ``Trade`` rows
    (``Trade.combo``), each with every field a single trade has.

    Written only by ``journal.services.combo_record`` (the engine's facts) and
    ``combo_refresh_totals`` (the sums of its legs' trades). Money in rupees; ``max_profit`` and
    ``max_loss`` (the lowest P&L, negative) at the nearest expiry on the legs' entry fills, None when
    unlimited (``payoff_known``: they were computed); ``breakevens`` index points; ``margin`` the
    rupees blocked at entry, an estimate unless ``margin_is_estimate`` is False (the broker's basket
    margin). ``legs`` the legs as resolved at entry (type, side, strike, expiry, lots, premium, IV,
    status); ``engine`` what the engine needs to take the combo back after a restart."""

    combo_id = models.CharField(max_length=64, unique=True)
    strategy_name = models.CharField(max_length=64, db_index=True, default="MANUAL")
    symbol = models.CharField(max_length=20, help_text="Underlying index, e.g. NIFTY")
    template = models.CharField(max_length=40, blank=True, default="")
    product = models.CharField(max_length=4, default="MIS", help_text="MIS (intraday) or NRML (positional)")
    direction = models.CharField(max_length=8, blank=True, default="")
    entry_mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PAPER)
    data_source = models.CharField(max_length=6, choices=DataSource.choices, default=DataSource.SIM)
    status = models.CharField(max_length=10, choices=ComboStatus.choices, default=ComboStatus.OPEN)
    entry_time = models.DateTimeField()
    exit_time = models.DateTimeField(null=True, blank=True)
    exit_type = models.CharField(max_length=16, choices=ExitType.choices, blank=True, default="")
    exit_reason = models.TextField(blank=True, default="")
    policy_note = models.TextField(blank=True, default="", help_text="What the leg-failure policy did")
    gross_pnl = _money(default=0)
    total_charges = _money(default=0)
    net_pnl = _money(default=0)
    payoff_known = models.BooleanField(default=False)
    max_profit = _money(null=True, blank=True, help_text="None: unlimited")
    max_loss = _money(null=True, blank=True, help_text="The lowest P&L (negative); None: unlimited")
    breakevens = models.JSONField(default=list, blank=True)
    margin = _money(default=0)
    margin_is_estimate = models.BooleanField(default=True)
    legs = models.JSONField(default=list, blank=True)
    engine = models.JSONField(default=dict, blank=True)
    backtest_run = models.ForeignKey(
        "trading.BacktestRun", null=True, blank=True, on_delete=models.CASCADE, related_name="combos"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-entry_time", "-id"]
        indexes = [
            models.Index(fields=["strategy_name", "entry_mode", "-entry_time"], name="combo_strategy_mode")
        ]

    def __str__(self) -> str:
        return f"{self.combo_id} {self.template} {self.net_pnl}"


class Trade(models.Model):
    """A closed round trip in one option contract.

    Written only by ``journal.services.record_trade`` (and edits through ``journal.services.trade_update``),
    which derive every computed field (charges, P&L, win flag, R-multiple, hold time) from the raw facts.
    Money in rupees (Decimal, 2 places); premiums on the 0.05 tick; times stored in UTC.
    MAE/MFE are the worst/best unrealised P&L in rupees over the trade's life (MAE <= 0 <= MFE).
    """

    trade_id = models.CharField(max_length=64, unique=True)
    # Contract
    symbol = models.CharField(max_length=20, db_index=True, help_text="Underlying index, e.g. NIFTY")
    tradingsymbol = models.CharField(max_length=40, blank=True, default="")
    exchange = models.CharField(max_length=8, default="NFO")
    instrument_type = models.CharField(max_length=4, choices=InstrumentType.choices)
    strike_price = _price()
    expiry_date = models.DateField()
    side = models.CharField(max_length=5, choices=Side.choices, default=Side.LONG)
    # Entry and exit
    entry_time = models.DateTimeField()
    exit_time = models.DateTimeField()
    trade_date = models.DateField(
        db_index=True, help_text="IST date of the exit: the day the trade belongs to"
    )
    entry_price = _price()
    exit_price = _price()
    quantity = models.PositiveIntegerField(help_text="Units (lots x lot size)")
    lots = models.PositiveIntegerField()
    entry_mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PAPER)
    data_source = models.CharField(max_length=6, choices=DataSource.choices, default=DataSource.SIM)
    exit_type = models.CharField(max_length=16, choices=ExitType.choices, default=ExitType.MANUAL)
    status = models.CharField(max_length=8, choices=TradeStatus.choices, default=TradeStatus.CLOSED)
    origin = models.CharField(
        max_length=8,
        choices=TradeOrigin.choices,
        default=TradeOrigin.MANUAL,
        help_text="Who wrote it: ENGINE, MANUAL or IMPORT (the engine's risk counts only its own)",
    )
    entry_order_id = models.CharField(max_length=64, blank=True, default="")
    exit_order_id = models.CharField(max_length=64, blank=True, default="")
    entry_orders = models.PositiveSmallIntegerField(
        default=1, help_text="Executed orders of the entry (brokerage)"
    )
    exit_orders = models.PositiveSmallIntegerField(
        default=1, help_text="Executed orders of the exit (brokerage)"
    )
    hold_duration_minutes = models.DecimalField(max_digits=10, decimal_places=2)
    # P&L
    gross_pnl = _money()
    net_pnl = _money()
    pnl_percentage = models.DecimalField(max_digits=12, decimal_places=4)
    is_winning_trade = models.BooleanField()
    # Charges, itemised
    brokerage = _money(default=0)
    stt = _money(default=0)
    exchange_txn = _money(default=0)
    sebi_fee = _money(default=0)
    stamp_duty = _money(default=0)
    gst = _money(default=0)
    total_charges = _money(default=0)
    # Strategy and signal
    strategy_name = models.CharField(max_length=64, db_index=True, default="MANUAL")
    signal_strength = models.FloatField(null=True, blank=True)
    signal_reason = models.TextField(blank=True, default="")
    exit_reason = models.TextField(blank=True, default="")
    signal = models.ForeignKey(
        "trading.Signal", null=True, blank=True, on_delete=models.SET_NULL, related_name="trades"
    )
    entry_features = models.JSONField(default=dict, blank=True, help_text="Feature row at the signal")
    # Spot and plan
    spot_price_entry = _price(null=True, blank=True)
    spot_price_exit = _price(null=True, blank=True)
    target_price = _price(null=True, blank=True)
    stop_loss_price = _price(null=True, blank=True)
    # Market context at entry and at exit
    vix_entry = models.FloatField(null=True, blank=True)
    vix_exit = models.FloatField(null=True, blank=True)
    pcr_entry = models.FloatField(null=True, blank=True)
    pcr_exit = models.FloatField(null=True, blank=True)
    max_pain_entry = _price(null=True, blank=True)
    max_pain_exit = _price(null=True, blank=True)
    atm_iv_entry = models.FloatField(null=True, blank=True)
    atm_iv_exit = models.FloatField(null=True, blank=True)
    iv_entry = models.FloatField(null=True, blank=True)
    iv_exit = models.FloatField(null=True, blank=True)
    delta_entry = models.FloatField(null=True, blank=True)
    delta_exit = models.FloatField(null=True, blank=True)
    gamma_entry = models.FloatField(null=True, blank=True)
    gamma_exit = models.FloatField(null=True, blank=True)
    theta_entry = models.FloatField(null=True, blank=True)
    theta_exit = models.FloatField(null=True, blank=True)
    vega_entry = models.FloatField(null=True, blank=True)
    vega_exit = models.FloatField(null=True, blank=True)
    # Greeks P&L attribution of the gross P&L (trading.core.attribution; null without the snapshots):
    # gross_pnl = delta_pnl + gamma_pnl + theta_pnl + vega_pnl + residual_pnl, rupees.
    delta_pnl = _money(null=True, blank=True, help_text="delta x dS x quantity, rupees")
    gamma_pnl = _money(null=True, blank=True, help_text="0.5 x gamma x dS^2 x quantity, rupees")
    theta_pnl = _money(null=True, blank=True, help_text="theta per day x days held x quantity, rupees")
    vega_pnl = _money(null=True, blank=True, help_text="vega per vol point x IV change in points x quantity")
    residual_pnl = _money(null=True, blank=True, help_text="gross - the four Greek parts, rupees")
    # Risk
    initial_risk = _money(null=True, blank=True, help_text="(entry - stop) x quantity, rupees")
    planned_rr = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    r_multiple = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    mae = _money(null=True, blank=True)
    mfe = _money(null=True, blank=True)
    # Journal
    tags = models.CharField(
        max_length=500,
        blank=True,
        default="",
        help_text="Comma-separated, stored as ,a,b, for exact matching",
    )
    notes = models.TextField(blank=True, default="")
    backtest_run = models.ForeignKey(
        "trading.BacktestRun", null=True, blank=True, on_delete=models.CASCADE, related_name="trades"
    )
    combo = models.ForeignKey(
        Combo,
        to_field="combo_id",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="trades",
        help_text="The combo this trade is a leg of (None: a single-leg trade)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-exit_time", "-id"]
        indexes = [
            models.Index(fields=["-exit_time", "-id"], name="trade_exit_desc"),
            models.Index(fields=["entry_mode", "-exit_time", "-id"], name="trade_mode_exit"),
            models.Index(
                fields=["strategy_name", "entry_mode", "trade_date"], name="trade_strategy_mode_day"
            ),
            models.Index(fields=["trade_date", "entry_mode"], name="trade_day_mode"),
            models.Index(
                fields=["strategy_name", "entry_mode", "-exit_time", "-id"], name="trade_strategy_mode_exit"
            ),
            # Analytics' daily series of one strategy and mode (GROUP BY trade_date): from the index alone.
            models.Index(
                fields=["strategy_name", "entry_mode", "trade_date", "net_pnl"], name="trade_strategy_day_net"
            ),
            # The engine's risk figures: its own trades of one index, mode and day.
            models.Index(fields=["symbol", "entry_mode", "trade_date", "origin"], name="trade_risk_day"),
        ]
        permissions = [
            ("annotate_trade", "Can edit the notes and tags of a trade"),
            ("import_trades", "Can import a tradebook or the journal's own CSV"),
        ]

    def __str__(self) -> str:
        return f"{self.trade_id} {self.tradingsymbol or self.symbol} {self.net_pnl}"

    @property
    def tag_list(self) -> list[str]:
        return stored_tags(self.tags)


class TradeAudit(AuditEntry):
    """One field of one trade changed by hand: who, when, through what, old -> new."""

    trade = models.ForeignKey(Trade, on_delete=models.CASCADE, related_name="audits")
    source = models.CharField(max_length=16, default="admin")
    field = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"{self.trade_id}.{self.field}: {self.old_value} -> {self.new_value}"


class ImportBatch(models.Model):
    """A file imported into the journal; its hash makes a second import of the same file a no-op."""

    sha256 = models.CharField(max_length=64, unique=True)
    filename = models.CharField(max_length=255)
    kind = models.CharField(max_length=16)
    trades = models.PositiveIntegerField(default=0)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.filename} ({self.trades} trades)"


# --- Performance tables: per day and mode, per strategy and mode. Derived from the trades above only,
# refreshed in the same transaction as the trade that changes them (``journal.performance``).


def _sum(**kw):
    return models.DecimalField(max_digits=16, decimal_places=2, default=0, **kw)


class PerformanceFields(models.Model):
    """The statistics both tables keep (rupees, Decimal).

    win_rate in percent; profit_factor = sum of wins / |sum of losses| (null with no losses);
    expectancy = net P&L per trade; max_drawdown = largest fall of cumulative net P&L from its peak,
    trades ordered by exit time (a positive number of rupees). ``sum_wins``, ``sum_losses``,
    ``total_hold_minutes``, ``peak_net`` and ``last_exit_time`` let a trade that arrives in order be
    added without reading the others back.
    """

    trades = models.PositiveIntegerField(default=0)
    wins = models.PositiveIntegerField(default=0)
    losses = models.PositiveIntegerField(default=0)
    gross_pnl = _sum()
    total_charges = _sum()
    net_pnl = _sum()
    win_rate = models.DecimalField(max_digits=7, decimal_places=2, default=0)
    avg_win = _sum()
    avg_loss = _sum()
    profit_factor = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    expectancy = _sum()
    max_drawdown = _sum()
    best_trade = _sum()
    worst_trade = _sum()
    avg_hold_minutes = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    sum_wins = _sum()
    sum_losses = _sum()
    total_hold_minutes = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    peak_net = _sum()
    last_exit_time = models.DateTimeField(null=True, blank=True)
    # Sums analytics adds over rows (journal.accumulator): R-multiples, MAE/MFE, exit efficiency, and the
    # runs of wins/losses (+1/-1) that join into streaks. ``first_sign`` null: not computed yet (a row
    # written before these columns existed), so readers go to the trades instead.
    r_count = models.PositiveIntegerField(default=0)
    r_sum = models.DecimalField(max_digits=24, decimal_places=4, default=0)
    r_sum_sq = models.DecimalField(max_digits=30, decimal_places=8, default=0)
    mae_count = models.PositiveIntegerField(default=0)
    mae_sum = _sum()
    mfe_count = models.PositiveIntegerField(default=0)
    mfe_sum = _sum()
    efficiency_count = models.PositiveIntegerField(default=0)
    efficiency_sum = models.FloatField(default=0)
    first_sign = models.SmallIntegerField(null=True, blank=True)
    first_run = models.PositiveIntegerField(default=0)
    last_sign = models.SmallIntegerField(default=0)
    last_run = models.PositiveIntegerField(default=0)
    best_win_run = models.PositiveIntegerField(default=0)
    best_loss_run = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class DailyPerformance(PerformanceFields):
    """One trading day (IST date of exit) of one mode."""

    date = models.DateField()
    mode = models.CharField(max_length=8, choices=Mode.choices)

    class Meta:
        db_table = "analytics_dailyperformance"  # created by the analytics app; only its owner moved
        ordering = ["-date", "mode"]
        constraints = [models.UniqueConstraint(fields=["date", "mode"], name="daily_perf_date_mode")]

    def __str__(self) -> str:
        return f"{self.date} {self.mode}: {self.net_pnl}"


class StrategyPerformance(PerformanceFields):
    """One strategy of one mode, over all its trades."""

    strategy_name = models.CharField(max_length=64)
    mode = models.CharField(max_length=8, choices=Mode.choices)

    class Meta:
        db_table = "analytics_strategyperformance"
        ordering = ["strategy_name", "mode"]
        constraints = [
            models.UniqueConstraint(fields=["strategy_name", "mode"], name="strategy_perf_name_mode")
        ]

    def __str__(self) -> str:
        return f"{self.strategy_name} {self.mode}: {self.net_pnl}"


# --- Breakdown cells: the breakdowns pre-aggregated per mode, day (IST date of exit), strategy and group.
# Derived from the trades only, kept in the trade writers' transactions (``journal.cells``).


def _cell_sum(places: int = 2, digits: int = 18):
    return models.DecimalField(max_digits=digits, decimal_places=places, default=0)


class BreakdownCell(models.Model):
    """The sums of the trades of one (mode, day, strategy) that fall in one group of one breakdown
    (``dimension``: a name of ``journal.breakdowns.breakdowns()``; ``key``: the group's key there).

    Trade figures: trades, wins (net > 0), losses (net < 0), net, sum of wins, sum of losses (<= 0),
    R-multiples counted and summed. Greeks attribution: trades with one (``attributed``), gross of all,
    gross of the attributed ones and the five parts (rupees). A trade with several tags is in one cell
    of ``tag`` per tag, as in the live GROUP BY.
    """

    dimension = models.CharField(max_length=24)
    mode = models.CharField(max_length=8, choices=Mode.choices)
    date = models.DateField()
    strategy_name = models.CharField(max_length=64)
    key = models.CharField(max_length=500)
    trades = models.PositiveIntegerField(default=0)
    wins = models.PositiveIntegerField(default=0)
    losses = models.PositiveIntegerField(default=0)
    net_pnl = _cell_sum()
    sum_wins = _cell_sum()
    sum_losses = _cell_sum()
    r_count = models.PositiveIntegerField(default=0)
    r_sum = _cell_sum(4, 24)
    attributed = models.PositiveIntegerField(default=0)
    gross_pnl = _cell_sum()
    gross_attributed = _cell_sum()
    delta_pnl = _cell_sum()
    gamma_pnl = _cell_sum()
    theta_pnl = _cell_sum()
    vega_pnl = _cell_sum()
    residual_pnl = _cell_sum()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dimension", "mode", "date", "strategy_name", "key"], name="breakdown_cell_unique"
            )
        ]
        indexes = [
            models.Index(
                fields=["dimension", "mode", "strategy_name", "date"], name="breakdown_cell_strategy"
            )
        ]

    def __str__(self) -> str:
        return f"{self.dimension}={self.key} {self.mode} {self.date} {self.strategy_name}: {self.trades}"


class BreakdownCellSpec(models.Model):
    """What the cells of one breakdown were built with (``Breakdown.spec``: its bucket bounds): the
    readers use the cells only while it equals the configured one; a writer under other bounds marks
    it stale (``journal.cells``), until ``manage.py rebuild_breakdown_cells``."""

    dimension = models.CharField(max_length=24, primary_key=True)
    spec = models.TextField()
    built_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.dimension}: {self.spec}"
