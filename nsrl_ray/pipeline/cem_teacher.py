"""Teacher `algorithm: CEM`: the cross-entropy method over an RLlib policy network's weights, on the return.

Gradient RL needs to see a reward before it can follow it. On MountainCar every step before the
flag pays the same -1, and PPO (900k steps) and DQN (150k steps) never reached the flag here; on
MountainCarContinuous the action cost teaches PPO to stand still. A search over whole policies
scored by their return does not need that first lucky episode to be learnt from: among 32 random
small networks some already pump energy into the car, and the elites pull the search towards them
(kanrl's experts for these envs came from a zoo; this is how we make ours).

The network is exactly the PPO teacher's RLModule (the same MLP, observation scaling and action
normalisation), so the saved module is read by the collect, evaluate and explain stages like any
other teacher. Only the weights that the policy's output depends on are searched (the value head's
are left as initialised). Candidates go to a pool of Ray actors in chunks; each actor loads the
initial module once and plays a candidate's episodes in lockstep.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nsrl_ray.pipeline.context import TEACHER_MODULE, StageContext
from nsrl_ray.pipeline.seeding import episode_seeds, stage_seed
from nsrl_ray.search.episode_fitness import EpisodeReturnEvaluator, episode_returns

__all__ = ["ModuleReturnFactory", "policy_parameters", "run_cem_teacher"]

#: The untrained network the search starts from, saved so that every actor builds the same module.
CEM_START_MODULE = "teacher_cem_start"


def policy_parameters(module: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters the greedy action depends on: all but the critic's (RLlib names them critic_encoder, vf)."""
    return [p for name, p in module.named_parameters() if "critic_encoder" not in name and not name.startswith("vf.")]


def get_vector(module: torch.nn.Module) -> np.ndarray:
    return torch.nn.utils.parameters_to_vector(policy_parameters(module)).detach().cpu().numpy().astype(np.float64)


def set_vector(module: torch.nn.Module, vector: np.ndarray) -> None:
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(torch.as_tensor(vector, dtype=torch.float32), policy_parameters(module))


@dataclass(frozen=True)
class ModuleReturnFactory:
    """Picklable recipe of an evaluator that scores weight vectors of a saved module by their mean return."""

    env: str
    module_path: str
    action_kind: str
    action_bounds: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    def __call__(self) -> "ModuleReturnEvaluator":
        return ModuleReturnEvaluator(self)


class ModuleReturnEvaluator(EpisodeReturnEvaluator):
    """Loads the module once; a candidate's policy weights are set in it before its episodes are played."""

    def __init__(self, factory: ModuleReturnFactory) -> None:
        from nsrl_ray.pipeline.teacher_policy import TeacherPolicy

        super().__init__(factory)  # type: ignore[arg-type] - only its `env` is read, to make the envs
        self.policy = TeacherPolicy(factory.module_path, factory.action_kind, factory.action_bounds)

    def returns(self, vector: np.ndarray, seeds: Sequence[int]) -> np.ndarray:  # type: ignore[override]
        set_vector(self.policy.module, np.asarray(vector))
        return episode_returns(self.policy, self._envs(len(seeds)), seeds)


def run_cem_teacher(ctx: StageContext) -> dict:
    """Search the teacher network's weights until stop_return or max_iterations; save the best as the module."""
    from nsrl_ray.envs import get_env_spec, make_env
    from nsrl_ray.pipeline.stages.teacher import build_ppo_config
    from nsrl_ray.pipeline.teacher_units import teacher_action_bounds
    from nsrl_ray.search.constants_cem import cem_constants
    from nsrl_ray.search.pool import make_pool

    settings = ctx.config.stages.teacher
    assert settings is not None  # the trial runs only enabled stages
    cem = settings.cem
    spec = get_env_spec(ctx.config.env)
    target = settings.stop_return if settings.stop_return is not None else spec.solved_return
    seed = stage_seed(ctx.seed, "teacher")
    torch.manual_seed(seed)  # RLlib's initial weights, the search's mean at the start
    probe = make_env(ctx.config.env)
    module = build_ppo_config(ctx.config.env, settings, seed, 1.0).get_rl_module_spec(env=probe).build()
    probe.close()
    start_path = ctx.path(CEM_START_MODULE)
    module.save_to_path(str(start_path))
    factory = ModuleReturnFactory(ctx.config.env, str(start_path), spec.action_kind, teacher_action_bounds(ctx))
    # Fresh episode seeds on every call: a policy tuned to ten fixed starts is not a teacher.
    seeds = episode_seeds(ctx.seed, "teacher", (settings.max_iterations + 1) * cem.episodes)
    blocks = iter([seeds[i:i + cem.episodes] for i in range(0, len(seeds), cem.episodes)])  # the start, then one per iteration

    def score(vectors: Sequence[np.ndarray]) -> list[float]:
        return pool.evaluate(list(vectors), next(blocks))

    started = time.perf_counter()

    def on_iteration(iteration: int, row: dict[str, float], best: np.ndarray) -> None:
        ctx.report("teacher", {
            "return_mean": row["population_mean"], "population_best": row["population_best"],
            "best_return": row["best_fitness"], "episodes": int(row["evaluations"]) * cem.episodes,
            "iteration": iteration, "max_iterations": settings.max_iterations,
            "time_s": time.perf_counter() - started,
        })

    start = get_vector(module)
    pool = make_pool(factory, settings.num_env_runners, ctx.config.resources.cpus_per_actor)
    try:
        result = cem_constants(
            start, score, rng=np.random.default_rng(seed), iterations=settings.max_iterations,
            population=cem.population, elite_fraction=cem.elite_fraction,
            initial_std=np.full(start.size, cem.sigma), on_iteration=on_iteration, target=target,
            rescore_best=True,
        )
    finally:
        pool.close()
        shutil.rmtree(start_path, ignore_errors=True)  # only the actors needed it; checkpoints stay small
    set_vector(module, result.best)
    module_path = ctx.path(TEACHER_MODULE)
    module.save_to_path(str(module_path))
    return {"return_mean": result.best_fitness, "time_s": time.perf_counter() - started, "module": str(module_path),
            "episodes": result.evaluations * cem.episodes, "searched_weights": int(result.best.size)}
