"""The run's random streams: one root seed, one named child generator per component.

A stream is keyed by its name (not by creation order), so adding a population or a process
does not reshuffle the draws of the others, and two mechanism variants of one scenario see the
same exogenous paths, populations and behaviour draws (common random numbers). There is no
global random state anywhere in the project.
"""

from __future__ import annotations

import hashlib

import numpy as np


class RunRandom:
    def __init__(self, seed: int) -> None:
        if seed < 0:
            raise ValueError("seeds are non-negative integers")
        self.seed = int(seed)

    def stream(self, name: str) -> np.random.Generator:
        """A fresh generator for ``name``; the same name always gives the same stream."""
        key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")
        seq = np.random.SeedSequence(self.seed, spawn_key=(key,))
        return np.random.Generator(np.random.PCG64(seq))
