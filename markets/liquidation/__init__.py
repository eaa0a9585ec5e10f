"""Liquidation: serving a breach with the venue's closer (``pipeline``), closing positions by
market order (``close``, sized by ``sizing``, split down the waterfall by ``waterfall``), ADL
(``adl``), paying for a close (``settle``: bad debt, fees, surplus, the after-close epilogue),
the backstop vault (``vault``), insurance-fund takeover (``fund_takeover``), Dutch auctions to
keepers (``auction``, started and stepped by ``keepers``), and the one liquidation event every
close records (``record``).

Imports run one way: ``pipeline`` -> ``close`` / ``keepers`` / ``vault`` -> ``settle`` /
``fund_takeover`` / ``record`` -> ``adl`` / ``waterfall`` / ``sizing`` / ``auction``. Acts on a
``markets.venue.Venue`` through its public state; the processes that drive it (the engine, the
keepers' clock) are in ``agents``.
"""
