"""A pool of Ray actors that score candidates (programs, expression trees, ...) in parallel.

Generic: an actor is built once from a picklable factory, a zero-argument callable returning an
*evaluator*, itself a callable `evaluator(candidates, seeds) -> list[float]`. `pool.evaluate` cuts
the candidates into contiguous chunks, submits one remote call per chunk (all before waiting),
collects them with `ray.wait`, and returns the scores in input order whatever the number of
actors. An actor that dies is replaced (built from the same factory) and its chunks re-submitted.
`LocalPool` has the same interface and scores in the calling process, for 0 actors.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import ray
from ray.exceptions import RayActorError

logger = logging.getLogger(__name__)

Evaluator = Callable[[Sequence[Any], Sequence[int]], Sequence[float]]
EvaluatorFactory = Callable[[], Evaluator]


class Pool(Protocol):
    """What a search needs: scores for candidates, in order."""

    def evaluate(self, candidates: Sequence[Any], seeds: Sequence[int] = ()) -> list[float]: ...

    def close(self) -> None: ...


def _check_factory(factory: Any) -> None:
    if not callable(factory):
        raise TypeError(
            f"factory: got {type(factory).__name__}, expected a picklable zero-argument callable that builds "
            "an evaluator (e.g. a frozen dataclass with __call__, such as KarelEvaluatorFactory)."
        )


def _check_scores(scores: Sequence[float], count: int) -> list[float]:
    scores = [float(s) for s in scores]
    if len(scores) != count:
        raise RuntimeError(f"the evaluator returned {len(scores)} scores for {count} candidates; it must return one per candidate.")
    return scores


class LocalPool:
    """Scores candidates in this process with one evaluator built from the factory."""

    def __init__(self, factory: EvaluatorFactory) -> None:
        _check_factory(factory)
        self.evaluator = factory()
        self.num_actors = 0
        self.restarts = 0

    def evaluate(self, candidates: Sequence[Any], seeds: Sequence[int] = ()) -> list[float]:
        candidates = list(candidates)
        if not candidates:
            return []
        return _check_scores(self.evaluator(candidates, list(seeds)), len(candidates))

    def close(self) -> None:
        pass

    def __enter__(self) -> "LocalPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@ray.remote
class EvaluatorActor:
    """Holds one evaluator built from the factory; scores chunks of candidates."""

    def __init__(self, factory: EvaluatorFactory) -> None:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        self.evaluator = factory()

    def evaluate(self, candidates: list[Any], seeds: list[int]) -> list[float]:
        return _check_scores(self.evaluator(candidates, seeds), len(candidates))

    def pid(self) -> int:
        return os.getpid()


class EvaluatorPool:
    """`num_actors` Ray actors, each holding an evaluator built once from ``factory``."""

    def __init__(
        self,
        factory: EvaluatorFactory,
        num_actors: int,
        cpus_per_actor: float = 1.0,
        chunks_per_actor: int = 2,
        max_restarts: int = 8,
        on_chunk: Callable[[int, int], None] | None = None,
        spread: bool = False,
    ) -> None:
        _check_factory(factory)
        if isinstance(num_actors, bool) or not isinstance(num_actors, int) or num_actors < 1:
            raise ValueError(f"num_actors: got {num_actors!r}, expected an integer >= 1 (use LocalPool for 0).")
        if cpus_per_actor < 0:
            raise ValueError(f"cpus_per_actor: got {cpus_per_actor}, expected >= 0.")
        if chunks_per_actor < 1:
            raise ValueError(f"chunks_per_actor: got {chunks_per_actor}, expected >= 1.")
        self.factory = factory
        self.num_actors = num_actors
        self.cpus_per_actor = cpus_per_actor
        self.chunks_per_actor = chunks_per_actor
        self.max_restarts = max_restarts
        #: Called as on_chunk(done, total) after each chunk's result arrives (progress, tests).
        self.on_chunk = on_chunk
        #: Actors replaced so far because they died.
        self.restarts = 0
        #: Place actors on as many nodes as possible (Ray's SPREAD strategy). Off inside a Tune
        #: trial, whose placement group already holds the actors' CPUs.
        self.spread = spread
        #: What went wrong and was recovered from (an actor died, a node was lost), in order.
        self.events: list[str] = []
        self._lost_nodes: set[str] = {node["NodeID"] for node in ray.nodes() if not node["Alive"]}
        self._factory_ref = ray.put(factory)
        self.actors = [self._start() for _ in range(num_actors)]

    def _start(self) -> Any:
        options: dict[str, Any] = {"num_cpus": self.cpus_per_actor}
        if self.spread:
            options["scheduling_strategy"] = "SPREAD"
        return EvaluatorActor.options(**options).remote(self._factory_ref)

    def _chunks(self, count: int) -> list[tuple[int, int]]:
        parts = min(count, self.num_actors * self.chunks_per_actor)
        size = math.ceil(count / parts)
        return [(start, min(start + size, count)) for start in range(0, count, size)]

    def evaluate(self, candidates: Sequence[Any], seeds: Sequence[int] = ()) -> list[float]:
        """Scores in the candidates' order; survives actors dying mid-way by replacing them."""
        candidates = list(candidates)
        if not candidates:
            return []
        seeds = list(seeds)
        seeds_ref = ray.put(seeds)
        chunks = self._chunks(len(candidates))
        pending: dict[Any, tuple[int, int, Any]] = {}  # object ref -> (chunk index, actor slot, actor)

        def submit(index: int, slot: int) -> None:
            start, stop = chunks[index]
            actor = self.actors[slot]
            pending[actor.evaluate.remote(candidates[start:stop], seeds_ref)] = (index, slot, actor)

        for index in range(len(chunks)):
            submit(index, index % self.num_actors)
        results: dict[int, list[float]] = {}
        restarts_here = 0
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            index, slot, actor = pending.pop(ref)
            try:
                results[index] = ray.get(ref)
            except RayActorError:
                restarts_here += 1
                if restarts_here > self.max_restarts:
                    raise RuntimeError(
                        f"evaluation actors died {restarts_here} times during one evaluate(); giving up "
                        f"(max_restarts={self.max_restarts})."
                    ) from None
                if self.actors[slot] is actor:  # not yet replaced for this death
                    self._replace(slot)
                submit(index, slot)
                continue
            if self.on_chunk is not None:
                self.on_chunk(len(results), len(chunks))
        return [score for index in range(len(chunks)) for score in results[index]]

    def _replace(self, slot: int) -> None:
        """Start a new actor from the factory in ``slot``, in place of the one that died."""
        lost = [node["NodeID"] for node in ray.nodes() if not node["Alive"] and node["NodeID"] not in self._lost_nodes]
        self._lost_nodes.update(lost)
        cause = f"node {', '.join(n[:12] for n in lost)} was lost" if lost else "the actor died"
        self.events.append(f"evaluator in slot {slot}: {cause}; replaced and its chunk re-submitted")
        logger.warning("%s", self.events[-1])
        try:
            ray.kill(self.actors[slot])
        except Exception:  # noqa: BLE001 - already gone
            pass
        self.actors[slot] = self._start()
        self.restarts += 1

    def close(self) -> None:
        for actor in self.actors:
            try:
                ray.kill(actor)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.actors = []

    def __enter__(self) -> "EvaluatorPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def make_pool(factory: EvaluatorFactory, num_actors: int, cpus_per_actor: float = 1.0, **kwargs: Any) -> EvaluatorPool | LocalPool:
    """An EvaluatorPool for ``num_actors`` >= 1, a LocalPool for 0."""
    if num_actors == 0:
        return LocalPool(factory)
    return EvaluatorPool(factory, num_actors, cpus_per_actor, **kwargs)
