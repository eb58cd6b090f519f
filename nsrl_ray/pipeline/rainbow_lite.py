"""Rainbow-lite DQN (double, dueling, n-step, prioritised replay, Huber loss) as one RLlib DQNConfig builder."""

from __future__ import annotations

from ray.rllib.algorithms.dqn import DQNConfig


def rainbow_lite_config(
    rllib_env: str, *, seed: int = 0, lr: float = 2.5e-4, train_batch_size: int = 512, n_step: int = 3,
    epsilon_steps: int = 250_000, final_epsilon: float = 0.01, capacity: int = 100_000, learning_starts: int = 10_000,
    target_update: int = 2_000, num_env_runners: int = 0, num_envs_per_env_runner: int = 1,
) -> DQNConfig:
    """IFE's DQN variant: no distributional head, no noisy nets; ε falls linearly from 1 over `epsilon_steps`.

    RLlib's prioritised buffer keeps β fixed (0.45, IFE's start value; IFE anneals it to 1).
    The caller sets the RLModule (a pixel module spec, or an MLP model config).
    """
    return (
        DQNConfig()
        .environment(rllib_env)
        .env_runners(num_env_runners=num_env_runners, num_envs_per_env_runner=num_envs_per_env_runner)
        .learners(num_learners=0)
        .training(
            double_q=True, dueling=True, num_atoms=1, noisy=False, n_step=n_step, lr=lr,
            train_batch_size_per_learner=train_batch_size, td_error_loss_fn="huber",
            epsilon=[(0, 1.0), (epsilon_steps, final_epsilon)],
            replay_buffer_config={"type": "PrioritizedEpisodeReplayBuffer", "capacity": capacity,
                                  "alpha": 0.5, "beta": 0.45},
            num_steps_sampled_before_learning_starts=learning_starts,
            target_network_update_freq=target_update,
        )
        .debugging(seed=seed, log_level="ERROR")
    )
