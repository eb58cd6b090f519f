"""Play episodes of one policy in one environment, optionally recording the teacher's view of each step."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nsrl_ray.envs import make_env

# A batch policy: (batch, n_features) observations -> (batch,) or (batch, dims) actions.
BatchPolicy = Callable[[np.ndarray], np.ndarray]
# The teacher's view: observations -> (logits, greedy actions).
TeacherView = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class EpisodeRecord:
    """One episode; the step arrays are present only when recording was asked for."""

    seed: int
    episode_return: float
    length: int
    agreement: float | None = None  # share of steps where the policy took the teacher's action
    obs: np.ndarray | None = None
    teacher_action: np.ndarray | None = None
    teacher_logits: np.ndarray | None = None


def play_episodes(
    env_name: str,
    seeds: Sequence[int],
    policy: BatchPolicy,
    teacher: TeacherView | None = None,
    record: bool = False,
    epsilon: float = 0.0,
) -> list[EpisodeRecord]:
    """One episode per seed; the env reset and any exploration noise depend on that seed only."""
    env = make_env(env_name)
    discrete = hasattr(env.action_space, "n")
    records = []
    try:
        for seed in seeds:
            rng = np.random.default_rng(seed)
            obs, _ = env.reset(seed=int(seed))
            env.action_space.seed(int(seed))
            total, steps, agree = 0.0, 0, 0
            observations, teacher_actions, teacher_logits = [], [], []
            done = False
            while not done:
                batch = np.asarray(obs, dtype=np.float64)[None, :]
                action = policy(batch)[0]
                if teacher is not None:
                    logits, greedy = teacher(batch)
                    if discrete:
                        agree += int(int(greedy[0]) == int(action))
                    if record:
                        observations.append(batch[0])
                        teacher_actions.append(greedy[0])
                        teacher_logits.append(logits[0])
                if epsilon > 0.0 and rng.random() < epsilon:
                    action = env.action_space.sample()
                env_action = int(action) if discrete else np.asarray(action, dtype=np.float32)
                obs, reward, terminated, truncated, _ = env.step(env_action)
                total += float(reward)
                steps += 1
                done = terminated or truncated
            record_kwargs = {}
            if record and teacher is not None:
                record_kwargs = {
                    "obs": np.asarray(observations),
                    "teacher_action": np.asarray(teacher_actions),
                    "teacher_logits": np.asarray(teacher_logits),
                }
            agreement = agree / steps if teacher is not None and discrete else None
            records.append(EpisodeRecord(int(seed), total, steps, agreement, **record_kwargs))
    finally:
        env.close()
    return records
