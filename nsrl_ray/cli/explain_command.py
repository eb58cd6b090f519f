"""`nsrl explain RUN_OR_CARD [--decision EPISODE:STEP] [--llm [local|URL]]`: explanations in words, in Markdown."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
#: Episodes the policy plays for itself when no dataset lies beside the card.
ROLLOUT_EPISODES = 5


class ExplainInputError(ValueError):
    """The target or an option of `nsrl explain` is wrong; the message says how to fix it."""


def add_explain_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from nsrl_ray.config.schema import ExplainSettings

    parser = commands.add_parser(
        "explain", help="explain a policy in words (offline, or through an OpenAI-compatible LLM)",
        description="Write a policy explanation and a decision explanation as Markdown (with LaTeX) beside the policy "
                    "card, each answer checked against the formula. Offline unless --llm is given.",
    )
    parser.add_argument("target", metavar="RUN_OR_CARD",
                        help="a policy.json, its artifacts folder, a trial folder or an experiment folder with one trial")
    parser.add_argument("--decision", metavar="EPISODE:STEP", default=None,
                        help="the decision to explain, from the dataset beside the card (default: the closest call of the first episode)")
    parser.add_argument("--llm", nargs="?", const="env", default=None, metavar="local|URL",
                        help="ask an LLM: alone, the endpoint from OPENAI_BASE_URL / NSRL_LLM_MODEL / OPENAI_API_KEY; "
                             "'local' starts llama.cpp's server with SmolLM2-135M (extra llm-local); or an endpoint URL")
    parser.add_argument("--model", default=None, help="LLM model name (default: NSRL_LLM_MODEL)")
    parser.add_argument("--gguf", default=None, help="with --llm local: a GGUF chat model instead of SmolLM2-135M")
    parser.add_argument("--max-states", type=int, default=ExplainSettings.max_states,
                        help="visited states used to measure the policy (default: %(default)s)")
    parser.add_argument("--no-cache", action="store_true", help="ask the LLM again even when the answer is cached")
    return parser


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def resolve_card(target: str) -> Path:
    """The policy card a RUN_OR_CARD argument names."""
    path = Path(target)
    if path.is_file():
        return path
    if not path.is_dir():
        raise ExplainInputError(f"{target!r} does not exist; give a policy.json or a run folder (nsrl_results/<experiment>/<trial>).")
    for candidate in (path / "policy.json", path / "artifacts" / "policy.json", path / "formulas.json",
                      path / "artifacts" / "formulas.json"):
        if candidate.is_file():
            return candidate
    trials = sorted(path.glob("*/artifacts/policy.json"))
    if len(trials) == 1:
        return trials[0]
    if trials:
        listed = "\n  ".join(str(t.parent.parent) for t in trials)
        raise ExplainInputError(f"{target!r} holds {len(trials)} trials; name one of them:\n  {listed}")
    raise ExplainInputError(f"no policy card (policy.json) in {target!r} or its artifacts/ folder; has the run finished its report stage?")


def _dataset(card, folder: Path) -> tuple[dict[str, np.ndarray], str]:
    from nsrl_ray.pipeline.context import DATASET

    shards = sorted((folder / DATASET).glob("shard_*.npz"))
    if shards:
        # Read here rather than through the collect stage's loader, which imports Ray (seconds).
        parts = [np.load(path) for path in shards]
        data = {key: np.concatenate([p[key] for p in parts]) for key in ("obs", "episode")}
        return data, f"the teacher's dataset in {folder / DATASET}"
    from nsrl_ray.envs import UnknownEnvironmentError
    from nsrl_ray.pipeline.episodes import play_episodes

    policy = card.policy()
    try:
        records = play_episodes(card.env, range(ROLLOUT_EPISODES), policy.act,
                                teacher=lambda batch: (policy.outputs(batch), policy.act(batch)), record=True)
    except UnknownEnvironmentError as error:
        raise ExplainInputError(f"no dataset beside the card and its environment cannot be played: {error}") from None
    obs = np.concatenate([r.obs for r in records])
    episode = np.concatenate([np.full(r.length, i) for i, r in enumerate(records)])
    return {"obs": obs, "episode": episode}, f"{ROLLOUT_EPISODES} episodes of the policy itself (no dataset beside the card)"


def _llm_settings(args: argparse.Namespace):
    from nsrl_ray.config.schema import LLMSettings

    local = args.llm == "local"
    base_url = None if args.llm in ("env", "local") else args.llm
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise ExplainInputError(f"--llm {args.llm!r}: expected 'local', an http(s):// endpoint URL, or nothing.")
    return LLMSettings(base_url=base_url, model=args.model, local=local, gguf=args.gguf,
                       cache_dir="" if args.no_cache else None)


def run_explain_command(args: argparse.Namespace) -> int:
    from nsrl_ray.explain.explainer import explain_offline, parse_decision, prepare, select_decision
    from nsrl_ray.explain.llm_client import LLMError
    from nsrl_ray.explain.offline import explain_policy
    from nsrl_ray.explain.policy_card import PolicyCardError, read_policy_card
    from nsrl_ray.explain.service import LLM_STEM, OFFLINE_STEM, explain_through_llm, write_explanation
    from nsrl_ray.explain.words_markdown import words_markdown

    logging.basicConfig(level=logging.WARNING, format="nsrl explain: %(message)s")
    try:
        if args.max_states <= 0:
            raise ExplainInputError(f"--max-states {args.max_states}: expected a positive number of states.")
        if args.gguf and args.llm != "local":
            raise ExplainInputError("--gguf needs --llm local (it names the model the local server loads).")
        settings = _llm_settings(args) if args.llm is not None else None
        card_path = resolve_card(args.target)
        card = read_policy_card(card_path)
        folder = card_path.parent
        dataset, origin = _dataset(card, folder)
        episode, step = parse_decision(args.decision) if args.decision else (None, None)
        decision = select_decision(card, dataset, episode, step)
        states = dataset["obs"]
        if len(states) > args.max_states:
            rng = np.random.default_rng(0)
            states = states[np.sort(rng.choice(len(states), args.max_states, replace=False))]
        prepared = prepare(card, states, decision)
    except (ExplainInputError, PolicyCardError, ValueError) as error:
        sys.stderr.write(f"nsrl explain: error: {error}\n")
        return EXIT_BAD_INPUT
    _out(f"explaining {card_path} ({card.env}) on {len(states)} states from {origin}")
    if settings is None:
        explanation = explain_offline(prepared)
        stats = explain_policy(card.policy(), states)
        paths = write_explanation(folder, explanation, OFFLINE_STEM, extra=stats)
    else:
        try:
            explanation = explain_through_llm(prepared, settings, server_log=folder / "llama_server.log")
        except LLMError as error:
            sys.stderr.write(f"nsrl explain: error: {error}\n")
            return EXIT_BAD_INPUT if error.bad_input else EXIT_FAILED
        paths = write_explanation(folder, explanation, LLM_STEM)
    text = words_markdown(explanation)
    _out(text.split("\n## Prompts", 1)[0].rstrip())
    _out(f"\nwritten: {paths[0]} and {paths[1]}")
    return EXIT_OK
