"""Fitness of a formula policy = its mean episode return on fixed seeds; an evaluator for the actor pool.

The evaluator plays the k episodes of one candidate in lockstep (one env per seed, the formulas
evaluated once per step on the stacked observations) and gives exactly the returns that
`pipeline.episodes.play_episodes` gives for the same policy and seeds: same env, same
`reset(seed=...)`, same actions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from nsrl_ray.symbolic.expression import Expr
from nsrl_ray.symbolic.formula_policy import FormulaPolicy

__all__ = ["EpisodeReturnEvaluator", "EpisodeReturnFactory", "episode_returns"]


@dataclass(frozen=True)
class EpisodeReturnFactory:
    """Picklable recipe for an evaluator (sent once to each pool actor)."""

    env: str
    variables: tuple[str, ...]
    action_names: tuple[str, ...]
    action_kind: Literal["discrete", "continuous"]
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None

    def __call__(self) -> "EpisodeReturnEvaluator":
        return EpisodeReturnEvaluator(self)

    def policy(self, formulas: Sequence[Expr]) -> FormulaPolicy:
        return FormulaPolicy(
            variables=self.variables, formulas=tuple(formulas), action_names=self.action_names,
            action_kind=self.action_kind, action_low=self.low, action_high=self.high,
        )


class EpisodeReturnEvaluator:
    """Scores candidates (tuples of formulas, one per action) by mean return over the given seeds.

    How a candidate plays is `returns`; a subclass that overrides it (a CEM teacher's weight vectors)
    keeps the envs, the seed check and the NaN rule.
    """

    def __init__(self, factory: EpisodeReturnFactory) -> None:
        self.factory = factory
        self.envs: list[Any] = []

    def __call__(self, candidates: Sequence[Sequence[Expr]], seeds: Sequence[int]) -> list[float]:
        if not seeds:
            raise ValueError("episode fitness needs at least one episode seed.")
        out = []
        for formulas in candidates:
            returns = self.returns(formulas, seeds)
            mean = float(np.mean(returns))
            # A policy whose formulas overflow to NaN actions gets the worst fitness, not NaN.
            out.append(mean if math.isfinite(mean) else -math.inf)
        return out

    def _envs(self, count: int) -> list[Any]:
        from nsrl_ray.envs import make_env

        while len(self.envs) < count:
            self.envs.append(make_env(self.factory.env))
        return self.envs[:count]

    def returns(self, formulas: Sequence[Expr], seeds: Sequence[int]) -> np.ndarray:
        """One return per seed."""
        return episode_returns(self.factory.policy(formulas), self._envs(len(seeds)), seeds)

    def close(self) -> None:
        for env in self.envs:
            env.close()
        self.envs = []


def episode_returns(policy: FormulaPolicy, envs: Sequence[Any], seeds: Sequence[int]) -> np.ndarray:
    """Play one episode per (env, seed) in lockstep; the policy sees all running episodes at once."""
    discrete = policy.action_kind == "discrete"
    observations = [np.asarray(env.reset(seed=int(seed))[0], dtype=np.float64) for env, seed in zip(envs, seeds)]
    totals = np.zeros(len(seeds))
    running = list(range(len(seeds)))
    while running:
        with np.errstate(all="ignore"):
            actions = policy.act(np.stack([observations[i] for i in running]))
        still = []
        for row, i in enumerate(running):
            action = int(actions[row]) if discrete else np.asarray(actions[row], dtype=np.float32)
            obs, reward, terminated, truncated, _ = envs[i].step(action)
            totals[i] += float(reward)
            observations[i] = np.asarray(obs, dtype=np.float64)
            if not (terminated or truncated):
                still.append(i)
        running = still
    return totals
