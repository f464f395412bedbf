"""``python -m trading.marketdata.kite``: the ticker process (``trading.marketdata.kite.ticker``)."""

from trading.marketdata.kite.ticker import main

raise SystemExit(main())
