"""The Django side of the strategies: their configuration (validated, audited), the record of every
signal the engine saw, the strategies page, admin and API. The strategies themselves are pure code in
``trading.core.strategies``."""
