"""Implied vol + Greeks of 10,000 NIFTY-like options: trading.core.options against py_vollib.

Run from the project root: ``.venv/bin/python bench/iv.py`` (``--repeats N``, ``--vollib-sample N``,
``--numpy`` to time the fallback without numba).

The set: 81 strikes 22,000-26,000 by 50 around spot 24,000, 1-60 days, vols 8-40%, calls and puts,
r = 5.5%, q = 0; prices from ``bs_price``. Our figure is the median wall time of ``implied_vol`` plus
``greeks`` over the whole set after a warm-up call (numba compiles or loads its cache there).
py_vollib is a Python loop per option (``implied_volatility`` and its five analytical Greeks), timed
on an evenly spread subset and scaled to 10,000; its implied vols on the whole set give the accuracy
figure, restricted to options whose time value is above Rs 0.50. py_vollib_vectorized is timed too
when it imports and runs; 0.1.1 does neither with vollib 1.x (its numba code calls functions that
lets_be_rational 1.1 no longer compiles), so the line then says why it was skipped.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with warnings.catch_warnings():  # py_vollib 1.0.12 is a deprecated alias of vollib: same code
    warnings.simplefilter("ignore", DeprecationWarning)
    from py_vollib.black_scholes_merton.greeks import analytical
    from py_vollib.black_scholes_merton.implied_volatility import implied_volatility

from trading.core import options  # noqa: E402
from trading.core.options import bs_price, greeks, implied_vol  # noqa: E402

N_OPTIONS = 10_000
SPOT = 24_000.0
RATE = 0.055
GREEK_NAMES = ("delta", "gamma", "vega", "theta", "rho")


def option_set(n: int = N_OPTIONS) -> dict[str, np.ndarray]:
    """A deterministic set of ``n`` options; each option's fields come from a different cycle."""
    i = np.arange(n)
    strike = SPOT - 2000.0 + 50.0 * (i % 81)  # 81 strikes
    is_call = (i // 81) % 2 == 0  # a whole strip of calls, then of puts
    days = 1 + (i * 7) % 60  # 1..60 days, stepping 7 so neighbours differ
    vol = 0.08 + 0.32 * ((i * 0.6180339887498949) % 1.0)  # golden-ratio sequence over 8-40%
    t = days / 365.0
    price = bs_price(vol, SPOT, strike, t, RATE, is_call)
    return {"strike": strike, "is_call": is_call, "t": t, "vol": vol, "price": price}


def median_ms(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def ours(opts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    iv = implied_vol(opts["price"], SPOT, opts["strike"], opts["t"], RATE, opts["is_call"])
    return {"iv": iv, **greeks(iv, SPOT, opts["strike"], opts["t"], RATE, opts["is_call"])}


def vollib_one(price: float, strike: float, t: float, flag: str) -> tuple[float, ...]:
    try:
        iv = implied_volatility(price, SPOT, strike, t, RATE, 0.0, flag)
    except Exception:  # py_vollib raises below intrinsic / above maximum
        return (math.nan,) * 6
    return (iv, *(getattr(analytical, name)(flag, SPOT, strike, t, RATE, iv, 0.0) for name in GREEK_NAMES))


def vollib_iv_only(opts: dict[str, np.ndarray]) -> np.ndarray:
    out = np.full(len(opts["price"]), np.nan)
    for i, (p, k, t, c) in enumerate(zip(opts["price"], opts["strike"], opts["t"], opts["is_call"])):
        try:
            out[i] = implied_volatility(p, SPOT, k, t, RATE, 0.0, "c" if c else "p")
        except Exception:
            pass
    return out


def vectorized_ms(opts: dict[str, np.ndarray], repeats: int) -> str:
    """Time py_vollib_vectorized if it is installed and works with the installed py_vollib."""
    try:
        from py_vollib_vectorized import get_all_greeks, vectorized_implied_volatility

        flags = np.where(opts["is_call"], "c", "p")

        def run() -> None:
            iv = vectorized_implied_volatility(
                opts["price"],
                SPOT,
                opts["strike"],
                opts["t"],
                RATE,
                flags,
                q=0.0,
                model="black_scholes_merton",
                return_as="numpy",
            )
            get_all_greeks(
                flags,
                SPOT,
                opts["strike"],
                opts["t"],
                RATE,
                iv,
                q=0.0,
                model="black_scholes_merton",
                return_as="dict",
            )

        run()
        return f"{median_ms(run, repeats):.2f} ms"
    except Exception as exc:  # not installed, or incompatible with vollib 1.x
        return f"skipped ({type(exc).__name__}: {str(exc).splitlines()[0][:90]})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21, help="timed runs of ours (median)")
    parser.add_argument("--vollib-sample", type=int, default=1000, help="options in the timed py_vollib loop")
    parser.add_argument("--numpy", action="store_true", help="time the numpy fallback instead of numba")
    args = parser.parse_args()
    if args.numpy:
        options.USE_NUMBA = False
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # vollib's Greeks divide 0 by 0 on the few prices that sit on the intrinsic value
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="vollib")

    opts = option_set()
    discounted_strike = opts["strike"] * np.exp(-RATE * opts["t"])
    intrinsic = np.where(opts["is_call"], SPOT - discounted_strike, discounted_strike - SPOT)
    time_value = opts["price"] - np.maximum(intrinsic, 0.0)
    print(
        f"{N_OPTIONS} options: 81 strikes {SPOT - 2000:.0f}-{SPOT + 2000:.0f}, 1-60 days, vols 8-40%, calls+puts"
    )
    backend = "numba" if options.USE_NUMBA and options._HAVE_NUMBA else "numpy fallback"

    start = time.perf_counter()
    result = ours(opts)  # warm-up: numba compiles here, or loads its cache
    warm = (time.perf_counter() - start) * 1e3
    ours_ms = median_ms(lambda: ours(opts), args.repeats)
    iv_ms = median_ms(
        lambda: implied_vol(opts["price"], SPOT, opts["strike"], opts["t"], RATE, opts["is_call"]),
        args.repeats,
    )
    print(
        f"ours ({backend}): IV + Greeks {ours_ms:.2f} ms median of {args.repeats} (IV alone {iv_ms:.2f} ms), "
        f"{ours_ms * 1e3 / N_OPTIONS:.3f} us/option; first call incl. JIT/cache load {warm:.0f} ms"
    )

    sample = np.linspace(0, N_OPTIONS - 1, min(args.vollib_sample, N_OPTIONS)).astype(int)
    start = time.perf_counter()
    for i in sample:
        vollib_one(opts["price"][i], opts["strike"][i], opts["t"][i], "c" if opts["is_call"][i] else "p")
    sample_s = time.perf_counter() - start
    vollib_ms = sample_s * 1e3 * N_OPTIONS / len(sample)
    scaled = "" if len(sample) == N_OPTIONS else f", timed on {len(sample)} evenly spread options and scaled"
    print(
        f"py_vollib loop: IV + Greeks {vollib_ms:.0f} ms for {N_OPTIONS}{scaled}, "
        f"{vollib_ms * 1e3 / N_OPTIONS:.1f} us/option"
    )
    print(f"ratio py_vollib / ours: {vollib_ms / ours_ms:.0f}x")

    theirs = vollib_iv_only(opts)
    worth = time_value > 0.5
    diff = np.abs(result["iv"] - theirs)[worth]
    print(
        f"max |vol difference| vs py_vollib where time value > Rs 0.50: {np.nanmax(diff):.2e} "
        f"over {int(worth.sum())} options ({int(np.isnan(diff).sum())} NaN)"
    )
    print(
        f"ours NaN: {int(np.isnan(result['iv']).sum())} (with time value <= Rs 0.50: "
        f"{int((np.isnan(result['iv']) & ~worth).sum())})"
    )
    print(f"py_vollib_vectorized: {vectorized_ms(opts, 5)}")
    goal = "met" if ours_ms < 5.0 else "NOT met"
    print(f"goal (all {N_OPTIONS} IV + Greeks under 5 ms): {goal}")


if __name__ == "__main__":
    main()
