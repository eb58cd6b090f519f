"""INSIGHT's nine Atari games: ALE ids, action names and the object slot table of each.

Pure data (no ale-py / OCAtari import), so the env registry can describe the games cheaply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ATARI_GAMES",
    "AtariGame",
    "SlotGroup",
    "action_name",
    "get_game",
    "slot_names",
]

#: Screen size of the Atari 2600 frame; object coordinates are normalised by it.
SCREEN_WIDTH = 160
SCREEN_HEIGHT = 210


@dataclass(frozen=True)
class SlotGroup:
    """One OCAtari object category and how many fixed slots the feature vector keeps for it."""

    category: str
    """OCAtari's category name (the class name in ``ocatari.ram.<game>``), e.g. 'Ball'."""
    name: str
    """Semantic snake_case prefix used in feature names, e.g. 'ball' -> 'ball_x_t0'."""
    count: int
    """Number of slots; objects beyond it are dropped (in OCAtari's list order)."""
    description: str


@dataclass(frozen=True)
class AtariGame:
    """One game: its ALE ROM, the minimal action set (ALE order) and the slot table."""

    name: str
    """CamelCase game name as ALE spells it ('SpaceInvaders')."""
    rom: str
    """ALE ROM id ('space_invaders'), for `ale_py.roms` and the vector env."""
    actions: tuple[str, ...]
    """ALE action meanings of the minimal action set, in index order."""
    slots: tuple[SlotGroup, ...]
    description: str
    random_return: float | None = None
    """Return of random play as INSIGHT reports it (for reports)."""

    @property
    def ale_id(self) -> str:
        return f"ALE/{self.name}-v5"

    @property
    def n_slots(self) -> int:
        return sum(g.count for g in self.slots)

    @property
    def action_names(self) -> tuple[str, ...]:
        return tuple(action_name(a) for a in self.actions)


_ACTION_TOKENS = re.compile(r"NOOP|FIRE|UP|DOWN|LEFT|RIGHT")


def action_name(meaning: str) -> str:
    """ALE meaning -> snake_case formula name: 'UPRIGHTFIRE' -> 'up_right_fire'."""
    tokens = _ACTION_TOKENS.findall(meaning)
    if "".join(tokens) != meaning:
        raise ValueError(f"Unknown ALE action meaning {meaning!r}; expected a combination of {_ACTION_TOKENS.pattern}.")
    return "_".join(t.lower() for t in tokens)


def slot_names(game: AtariGame) -> tuple[str, ...]:
    """One name per slot, in feature order: 'ball' for a single slot, 'car1', 'car2', ... otherwise."""
    names: list[str] = []
    for group in game.slots:
        if group.count == 1:
            names.append(group.name)
        else:
            names.extend(f"{group.name}{i + 1}" for i in range(group.count))
    return tuple(names)


def _g(category: str, name: str, count: int, description: str) -> SlotGroup:
    return SlotGroup(category, name, count, description)


# Slot tables: OCAtari's MAX_NB_OBJECTS (hud=False) per game, except categories whose
# positions carry no decision information or are too numerous for a formula's inputs:
# Breakout's 108 bricks, MsPacman's 252 pills and Qbert's 21 cubes are static; Enduro keeps
# the 8 first of its 27 car slots. Order = OCAtari's order, which fixes feature order.
_GAMES: tuple[AtariGame, ...] = (
    AtariGame(
        "Pong", "pong", ("NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"),
        (_g("Player", "player", 1, "the agent's paddle (right, green)"),
         _g("Ball", "ball", 1, "the ball"),
         _g("Enemy", "enemy", 1, "the computer's paddle (left, orange)")),
        "Pong: hit the ball past the computer's paddle; +1 per point won, -1 per point lost, first to 21. "
        "RIGHT moves the paddle up, LEFT down.",
        -20.3,
    ),
    AtariGame(
        "BeamRider", "beam_rider",
        ("NOOP", "FIRE", "UP", "RIGHT", "LEFT", "UPRIGHT", "UPLEFT", "RIGHTFIRE", "LEFTFIRE"),
        (_g("Player", "player", 1, "the agent's ship"),
         _g("Player_Projectile", "player_projectile", 1, "the agent's laser shot"),
         _g("Torpedos", "torpedos", 1, "the agent's torpedo display")),
        "BeamRider: move between five beams and shoot the enemy saucers; UP fires a torpedo.",
        402.0,
    ),
    AtariGame(
        "Enduro", "enduro",
        ("NOOP", "FIRE", "RIGHT", "LEFT", "DOWN", "DOWNRIGHT", "DOWNLEFT", "RIGHTFIRE", "LEFTFIRE"),
        (_g("Player", "player", 1, "the agent's car"),
         _g("Car", "car", 8, "another car on the road")),
        "Enduro: an endurance car race; FIRE accelerates, DOWN brakes; reward +1 per car passed.",
        0.0,
    ),
    AtariGame(
        "Qbert", "qbert", ("NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN"),
        (_g("Player", "player", 1, "Q*bert"),
         _g("Disk", "disk", 2, "a flying disk beside the pyramid"),
         _g("PurpleBall", "purple_ball", 1, "the purple ball (becomes Coily)"),
         _g("RedBall", "red_ball", 1, "a red ball"),
         _g("GreenBall", "green_ball", 1, "the green ball (freezes enemies)"),
         _g("Coily", "coily", 1, "Coily the snake"),
         _g("Sam", "sam", 1, "Sam (reverts cube colours)")),
        "Qbert: hop diagonally on the pyramid changing cube colours while avoiding enemies.",
        174.0,
    ),
    AtariGame(
        "SpaceInvaders", "space_invaders", ("NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"),
        (_g("Player", "player", 1, "the agent's laser cannon"),
         _g("Shield", "shield", 3, "a shield bunker"),
         _g("Bullet", "bullet", 3, "a bullet (the agent's or an alien's)"),
         _g("Satellite", "satellite", 1, "the mystery ship"),
         _g("Alien", "alien", 36, "an invader")),
        "SpaceInvaders: shoot the descending invaders while dodging their bullets.",
        157.0,
    ),
    AtariGame(
        "Seaquest", "seaquest",
        ("NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT",
         "UPFIRE", "RIGHTFIRE", "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE", "DOWNRIGHTFIRE", "DOWNLEFTFIRE"),
        (_g("Player", "player", 1, "the agent's submarine"),
         _g("Shark", "shark", 12, "a shark"),
         _g("Submarine", "submarine", 12, "an enemy submarine"),
         _g("Diver", "diver", 4, "a diver to rescue"),
         _g("EnemyMissile", "enemy_missile", 4, "an enemy torpedo"),
         _g("SurfaceSubmarine", "surface_submarine", 1, "the submarine patrolling the surface"),
         _g("PlayerMissile", "player_missile", 1, "the agent's torpedo"),
         _g("OxygenBar", "oxygen_bar", 1, "the oxygen bar"),
         _g("CollectedDiver", "collected_diver", 6, "a rescued diver in the HUD")),
        "Seaquest: shoot sharks and submarines, rescue divers, surface before oxygen runs out.",
        78.0,
    ),
    AtariGame(
        "Breakout", "breakout", ("NOOP", "FIRE", "RIGHT", "LEFT"),
        (_g("Player", "player", 1, "the agent's paddle"),
         _g("Ball", "ball", 1, "the ball")),
        "Breakout: bounce the ball with the paddle to break the bricks; FIRE serves a new ball.",
        1.3,
    ),
    AtariGame(
        "Freeway", "freeway", ("NOOP", "UP", "DOWN"),
        (_g("Chicken", "chicken", 2, "a chicken (the first one is the agent's)"),
         _g("Car", "car", 10, "a car on one of the ten lanes")),
        "Freeway: move the chicken up across ten lanes of traffic; +1 per crossing.",
        0.0,
    ),
    AtariGame(
        "MsPacman", "ms_pacman",
        ("NOOP", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT"),
        (_g("Player", "player", 1, "Ms. Pac-Man"),
         _g("Ghost", "ghost", 4, "a ghost"),
         _g("Fruit", "fruit", 1, "the bonus fruit"),
         _g("PowerPill", "power_pill", 4, "a power pill")),
        "MsPacman: eat the pills in the maze while avoiding the ghosts.",
        251.0,
    ),
)

ATARI_GAMES: dict[str, AtariGame] = {g.name: g for g in _GAMES}


def get_game(game: str) -> AtariGame:
    """Look a game up by ALE name ('Pong'), ALE id ('ALE/Pong-v5') or ROM id ('pong')."""
    if isinstance(game, AtariGame):
        return game
    if not isinstance(game, str):
        raise TypeError(f"game must be a str such as 'Pong', got {type(game).__name__}.")
    key = game.split("/")[-1].split("-")[0]
    for g in _GAMES:
        if key in (g.name, g.rom) or key.lower() == g.name.lower():
            return g
    import difflib

    close = difflib.get_close_matches(key, list(ATARI_GAMES), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"Unknown Atari game {game!r}.{hint} Supported games: {', '.join(ATARI_GAMES)}.")
