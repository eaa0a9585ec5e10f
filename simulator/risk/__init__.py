"""Risk analytics of a venue's book: the tested, pure numbers a risk team's report is made of.

- ``var``: historical VaR/ES with order-statistic and bootstrap intervals, parametric
  (normal, Student-t) VaR/ES of a linear USD position, Kupiec's proportion-of-failures
  backtest, log returns from kline files and historical portfolio losses.
- ``correlation``: full-sample, rolling and stressed (worst-days) correlation matrices, and
  broken matrices (to one, flipped signs) repaired to positive definite.
- ``concentration``: HHI, top-k shares, Lorenz curve, Gini, a table of them per group.
- ``cover2``: Cover-1 / Cover-2 of the largest defaulters' uncovered stressed losses through
  an ordered default waterfall (insurance fund, vault, ADL, ...).
- ``levels``: the liquidation map summarised by distance, the concentration of a stress
  cell's defaults.

The report's modules apply these to a built world (``simulator.run.build``), for ``liqsim
risk``:

- ``book``: exposure, concentration, parametric VaR, the static stress grid and Cover-2 of the
  world at t = 0 (or at a moment); ``sensitivity``: the static stress under scaled margin.
- ``market``: correlation, correlation breaks, historical VaR and a Kupiec backtest from the
  scenario's own paths or kline files.
- ``dynamic_margin``: the scenario's path walked under fixed and volatility-scaled
  maintenance; ``collateral_health``: haircut-adjusted ratios and the depeg sensitivity.
- ``moment``: the world re-simulated to a moment of a run, checked against its stored events.
- ``simulated``: losses over seeds from full runs (VaR/ES with intervals) and the stress grid's
  cells run in full.

Formulas and sources are in docs/risk.md. The estimators (``var``, ``correlation``,
``concentration``, ``cover2``, ``levels``) are functions of the data the caller passes
(arrays, frames, a seeded generator): they know no SimPy, run nothing, draw no charts, write no
files and read only kline CSVs, through ``markets.prices.klines``. Only ``moment`` and
``simulated`` run simulations (``simulator.run.runner``); none of them draws or writes: the
``liqsim risk`` command composes them into a report.
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
