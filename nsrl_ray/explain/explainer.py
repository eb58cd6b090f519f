"""Policy and decision explanations in words, offline or through an LLM, each checked against the formula."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from nsrl_ray.explain.analysis import DecisionFacts, PolicyFacts, policy_facts
from nsrl_ray.explain.context import ExplainContext, build_context
from nsrl_ray.explain.evidence import decision_evidence
from nsrl_ray.explain.faithfulness import FaithfulnessReport, check_decision_explanation, check_policy_explanation
from nsrl_ray.explain.gradients import FormulaGradients
from nsrl_ray.explain.offline_words import offline_decision_answer, offline_policy_answers
from nsrl_ray.explain.policy_card import PolicyCard
from nsrl_ray.explain.prompts import Conversation, decision_prompt, policy_conversation


@dataclass(frozen=True)
class Exchange:
    """One turn: what was asked, the answer, and how faithful the answer is to the formula."""

    label: str
    """The action the turn analyses, 'summary' or 'decision'."""
    messages: tuple[dict[str, str], ...]
    """The chat messages that ask for this answer (the same whether an LLM or the offline explainer answers)."""
    answer: str
    cached: bool
    faithfulness: FaithfulnessReport


@dataclass(frozen=True)
class Explanation:
    """A policy explanation (one exchange per turn) and optionally one decision explanation."""

    source: str
    """'offline' or the LLM endpoint's label ('model at url')."""
    context: ExplainContext
    facts: PolicyFacts
    policy: tuple[Exchange, ...]
    decision: DecisionFacts | None = None
    decision_exchange: Exchange | None = None

    @property
    def violations(self) -> int:
        exchanges = self.policy + ((self.decision_exchange,) if self.decision_exchange else ())
        return sum(len(e.faithfulness.violations) for e in exchanges)

    def to_dict(self) -> dict[str, Any]:
        def exchange(e: Exchange) -> dict[str, Any]:
            return {"label": e.label, "answer": e.answer, "cached": e.cached,
                    "faithfulness": e.faithfulness.to_dict(), "messages": list(e.messages)}

        data: dict[str, Any] = {
            "source": self.source,
            "env": self.context.env,
            "policy": [exchange(e) for e in self.policy],
            "violations": self.violations,
            "thresholds": [t.__dict__ for t in self.facts.thresholds],
            "importance": self.facts.importance,
            "exact_gradients": self.facts.exact_gradients,
        }
        if self.decision is not None and self.decision_exchange is not None:
            d = self.decision
            data["decision"] = {
                "episode": d.episode, "step": d.step, "action": d.action, "state": d.state, "outputs": d.outputs,
                "probabilities": d.probabilities, "gradients": d.gradients, "attributions": d.attributions,
                "evidence": d.evidence, **exchange(self.decision_exchange),
            }
        return data


#: Answers a conversation: (conversation) -> [(answer, cached)] one per turn, each turn seeing the earlier answers.
Answerer = Callable[[Conversation], list[tuple[str, bool]]]


@dataclass(frozen=True)
class Prepared:
    """Everything both explainers need, computed once."""

    card: PolicyCard
    context: ExplainContext
    facts: PolicyFacts
    decision: DecisionFacts | None


def prepare(
    card: PolicyCard,
    states: np.ndarray,
    decision: tuple[np.ndarray, int | None, int | None] | None = None,
) -> Prepared:
    """The context, the policy's facts over ``states`` and the facts of one decision (state, episode, step)."""
    context = build_context(card)
    policy = card.policy()
    gradients = FormulaGradients(policy)
    facts = policy_facts(policy, states, context.ranges(), gradients)
    facts_of_decision = None
    if decision is not None:
        state, episode, step = decision
        baseline = np.median(np.asarray(states, dtype=np.float64), axis=0)
        facts_of_decision = decision_evidence(card, state, baseline, episode, step, gradients)
    return Prepared(card, context, facts, facts_of_decision)


def _run(prepared: Prepared, source: str, answer_policy: Answerer, answer_decision: Answerer) -> Explanation:
    ctx, facts = prepared.context, prepared.facts
    conversation = policy_conversation(ctx, facts)
    answers = answer_policy(conversation)
    exchanges = []
    for i, (label, (text, cached)) in enumerate(zip(conversation.labels, answers)):
        messages = conversation.messages(tuple(a for a, _ in answers[:i]))
        report = check_policy_explanation(text, facts, conversation.turns[0], None if label == "summary" else label)
        exchanges.append(Exchange(label, tuple(messages), text, cached, report))
    decision_exchange = None
    if prepared.decision is not None:
        asked = decision_prompt(ctx, prepared.decision, facts)
        ((text, cached),) = answer_decision(asked)
        report = check_decision_explanation(text, prepared.decision, facts, asked.turns[0])
        decision_exchange = Exchange("decision", tuple(asked.messages()), text, cached, report)
    return Explanation(source, ctx, facts, tuple(exchanges), prepared.decision, decision_exchange)


def explain_offline(prepared: Prepared) -> Explanation:
    """Both explanations written from the formulas (no network)."""
    ctx, facts = prepared.context, prepared.facts

    def policy_answers(conversation: Conversation) -> list[tuple[str, bool]]:
        return [(a, False) for a in offline_policy_answers(ctx, facts, conversation)]

    def decision_answer(conversation: Conversation) -> list[tuple[str, bool]]:
        assert prepared.decision is not None
        return [(offline_decision_answer(ctx, prepared.decision), False)]

    return _run(prepared, "offline", policy_answers, decision_answer)


def explain_with_llm(prepared: Prepared, client: Any) -> Explanation:
    """Both explanations from an LLM (an `LLMClient`): the policy conversation turn by turn, then the decision."""

    def answers(conversation: Conversation) -> list[tuple[str, bool]]:
        got: list[tuple[str, bool]] = []
        for _ in conversation.turns:
            reply = client.complete(conversation.messages(tuple(a for a, _ in got)))
            got.append((reply.text, reply.cached))
        return got

    return _run(prepared, client.endpoint.label, answers, answers)


# ----------------------------------------------------------------------------- choosing a decision


def parse_decision(text: str) -> tuple[int, int]:
    """'EPISODE:STEP' -> (episode, step), both >= 0."""
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        episode, step = int(parts[0]), int(parts[1])
    except ValueError:
        raise ValueError(f"--decision {text!r}: expected EPISODE:STEP with two integers, e.g. 0:25.") from None
    if episode < 0 or step < 0:
        raise ValueError(f"--decision {text!r}: episode and step must be >= 0.")
    return episode, step


def select_decision(
    card: PolicyCard, dataset: Mapping[str, np.ndarray], episode: int | None = None, step: int | None = None
) -> tuple[np.ndarray, int, int]:
    """The state at (episode, step) of a dataset; without them, the closest call of the first episode.

    The closest call is the step where the policy is least sure (smallest gap between its two
    most probable actions; continuous: the output nearest zero): the most informative decision.
    """
    obs, episodes = np.asarray(dataset["obs"]), np.asarray(dataset["episode"])
    known = np.unique(episodes)
    if episode is None:
        episode = int(known[0])
    if episode not in known:
        raise ValueError(f"episode {episode} is not in the dataset; it holds episodes {int(known[0])}..{int(known[-1])}.")
    rows = np.nonzero(episodes == episode)[0]
    if step is not None:
        if step >= len(rows):
            raise ValueError(f"episode {episode} has {len(rows)} steps (0..{len(rows) - 1}); step {step} does not exist.")
        return obs[rows[step]], episode, step
    policy = card.policy()
    if policy.action_kind == "discrete":
        probs = np.sort(policy.probabilities(obs[rows]), axis=1)
        margin = probs[:, -1] - (probs[:, -2] if probs.shape[1] > 1 else 0.0)
    else:
        margin = np.abs(policy.outputs(obs[rows])[:, 0])
    step = int(np.argmin(margin))
    return obs[rows[step]], episode, step
