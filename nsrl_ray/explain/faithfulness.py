"""Check an explanation in words against the formula it explains: names, numbers and directions.

Three checks, each listing its violations:
- every variable-like name must be a variable of the policy (or an action, or a word of the prompt);
- every number must equal a number of the formulas, the state, the prompt, or a quantity derived
  from them (expanded coefficients, gradients, probabilities, thresholds), within the rounding of
  the digits quoted (sign ignored: "lowers it by 0.5" quotes a gradient of -0.5);
- every claimed direction ("raising `x` makes `a` more likely", "`x` has a positive coefficient
  in `a`'s logit", "`x` favours `a` over `b`") must agree with the sign of the gradient.
Claims the parser cannot read are not judged: the check can miss errors, it does not invent them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from nsrl_ray.explain.analysis import DecisionFacts, PolicyFacts

#: Words that look like variable names but are the vocabulary of explanations.
GENERIC_NAMES = frozenset({
    "log_prob", "log_probs", "log_p", "log_pi", "log_likelihood", "log_probability", "log_softmax",
    "logit_a", "logit_b", "p_a", "p_b",
})

#: Prefixes of notation built on a real name (`logit_push_right`, `p_push_left`, `grad_pole_angle`).
_MATH_PREFIXES = frozenset({"logit", "p", "prob", "pi", "f", "grad", "gradient", "d", "delta", "dlogp", "w", "coef", "x",
                            "log", "l", "z", "s"})

_NAME = re.compile(r"(?<![\w\\])([A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+)(?![\w])")
_BACKTICKED = re.compile(r"`([^`\s]+)`")
# A number, optionally in LaTeX or e-notation scientific form, optionally a percentage.
_NUMBER = re.compile(
    r"(?<![\w.^{}])(?P<sign>[-+−]?)(?P<mant>\d+(?:\.\d+)?|\.\d+)"
    r"(?:(?:[eE](?P<exp>[-+]?\d+))|(?:\s*(?:\\cdot|\\times|×|\*)\s*10\^\{?(?P<texp>[-+−]?\d+)\}?))?"
    r"(?P<pct>\s*(?:\\?%|percent))?"
)
_LIST_MARKER = re.compile(r"^\s*\d+[.)]\s", re.MULTILINE)
_CLAUSE_SPLIT = re.compile(r"[;!?]|[.:](?!\d)|\n|,\s*(?:and|while|whereas|but)\b|\bwhile\b|\bwhereas\b")

_POSITIVE = re.compile(
    r"more likely|raises?|raising|increases?|increasing|higher|larger|favou?rs?|favou?ring|pushes (?:it |the policy )?towards|"
    r"encourages?|positive(?:ly)?|boosts?|in favou?r of|promotes?|grows?"
)
_NEGATIVE = re.compile(
    r"less likely|lowers?|lowering|decreases?|decreasing|reduces?|reducing|smaller|discourages?|negative(?:ly)?|"
    r"suppress(?:es)?|against|penali[sz]es?|drops?|falls?"
)
_NEGATION = re.compile(r"\b(?:not|no|never|n't|neither|nor|without)\b[^`]{0,20}$")
_LOGIT_WORDS = re.compile(r"logit|coefficient|formula|\bterm\b|slope|weight|score")
_CONDITION = re.compile(r"\b(?:as|when|if|once|whenever)\s*$")
_VALUE_TALK = re.compile(r"^\s*`?\s*(?:=|is\s+[-+]?\d|of\s+[-+]?\d|\(?\s*value)|\bvalue\b|\bbeing\b")


@dataclass(frozen=True)
class Violation:
    """One statement that disagrees with the formula."""

    kind: str
    """'unknown_variable', 'number' or 'direction'."""
    text: str
    """The offending excerpt."""
    detail: str


@dataclass(frozen=True)
class FaithfulnessReport:
    """What was checked in one explanation and what disagreed with the formula."""

    names_checked: int
    numbers_checked: int
    claims_checked: int
    violations: tuple[Violation, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "names_checked": self.names_checked,
            "numbers_checked": self.numbers_checked,
            "claims_checked": self.claims_checked,
            "violations": [{"kind": v.kind, "text": v.text, "detail": v.detail} for v in self.violations],
        }


def _plain(text: str) -> str:
    """Markdown/LaTeX noise out: \\_ -> _, \\mathit{x} -> x, \\text{x} -> x, unicode minus -> '-'."""
    text = text.replace("\\_", "_").replace("−", "-")
    return re.sub(r"\\(?:mathit|mathrm|text|texttt|operatorname)\{([^{}]*)\}", r"\1", text)


# ----------------------------------------------------------------------------- names


def _names(text: str) -> list[str]:
    found = [m.group(1) for m in _NAME.finditer(text)]
    found += [m.group(1) for m in _BACKTICKED.finditer(text) if m.group(1).isidentifier()]
    return found


def _check_names(text: str, known: set[str], allowed: set[str]) -> tuple[int, list[Violation]]:
    violations, seen, checked = [], set(), 0
    for name in _names(text):
        if name in seen:
            continue
        seen.add(name)
        checked += 1
        if name in known or name in allowed or name.lower() in GENERIC_NAMES:
            continue
        prefix, _, rest = name.partition("_")
        if prefix.lower() in _MATH_PREFIXES and (rest in known or rest in allowed):
            continue  # logit_push_right, grad_pole_angle: notation built on a real name
        in_backticks = f"`{name}`" in text
        if not in_backticks and min(len(part) for part in name.split("_")) < 2:
            continue  # `p_a`-style math shorthand, not a variable claim
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        violations.append(Violation("unknown_variable", name, f"`{name}` is not a variable of this policy{hint}"))
    return checked, violations


# ----------------------------------------------------------------------------- numbers


@dataclass(frozen=True)
class _Quoted:
    value: float
    tolerance: float
    text: str
    percent: bool


def _quoted_numbers(text: str) -> list[_Quoted]:
    text = _LIST_MARKER.sub(" ", text)
    found = []
    for m in _NUMBER.finditer(text):
        mantissa = m.group("mant")
        exponent = int((m.group("exp") or m.group("texp") or "0").replace("−", "-"))
        if "." in mantissa:
            last = -len(mantissa.split(".")[1])
        else:
            digits = mantissa.lstrip("0") or "0"
            last = len(digits) - len(digits.rstrip("0")) if digits != "0" else 0
        value = float(mantissa) * 10.0**exponent
        tolerance = 0.5 * 10.0 ** (last + exponent)
        found.append(_Quoted(value, tolerance, m.group(0).strip(), bool(m.group("pct"))))
    return found


def _matches(quoted: _Quoted, references: Iterable[float]) -> bool:
    candidates = [quoted.value]
    tolerance = quoted.tolerance
    if quoted.percent:
        candidates = [quoted.value / 100.0]
        tolerance = quoted.tolerance / 100.0
    for value in candidates:
        for ref in references:
            if abs(abs(value) - abs(ref)) <= tolerance * (1 + 1e-9) + 1e-12 * abs(ref):
                return True
    return False


def _check_numbers(text: str, references: list[float]) -> tuple[int, list[Violation]]:
    violations, checked = [], 0
    for quoted in _quoted_numbers(text):
        checked += 1
        if not _matches(quoted, references):
            violations.append(Violation(
                "number", quoted.text,
                f"{quoted.text} matches no number of the formulas, the state or the prompt within the rounding of its digits",
            ))
    return checked, violations


def _numbers_in(text: str) -> list[float]:
    return [q.value for q in _quoted_numbers(text)]


# ----------------------------------------------------------------------------- directions


@dataclass(frozen=True)
class _Claim:
    variable: str
    action: str
    other: str | None
    """Set for 'favours action over other'."""
    sign: int
    logit: bool
    text: str
    contribution: bool = False
    """A claim about the sign of value × slope at a state ("x = -0.2 lowers the logit"), not about raising x."""


def _mentions(clause: str, names: Iterable[str]) -> list[tuple[int, int, str]]:
    spans = []
    for name in names:
        for m in re.finditer(rf"(?<![\w]){re.escape(name)}(?![\w])", clause):
            spans.append((m.start(), m.end(), name))
    return sorted(spans)


def _polarity(fragment: str) -> tuple[int, int] | None:
    """(sign, position) of the first direction word in ``fragment`` that is not negated."""
    hits = [(m.start(), 1, m) for m in _POSITIVE.finditer(fragment)] + [(m.start(), -1, m) for m in _NEGATIVE.finditer(fragment)]
    for start, sign, m in sorted(hits, key=lambda h: h[0]):
        if _NEGATION.search(fragment[:start]):
            return None
        return sign, m.end()
    return None


def _mask(clause: str, spans: list[tuple[int, int, str]]) -> str:
    """The clause with names blanked (same length), so `positive_torque` is not read as 'positive'."""
    for start, end, _ in spans:
        clause = clause[:start] + "§" * (end - start) + clause[end:]
    return clause


def _claims(text: str, variables: tuple[str, ...], actions: tuple[str, ...], default_action: str | None) -> list[_Claim]:
    claims = []
    for original in _CLAUSE_SPLIT.split(_plain(text)):
        clause = original
        vars_here = _mentions(clause, variables)
        if len({v for _, _, v in vars_here}) != 1:
            continue  # none, or several variables in one clause: too ambiguous to judge
        start, end, variable = vars_here[0]
        acts = _mentions(clause, actions)
        logit = bool(_LOGIT_WORDS.search(_mask(clause, vars_here + acts).lower()))
        favour = re.search(r"favou?rs?\s+`?(\w+)`?\s+over\s+`?(\w+)`?", clause)
        if favour and favour.group(1) in actions and favour.group(2) in actions:
            before = clause[:start].lower()
            premise = -1 if re.search(r"(?:decreas|lower|reduc|smaller)\w*\s*`?$", before) else 1
            claims.append(_Claim(variable, favour.group(1), favour.group(2), premise, False, original.strip()))
            continue
        names = {a for _, _, a in acts}
        if len(names) > 1:
            continue
        action = names.pop() if names else default_action
        if action is None:
            continue
        lower = _mask(clause, vars_here + acts).lower()
        # The premise: "raising x" / "a larger x" (+) or "lowering x" / "as x decreases" (-).
        premise, effect_from = 1, end
        before = lower[:start]
        if re.search(r"(?:decreas|lower|reduc|smaller|drop|fall)\w*\s*(?:in\s+|of\s+)?(?:the\s+)?`?$", before):
            premise = -1
            before = before[: re.search(r"(?:decreas|lower|reduc|smaller|drop|fall)\w*\s*(?:in\s+|of\s+)?(?:the\s+)?`?$", before).start()]
        elif re.search(r"(?:rais|increas|larger|higher|grow)\w*\s*(?:in\s+|of\s+)?(?:the\s+)?`?$", before):
            before = before[: re.search(r"(?:rais|increas|larger|higher|grow)\w*\s*(?:in\s+|of\s+)?(?:the\s+)?`?$", before).start()]
        after = lower[end:]
        if _CONDITION.search(lower[:start].rstrip("` ")):
            # "as x increases, ..." / "when x decreases": the verb right after x is the premise.
            verb = re.match(r"`?\s*(?:is\s+|gets\s+|becomes\s+)?(increas\w*|ris\w*|grow\w*|larger|higher|positive|decreas\w*|fall\w*|drop\w*|smaller|lower|negative)", after)
            if verb:
                premise = 1 if re.match(r"increas|ris|grow|larger|higher|positive", verb.group(1)) else -1
                effect_from = end + verb.end()
        polarity = _polarity(lower[effect_from:])
        contribution = False
        if polarity is not None:
            # "x = -0.02 lowers the logit" / "its negative value lowers it": the sign of x's contribution
            # (value × slope) at a state, not the effect of raising x.
            contribution = bool(_VALUE_TALK.search(lower[effect_from: effect_from + polarity[1]]))
        else:
            polarity = _polarity(_CONDITION.sub("", before.rstrip("` ")))  # "`a` becomes more likely when x ..."
        if polarity is None:
            continue
        claims.append(_Claim(variable, action, None, premise * polarity[0], logit, original.strip(), contribution))
    return claims


def _direction_violations(claims: list[_Claim], truth) -> tuple[int, list[Violation]]:
    violations, checked = [], 0
    for claim in claims:
        actual, what = truth(claim)
        if actual is None:
            continue  # the sign depends on the state: not judged
        checked += 1
        if actual != claim.sign:
            said = "raises" if claim.sign > 0 else "lowers"
            real = {1: "raises", -1: "lowers", 0: "does not change"}[actual]
            violations.append(Violation(
                "direction", claim.text,
                f"says raising `{claim.variable}` {said} {what}, but by the gradient it {real} it",
            ))
    return checked, violations


# ----------------------------------------------------------------------------- entry points


def _report(text: str, known: set[str], allowed: set[str], references: list[float],
            claims: list[_Claim], truth) -> FaithfulnessReport:
    plain = _plain(text)
    names_checked, name_violations = _check_names(plain, known, allowed)
    numbers_checked, number_violations = _check_numbers(plain, references)
    claims_checked, direction_violations = _direction_violations(claims, truth)
    return FaithfulnessReport(
        names_checked, numbers_checked, claims_checked,
        tuple(name_violations + number_violations + direction_violations),
    )


def _allowed(prompt: str, actions: tuple[str, ...]) -> set[str]:
    return set(actions) | set(_names(_plain(prompt)))


def _small_integers(facts: PolicyFacts) -> list[float]:
    return [float(i) for i in range(max(len(facts.actions), len(facts.variables)) + 1)]


def check_policy_explanation(
    text: str, facts: PolicyFacts, prompt: str = "", action: str | None = None
) -> FaithfulnessReport:
    """Check one answer of the policy conversation; ``action`` is the action the turn asked about."""
    references = list(facts.numbers()) + _numbers_in(prompt) + _small_integers(facts)
    claims = _claims(text, facts.variables, facts.actions, action)

    def truth(claim: _Claim) -> tuple[int | None, str]:
        if claim.contribution:
            return None, ""  # the sign of a contribution depends on the state: judged only for decisions
        if claim.variable not in facts.used:
            return 0, f"`{claim.action}`"
        if claim.other is not None:
            return facts.pair_signs[(claim.variable, claim.action, claim.other)], f"`{claim.action}` over `{claim.other}`"
        effect = facts.effect(claim.variable, claim.action)
        if claim.logit or facts.action_kind != "discrete":
            return effect.output_sign, f"the value of `{claim.action}`'s formula"
        return effect.sign, f"the probability of `{claim.action}`"

    return _report(text, set(facts.variables), _allowed(prompt, facts.actions), references, claims, truth)


def check_decision_explanation(
    text: str, decision: DecisionFacts, facts: PolicyFacts, prompt: str = ""
) -> FaithfulnessReport:
    """Check a decision explanation against the gradients at the decision's state."""
    references = list(decision.numbers()) + list(facts.formula_numbers()) + _numbers_in(prompt) + _small_integers(facts)
    claims = _claims(text, facts.variables, facts.actions, decision.action)

    def sign(value: float) -> int:
        return 0 if abs(value) <= 1e-12 else (1 if value > 0 else -1)

    def truth(claim: _Claim) -> tuple[int | None, str]:
        slopes = decision.output_gradients
        value = decision.state[claim.variable]
        if claim.contribution:
            slope = slopes[claim.action][claim.variable] if claim.logit or not decision.probabilities else (
                decision.gradients[claim.variable] if claim.action == decision.action else None)
            if slope is None:
                return None, ""
            # Reported in the raising-x vocabulary: a contribution claim "lowers" is judged as sign(value × slope).
            return sign(value * slope), f"`{claim.action}` through its value {value:.3g} at this state"
        if claim.other is not None:
            return sign(slopes[claim.action][claim.variable] - slopes[claim.other][claim.variable]), (
                f"`{claim.action}` over `{claim.other}` at this state")
        if claim.logit or not decision.probabilities:
            return sign(slopes[claim.action][claim.variable]), f"the value of `{claim.action}`'s formula at this state"
        if claim.action != decision.action:
            # d log p_b for another action b at this state: slope_b - sum_c p_c slope_c.
            mean = sum(decision.probabilities[a] * slopes[a][claim.variable] for a in slopes)
            return sign(slopes[claim.action][claim.variable] - mean), f"the probability of `{claim.action}` at this state"
        return sign(decision.gradients[claim.variable]), f"the probability of `{claim.action}` at this state"

    return _report(text, set(facts.variables), _allowed(prompt, facts.actions), references, claims, truth)


def format_report(report: FaithfulnessReport) -> str:
    """Markdown lines: the counts, then each violation."""
    head = (f"Faithfulness: {'no violations' if report.ok else f'{len(report.violations)} violation(s)'} "
            f"({report.names_checked} names, {report.numbers_checked} numbers, {report.claims_checked} directions checked).")
    lines = [head]
    for v in report.violations:
        excerpt = v.text if len(v.text) <= 120 else v.text[:117] + "..."
        lines.append(f"- **{v.kind}**: {v.detail} — “{excerpt}”")
    return "\n".join(lines)
