"""Every random seed of a trial, derived on the driver from the trial seed alone."""

from __future__ import annotations

import numpy as np

#: One stream per consumer; appending a name never changes the seeds of the others.
_STREAMS = ("teacher", "collect", "symbolic", "evaluate", "explain", "finetune", "perceive", "finetune_fitness",
            "symbolic_selection")  # append only: a stream's index is part of its seeds


def stage_seed(trial_seed: int, stream: str) -> int:
    """A 31-bit seed for one consumer of randomness, stable across runs and actor counts."""
    if stream not in _STREAMS:
        raise ValueError(f"unknown seed stream {stream!r}; expected one of {_STREAMS}")
    sequence = np.random.SeedSequence([trial_seed, _STREAMS.index(stream)])
    return int(sequence.generate_state(1)[0] % (2**31 - 1))


def episode_seeds(trial_seed: int, stream: str, count: int) -> list[int]:
    """``count`` distinct episode seeds; episode i gets the same seed whoever plays it."""
    # Child i of the stream's SeedSequence depends on i alone, so asking for more episodes keeps
    # the first ones (20 -> 40 evaluation episodes extends the set instead of replacing it).
    stage_seed(trial_seed, stream)  # refuses an unknown stream with the list of known ones
    root = np.random.SeedSequence([trial_seed, _STREAMS.index(stream)])
    return [int(child.generate_state(1)[0] % (2**31 - 1)) for child in root.spawn(count)]
