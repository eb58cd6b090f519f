"""Karel DSL: tokens, parser and printer, refusal of invalid text, syntax mask, interpreter budget, sampler, mutation."""

from __future__ import annotations

import collections
import random

import numpy as np
import pytest

from nsrl_ray.envs.karel import KarelWorld
from nsrl_ray.envs.karel.world import ACTION_METHODS, ACTIONS, PERCEPTION_METHODS, PERCEPTIONS
from nsrl_ray.symbolic.karel.interpreter import CompiledProgram, execute
from nsrl_ray.symbolic.karel.program import (
    END_ID,
    TOKENS,
    Action,
    Condition,
    If,
    IfElse,
    Program,
    Repeat,
    While,
    longest_block,
    nesting_depth,
    to_display,
    to_ids,
    to_text,
    token_count,
)
from nsrl_ray.symbolic.karel.sampler import Mutator, ProgramLimits, ProgramSampler, mutation_sites
from nsrl_ray.symbolic.karel.syntax import (
    KarelSyntaxError,
    allowed_next,
    parse_ids,
    parse_program,
    token_mask,
)

HARVESTER = (
    "DEF run m( WHILE c( markersPresent c) w( WHILE c( markersPresent c) w( pickMarker move w) turnRight move "
    "turnLeft WHILE c( markersPresent c) w( pickMarker move w) turnLeft move turnRight w) m)"
)


def sampled_programs(count: int, seed: int = 0) -> list[Program]:
    rng = random.Random(seed)
    sampler = ProgramSampler()
    return [sampler.program(rng) for _ in range(count)]


def test_leaps_vocabulary_ids() -> None:
    assert len(TOKENS) == 50 and END_ID == 50
    assert (TOKENS[0], TOKENS[4], TOKENS[5], TOKENS[6], TOKENS[11], TOKENS[30], TOKENS[31], TOKENS[46], TOKENS[49]) == (
        "DEF", "move", "turnRight", "turnLeft", "R=0", "R=19", "REPEAT", "not", "WHILE"
    )


def test_round_trip_is_identity_on_sampled_programs() -> None:
    for program in sampled_programs(600):
        text = to_text(program)
        assert parse_program(text) == program
        assert to_text(parse_program(text)) == text
        assert parse_ids(to_ids(program) + [END_ID, END_ID]) == program


def test_parse_builds_the_expected_tree_and_normalises_whitespace() -> None:
    program = parse_program(
        "DEF  run m(\n IFELSE c( not c( frontIsClear c) c) i( REPEAT R=3 r( move r) i) ELSE e( putMarker e) turnLeft m)"
    )
    assert program == Program((
        IfElse(Condition("frontIsClear", True), (Repeat(3, (Action("move"),)),), (Action("putMarker"),)),
        Action("turnLeft"),
    ))
    assert to_text(program).startswith("DEF run m( IFELSE c( not c( frontIsClear c) c) i(")
    assert "repeat 3:" in to_display(program)


@pytest.mark.parametrize(
    "text, position, offset, expected, got",
    [
        ("DEF run m( move", 4, 15, "m)", None),
        ("DEF run m( m)", 3, 11, "move", "m)"),
        ("DEF run m( WHILE c( frontIsClear c) w( m)", 8, 39, "WHILE", "m)"),
        ("DEF run m( REPEAT R=20 r( move r) m)", 4, 18, "R=19", "R=20"),
        ("DEF run m( IF c( not c( not c( frontIsClear c) c) c) i( move i) m)", 7, 24, "markersPresent", "not"),
        ("DEF run m( move m) move", 5, 19, "<end>", "move"),
        ("def run m( move m)", 0, 0, "DEF", "def"),
        ("DEF run m( IFELSE c( frontIsClear c) i( move i) e( move e) m)", 10, 48, "ELSE", "e("),
        ("", 0, 0, "DEF", None),
    ],
)
def test_invalid_text_is_refused_with_position_and_expected_token(text, position, offset, expected, got) -> None:
    with pytest.raises(KarelSyntaxError) as info:
        parse_program(text)
    error = info.value
    assert (error.position, error.offset, error.got) == (position, offset, got)
    assert expected in error.expected
    assert f"token {position}" in str(error) or f"after {position} tokens" in str(error)
    assert isinstance(error, ValueError)


def test_parse_refuses_non_text() -> None:
    with pytest.raises(TypeError, match="expected a string"):
        parse_program(None)  # type: ignore[arg-type]


def test_mask_lists_the_tokens_that_may_follow() -> None:
    assert allowed_next([]) == {"DEF"}
    after_block_start = allowed_next("DEF run m(".split())
    assert after_block_start == {*ACTIONS, "WHILE", "REPEAT", "IF", "IFELSE"}
    assert allowed_next("DEF run m( move".split()) == after_block_start | {"m)"}
    assert allowed_next("DEF run m( IF c(".split()) == {*PERCEPTIONS, "not"}
    assert allowed_next("DEF run m( IF c( not c(".split()) == set(PERCEPTIONS)
    assert allowed_next("DEF run m( REPEAT".split()) == {f"R={k}" for k in range(20)}
    assert allowed_next("DEF run m( move m)".split()) == {"<end>"}
    # With a length limit, only tokens after which the program can still be closed in time.
    assert allowed_next("DEF run m( move".split(), max_tokens=5) == {"m)"}
    assert "IFELSE" in allowed_next("DEF run m(".split(), max_tokens=15)
    assert "IFELSE" not in allowed_next("DEF run m(".split(), max_tokens=14)  # its shortest program has 15 tokens
    with pytest.raises(ValueError, match="prefix token 1"):
        allowed_next(["DEF", "m("])


def test_masked_random_decoding_always_gives_a_valid_program_within_the_limit() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        ids: list[int] = []
        while True:
            mask = token_mask(ids, max_tokens=30)
            choice = int(rng.choice(np.flatnonzero(mask)))
            if choice == END_ID:
                break
            ids.append(choice)
        program = parse_ids(ids)
        assert token_count(program) == len(ids) <= 30


# ------------------------------------------------------------------------------- the budget oracle
class _Abort(Exception):
    pass


def _oracle(program: Program, world: KarelWorld, limit: int) -> int:
    """A literal rendering of LEAPS's node functions (karel.md §3.1): left-nested binary sequences,
    a wrapper around every statement, every node checking n > limit on entry. Returns the counter."""

    def check(n: int) -> None:
        if n > limit:
            raise _Abort(n)

    def cond(c: Condition, n: int) -> bool:
        check(n)  # the cond node
        check(n)  # cond_without_not (and `not`) check the same count
        value = PERCEPTION_METHODS[PERCEPTIONS.index(c.perception)](world)
        return (not value) if c.negated else value

    def stmt(node, n: int) -> int:  # the statement wrapper
        check(n)
        return inner(node, n + 1)

    def inner(node, n: int) -> int:
        if isinstance(node, tuple):  # a sequence node (s1 s2) with s1 possibly a sequence itself
            check(n)
            n = stmt(node[0], n + 1)
            check(n)
            return stmt(node[1], n)
        if isinstance(node, Action):
            check(n)
            ACTION_METHODS[ACTIONS.index(node.name)](world)
            return n
        if isinstance(node, Repeat):
            check(n)
            n += 1
            for _ in range(node.count):
                n = stmt(seq(node.body), n)
            return n
        check(n)
        value = cond(node.cond, n + 1)
        n += 1
        if isinstance(node, While):
            while value:
                n = stmt(seq(node.body), n)
                value = cond(node.cond, n)
            return n
        if isinstance(node, If):
            return stmt(seq(node.body), n) if value else n
        return stmt(seq(node.body), n) if value else stmt(seq(node.orelse), n)

    def seq(block):
        tree = block[0]
        for s in block[1:]:
            tree = (tree, s)  # left-associative, as LEAPS's shift-reduce parser builds it
        return tree

    try:
        check(0)
        return stmt(seq(program.body), 1)
    except _Abort as abort:
        return -abort.args[0]


@pytest.mark.parametrize("limit", [7, 25, 60, 220])
def test_interpreter_budget_matches_a_literal_leaps_oracle(limit: int) -> None:
    base = KarelWorld.from_text("""
        #######
        #1.2..#
        #..#1.#
        #>....#
        #######
    """)
    for program in sampled_programs(300, seed=limit):
        ours, theirs = base.copy(), base.copy()
        result = CompiledProgram(program, limit).run(ours)
        calls = _oracle(program, theirs, limit)
        assert ours.steps == theirs.steps, to_text(program)
        assert ours.agent == theirs.agent and ours.markers == theirs.markers
        assert (result.stop == "budget") == (calls < 0)
        if calls >= 0:
            assert result.calls == calls


def test_nested_repeat_stops_exactly_at_the_budget() -> None:
    # root 1; outer REPEAT +2 -> 3; each inner REPEAT +2 and 19 actions +1 each -> 3 + 21k after k rounds;
    # round 11 starts at 213, its REPEAT takes 215 and five more turns reach 220; the sixth would be 221.
    program = parse_program("DEF run m( REPEAT R=19 r( REPEAT R=19 r( turnLeft r) r) m)")
    result, trace = execute(program, KarelWorld.from_text(">"), trace=True)
    assert (result.steps, result.stop) == (10 * 19 + 5, "budget")
    assert len(trace) == 195 and trace[0] == ("turnLeft", 0, 0, 0)


def test_harvester_reference_program_ends_at_219_of_220() -> None:
    from nsrl_ray.envs.karel import make_task

    task = make_task("harvester")
    world, episode = task.start(task.instance(0))
    result, _ = execute(parse_program(HARVESTER), world)
    assert (result.calls, result.stop) == (219, "end")  # karel.md §3.1 [CHECKED]
    assert task.score(world, episode) == 1.0
    world, _ = task.start(task.instance(0))
    assert execute(parse_program(HARVESTER), world, max_calls=218)[0].stop == "budget"


def test_bad_budget_and_program_type_are_refused() -> None:
    with pytest.raises(ValueError, match="max_calls"):
        CompiledProgram(parse_program("DEF run m( move m)"), 0)
    with pytest.raises(TypeError, match="expected a Program"):
        CompiledProgram("DEF run m( move m)")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- sampler
def test_sampler_uses_leaps_probabilities() -> None:
    actions, perceptions, negated, conditions, counts = collections.Counter(), collections.Counter(), 0, 0, collections.Counter()
    for program in sampled_programs(6000, seed=1):
        stack = [program.body]
        while stack:
            for stmt in stack.pop():
                if isinstance(stmt, Action):
                    actions[stmt.name] += 1
                elif isinstance(stmt, Repeat):
                    counts[stmt.count] += 1
                    stack.append(stmt.body)
                else:
                    conditions += 1
                    negated += stmt.cond.negated
                    perceptions[stmt.cond.perception] += 1
                    stack.append(stmt.body)
                    if isinstance(stmt, IfElse):
                        stack.append(stmt.orelse)
    n_actions = sum(actions.values())
    assert actions["move"] / n_actions == pytest.approx(0.5, abs=0.02)
    assert actions["pickMarker"] / n_actions == pytest.approx(0.1, abs=0.01)
    assert perceptions["frontIsClear"] / conditions == pytest.approx(0.5, abs=0.03)
    assert negated / conditions == pytest.approx(0.1, abs=0.02)
    assert set(counts) <= set(range(20))


def test_sampler_depth_rules_bound_programs_and_seeds_repeat() -> None:
    programs = sampled_programs(3000, seed=2)
    assert max(nesting_depth(p) for p in programs) <= 3  # depth 6 allows three nested levels
    assert max(longest_block(p) for p in programs) <= 8
    assert programs[:50] == sampled_programs(50, seed=2)
    limits = ProgramLimits(max_tokens=20, max_nesting=1, max_block=3)
    rng = random.Random(0)
    assert all(limits.fits(ProgramSampler().program(rng, limits)) for _ in range(100))


def test_mutation_replaces_one_node_within_limits() -> None:
    mutator = Mutator()
    rng = random.Random(3)
    program = parse_program(HARVESTER)
    kinds = collections.Counter(site[0] for site in mutation_sites(program))
    assert kinds == {"statement": 13, "sequence": 9, "condition": 3}
    neighbours = [mutator.mutate(program, rng) for _ in range(300)]
    assert all(mutator.limits.fits(n) for n in neighbours)
    changed = [n for n in neighbours if n != program]
    assert len(changed) > 250
    # A point mutation of a REPEAT count only touches the count.
    repeat = parse_program("DEF run m( REPEAT R=4 r( move r) m)")
    counts = {mutator._replacement(rng, repeat, ("count", (), 0)).body[0].count for _ in range(60)}
    assert len(counts) > 10
    again = random.Random(3)
    assert [mutator.mutate(program, again) for _ in range(300)] == neighbours
