"""Make registry environments visible to RLlib EnvRunners under one stable name each."""

from __future__ import annotations

from ray.tune.registry import register_env

from nsrl_ray.envs import get_env_spec, make_env


def _creator(name: str):
    def create(env_config: dict) -> object:
        return make_env(name, **dict(env_config or {}))

    return create


def rllib_env_name(name: str) -> str:
    """Register ``name`` with Ray's registry (idempotent) and return the id RLlib should use."""
    get_env_spec(name)  # unknown names fail here, with the list of known ones
    rllib_name = f"nsrl/{name}"
    register_env(rllib_name, _creator(name))
    return rllib_name
