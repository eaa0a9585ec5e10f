"""Risk analytics of a venue's book: the tested, pure numbers a risk team's report is made of.

- ``var``: historical VaR/ES with order-statistic and bootstrap intervals, parametric
  (normal, Student-t) VaR/ES of a linear USD position, Kupiec's proportion-of-failures
  backtest, log returns from kline files and historical portfolio losses.
- ``correlation``: full-sample, rolling and stressed (worst-days) correlation matrices, and
  broken matrices (to one, flipped signs) repaired to positive definite.
- ``concentration``: HHI, top-k shares, Lorenz curve, Gini, a table of them per group.
- ``cover2``: Cover-1 / Cover-2 of the largest defaulters' uncovered stressed losses through
  an ordered default waterfall (insurance fund, vault, ADL, ...).
- ``book``: the same analytics applied to a world built at t = 0 (exposure, concentration,
  parametric VaR, the static stress grid, Cover-2): the one module that reads a built world
  (``simulator.run.build``), for the ``liqsim risk`` report.

Formulas and sources are in docs/risk.md. Everything but ``book`` is a function of the data the
caller passes (arrays, frames, a seeded generator): it knows no SimPy, runs nothing (no run,
no sweep), draws no charts, writes no files and reads only kline CSVs, through
``markets.prices.klines``. A ``liqsim risk`` command composes these into a report.
"""

from simulator.risk.concentration import (
    concentration_table,
    gini,
    hhi,
    lorenz_curve,
    top_k_share,
)
from simulator.risk.correlation import (
    correlation_break,
    correlation_from_returns,
    nearest_psd,
    rolling_correlation,
    stressed_correlation,
)
from simulator.risk.cover2 import cover1, cover2, cover2_table, cover_n, uncovered_losses
from simulator.risk.var import (
    historical_portfolio_losses,
    historical_var_es,
    kupiec_pof,
    order_statistic_ranks,
    parametric_var_es,
    returns_from_klines,
    var_backtest,
)

__all__ = ["concentration_table", "correlation_break", "correlation_from_returns", "cover1",
           "cover2", "cover2_table", "cover_n", "gini", "hhi", "historical_portfolio_losses",
           "historical_var_es", "kupiec_pof", "lorenz_curve", "nearest_psd",
           "order_statistic_ranks", "parametric_var_es", "returns_from_klines",
           "rolling_correlation", "stressed_correlation", "top_k_share", "uncovered_losses",
           "var_backtest"]
