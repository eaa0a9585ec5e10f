"""Liquidation: serving a breach (``pipeline``), sizing the close (``sizing``), splitting it down
the waterfall (``waterfall``), ADL (``adl``), venue-side takeovers and fees (``takeover``),
Dutch auctions to keepers (``auction``, stepped by ``keepers``).

Acts on a ``markets.venue.Venue`` through its public state; the processes that drive it (the
engine, the keepers' clock) are in ``agents``.
"""
