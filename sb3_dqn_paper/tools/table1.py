"""
Table 1 of Mnih et al. (2013) as data, and the lookup from a Gymnasium env id to the game of a column.

Table 1 reports the average total reward per game (whole games, all lives, unclipped score) of each method
with an epsilon = 0.05 policy; "DQN Best" is the best single episode. The numbers are copied from the paper
(Section 5.3, Table 1; also printed in ``docs/results.md``, "Table 1 of the paper"). :data:`REFERENCE_SCORES`
adds, for comparison at a stated budget, the scores other systems report on the same seven games.

This module imports neither torch nor Gymnasium, so the report tool can use it cheaply.
"""

import re
from dataclasses import dataclass

#: The rows of Table 1, in the paper's order: attribute name -> label in the paper.
METHODS: dict[str, str] = {
    "random": "Random",
    "sarsa": "Sarsa",
    "contingency": "Contingency",
    "dqn": "DQN",
    "human": "Human",
    "hneat_best": "HNeat Best",
    "hneat_pixel": "HNeat Pixel",
    "dqn_best": "DQN Best",
}


@dataclass(frozen=True)
class PaperGame:
    """
    One column of the paper's Table 1: a game, its Gymnasium id and the score of every method.

    :param key: Short name, as in the Gymnasium id (``"SpaceInvaders"``)
    :param title: The game's name as the paper prints it (``"Space Invaders"``)
    :param env_id: The Gymnasium id without frame skip or sticky actions, as in 2013
    :param random: Average total reward of a uniformly random policy
    :param sarsa: Sarsa (Bellemare et al., 2013)
    :param contingency: Contingency (Bellemare et al., 2012)
    :param dqn: DQN's average total reward, epsilon = 0.05
    :param human: Human tester
    :param hneat_best: HyperNEAT with hand-made object features, best
    :param hneat_pixel: HyperNEAT on pixels
    :param dqn_best: DQN's best single episode, epsilon = 0.05
    """

    key: str
    title: str
    env_id: str
    random: float
    sarsa: float
    contingency: float
    dqn: float
    human: float
    hneat_best: float
    hneat_pixel: float
    dqn_best: float

    def scores(self) -> dict[str, float]:
        """
        :return: The Table 1 score of each method, keyed as :data:`METHODS`
        """
        return {method: getattr(self, method) for method in METHODS}


#: Table 1 of the paper, one entry per game, keyed by :attr:`PaperGame.key`.
TABLE1: dict[str, PaperGame] = {
    game.key: game
    for game in (
        PaperGame("BeamRider", "Beam Rider", "BeamRiderNoFrameskip-v4", 354, 996, 1743, 4092, 7456, 3616, 1332, 5184),
        PaperGame("Breakout", "Breakout", "BreakoutNoFrameskip-v4", 1.2, 5.2, 6, 168, 31, 52, 4, 225),
        PaperGame("Enduro", "Enduro", "EnduroNoFrameskip-v4", 0, 129, 159, 470, 368, 106, 91, 661),
        PaperGame("Pong", "Pong", "PongNoFrameskip-v4", -20.4, -19, -17, 20, -3, 19, -16, 21),
        PaperGame("Qbert", "Q*bert", "QbertNoFrameskip-v4", 157, 614, 960, 1952, 18900, 1800, 1325, 4500),
        PaperGame("Seaquest", "Seaquest", "SeaquestNoFrameskip-v4", 110, 665, 723, 1705, 28010, 920, 800, 1740),
        PaperGame(
            "SpaceInvaders", "Space Invaders", "SpaceInvadersNoFrameskip-v4", 179, 271, 268, 581, 3690, 1720, 1145, 1075
        ),
    )
}


@dataclass(frozen=True)
class ReferenceSystem:
    """
    Scores another system reports on the seven games, for a same-budget comparison.

    :param name: The system and its setting
    :param agent_steps: Training budget in agent steps (4 emulator frames each)
    :param scores: Score per game key; games the source does not report are absent
    :param note: What makes the number differ from Table 1's protocol
    """

    name: str
    agent_steps: int
    scores: dict[str, float]
    note: str = ""


#: Reference points from other systems, lowest budget first (sources in ``docs/results.md``, "Same-budget references").
REFERENCE_SCORES: tuple[ReferenceSystem, ...] = (
    ReferenceSystem(
        "Dopamine DQN (RMSProp)",
        2_500_000,
        dict(BeamRider=869, Breakout=21.5, Enduro=590, Pong=-4.9, Qbert=1658, Seaquest=300, SpaceInvaders=663),
        "sticky actions (p=0.25); mean training return over 5 seeds at iteration 9 (10M frames)",
    ),
    ReferenceSystem(
        "Dopamine DQN (RMSProp)",
        10_000_000,
        dict(BeamRider=4101, Breakout=81.7, Enduro=650, Pong=10.0, Qbert=6923, Seaquest=1399, SpaceInvaders=1145),
        "sticky actions (p=0.25); mean training return over 5 seeds at iteration 39 (40M frames)",
    ),
    ReferenceSystem(
        "rl-zoo3 SB3 DQN",
        10_000_000,
        dict(BeamRider=4296, Breakout=358, Enduro=831, Pong=20.6, Qbert=9497, Seaquest=2000, SpaceInvaders=623),
        "Nature-paper DQN (target network, Huber loss, Adam); rl-zoo3 benchmark.md",
    ),
    ReferenceSystem(
        "CleanRL dqn_atari.py",
        10_000_000,
        dict(BeamRider=6673, Breakout=366.9, Pong=20.25),
        "Nature-paper DQN with Adam",
    ),
    ReferenceSystem(
        "Nature DQN (2015)",
        50_000_000,
        dict(BeamRider=6846, Breakout=401.2, Enduro=301.8, Pong=18.9, Qbert=10596, Seaquest=5286, SpaceInvaders=1976),
        "Extended Data Table 2; 50M agent steps (200M frames)",
    ),
)

#: Agent steps per Dopamine iteration: 250,000 agent steps = 1M emulator frames.
DOPAMINE_ITERATION_STEPS = 250_000

#: Dopamine's legacy DQN agent (centred RMSProp, target network, an update every 4 steps, sticky actions p=0.25,
#: epsilon to 0.01 over 250k steps): mean *training* return over each iteration, mean of 5 seeds, keyed by
#: iteration index (iteration ``i`` covers agent steps ``[i, i + 1) * DOPAMINE_ITERATION_STEPS``). Source: Dopamine,
#: ``baselines/atari/data/<game>.json``; the same numbers are in ``docs/results.md``, "Dopamine DQN per iteration".
#: The Dopamine iterations kept here (iteration ``i`` ends at ``(i + 1) * DOPAMINE_ITERATION_STEPS`` agent steps)
DOPAMINE_ITERATIONS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14, 19, 39)

DOPAMINE_PER_ITERATION: dict[str, dict[int, float]] = {
    game: dict(zip(DOPAMINE_ITERATIONS, returns, strict=True))
    for game, returns in (
        ("Pong", (-20.3, -19.1, -17.6, -16.6, -15.4, -13.6, -11.0, -8.5, -7.4, -4.9, 1.5, 5.7, 10.0)),
        ("Breakout", (1.6, 3.1, 3.9, 6.7, 9.3, 12.1, 14.2, 16.3, 18.6, 21.5, 38.8, 52.9, 81.7)),
        ("SpaceInvaders", (167, 190, 235, 271, 323, 398, 495, 578, 657, 663, 707, 796, 1145)),
        ("BeamRider", (362, 331, 340, 357, 363, 400, 458, 518, 638, 869, 4066, 3353, 4101)),
        ("Enduro", (0.0, 1.3, 32.3, 131.2, 275.3, 424.2, 506.0, 557.0, 544.5, 589.6, 499.4, 518.1, 650.0)),
        ("Qbert", (193, 377, 560, 674, 893, 1090, 1618, 1765, 1746, 1658, 2225, 3831, 6923)),
        ("Seaquest", (117, 167, 247, 284, 284, 292, 293, 303, 302, 300, 393, 466, 1399)),
    )
}

#: The lowest and the highest of those 5 seeds' training returns, per iteration of :data:`DOPAMINE_PER_ITERATION`
#: (same source and rounding), as ``(lowest, highest)``; the same numbers are in ``docs/results.md``.
DOPAMINE_SEED_RANGE: dict[str, dict[int, tuple[float, float]]] = {
    game: dict(zip(DOPAMINE_ITERATIONS, zip(lowest, highest, strict=True), strict=True))
    for game, lowest, highest in (
        (
            "Pong",
            (-20.6, -20.7, -20.3, -20.1, -20.3, -20.5, -20.3, -20.2, -19.0, -19.1, -16.6, -10.3, -6.7),
            (-20.2, -18.0, -15.1, -14.5, -11.4, -9.1, -3.3, 4.9, 4.5, 6.9, 10.8, 13.1, 16.5),
        ),
        (
            "Breakout",
            (1.6, 2.8, 3.3, 5.9, 6.7, 8.9, 11.4, 14.1, 16.4, 19.3, 35.4, 47.1, 68.3),
            (1.7, 3.3, 4.5, 7.5, 11.1, 13.7, 15.9, 19.0, 22.8, 28.5, 47.4, 61.9, 100.7),
        ),
        (
            "SpaceInvaders",
            (157, 174, 206, 262, 296, 389, 451, 500, 589, 640, 683, 784, 1135),
            (175, 211, 258, 284, 346, 404, 539, 631, 697, 682, 736, 808, 1153),
        ),
        (
            "BeamRider",
            (356, 298, 315, 341, 345, 378, 391, 425, 479, 653, 3177, 2533, 3796),
            (367, 354, 362, 370, 375, 442, 539, 601, 770, 1235, 4646, 4371, 4848),
        ),
        (
            "Enduro",
            (0.0, 0.3, 4.0, 77.1, 151.3, 387.2, 471.8, 499.1, 488.4, 557.7, 343.9, 468.6, 605.5),
            (0.0, 2.1, 80.3, 191.4, 414.8, 450.9, 544.5, 625.6, 597.5, 646.3, 685.9, 544.7, 698.4),
        ),
        (
            "Qbert",
            (181, 356, 486, 585, 760, 976, 1293, 1409, 1581, 1013, 1091, 3631, 6393),
            (208, 417, 646, 788, 1190, 1170, 1885, 2264, 1900, 2522, 2997, 4104, 7510),
        ),
        (
            "Seaquest",
            (105, 150, 227, 269, 273, 274, 272, 278, 281, 257, 355, 389, 1290),
            (126, 190, 267, 315, 294, 312, 316, 327, 322, 325, 447, 637, 1495),
        ),
    )
}

#: CleanRL ``dqn_atari.py`` (Nature DQN with Adam, ``NoFrameskip-v4``, 3 seeds): training return read off its
#: published learning curves (approximate, +-10 %), as (agent steps, low, high). Source: CleanRL docs,
#: ``docs/rl-algorithms/dqn.md``; the same numbers are in ``docs/results.md``, "CleanRL at 1M and 2M agent steps".
CLEANRL_CURVE_POINTS: dict[str, tuple[tuple[int, float, float], ...]] = {
    "Pong": ((1_000_000, -15.0, -15.0), (2_000_000, 0.0, 0.0)),
    "Breakout": ((1_000_000, 25.0, 30.0), (2_000_000, 105.0, 105.0)),
}

# Suffixes of Gymnasium/ALE ids that name a variant of a game rather than another game
_VARIANT_SUFFIXES = ("NoFrameskip", "Deterministic", "-ram")
_NORMALISED_KEYS = {key.lower(): key for key in TABLE1}


def game_name(env_id: str) -> str:
    """
    The game part of an Atari env id: ``"ALE/Breakout-v5"`` and ``"BreakoutNoFrameskip-v4"`` give ``"Breakout"``.

    Also accepts rl-zoo3's folder spelling of namespaced ids (``"ALE-Breakout-v5"``).

    :param env_id: A Gymnasium id
    :return: The id without namespace, version and variant suffixes (``NoFrameskip``, ``Deterministic``, ``-ram``)
    """
    name = env_id.split("/")[-1]
    name = re.sub(r"-v\d+$", "", name)
    if name.startswith("ALE-"):
        name = name[len("ALE-") :]
    changed = True
    while changed:
        changed = False
        for suffix in _VARIANT_SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                changed = True
    return name


def paper_game(env_id: str) -> PaperGame | None:
    """
    The Table 1 column of the game an env id runs, if the paper reports it.

    :param env_id: A Gymnasium id, e.g. ``"BreakoutNoFrameskip-v4"``, ``"ALE/Breakout-v5"``
    :return: The game's Table 1 entry, or ``None`` for a game (or non-Atari env) the paper does not report
    """
    key = _NORMALISED_KEYS.get(game_name(env_id).replace("_", "").lower())
    return None if key is None else TABLE1[key]


def references_for(game: PaperGame) -> list[tuple[ReferenceSystem, float]]:
    """
    The reference systems that report a score for ``game``.

    :param game: A Table 1 game
    :return: ``(system, score)`` pairs, lowest budget first
    """
    return [(system, system.scores[game.key]) for system in REFERENCE_SCORES if game.key in system.scores]


@dataclass(frozen=True)
class BudgetReference:
    """
    Scores another system reached after a stated number of agent steps, for the same-budget columns of a report.

    :param name: The system and its setting
    :param measure: What the number is (``"training return"``: the games played while training, with that system's
        exploration; ``"evaluation"``: a separate evaluation)
    :param scores: Agent steps -> game key -> ``(low, high)``; ``low == high`` for a single number
    :param source: Where the numbers come from
    """

    name: str
    measure: str
    scores: dict[int, dict[str, tuple[float, float]]]
    source: str


def _points(values: dict[str, float]) -> dict[str, tuple[float, float]]:
    return {game: (value, value) for game, value in values.items()}


#: Same-budget references beside Dopamine's per-iteration returns (:data:`DOPAMINE_PER_ITERATION`); the same numbers
#: and their sources are in ``docs/campaign.md``, "Same-budget references".
BUDGET_REFERENCES: tuple[BudgetReference, ...] = (
    BudgetReference(
        "SB3 rl-zoo DQN",
        "training return",
        {
            1_000_000: _points(
                dict(BeamRider=1431, Breakout=39, Enduro=81, Pong=-6.3, Qbert=639, Seaquest=428, SpaceInvaders=344)
            ),
            2_500_000: _points(
                dict(BeamRider=2615, Breakout=204, Enduro=608, Pong=19.3, Qbert=1958, Seaquest=1574, SpaceInvaders=518)
            ),
            5_000_000: _points(
                dict(BeamRider=4385, Breakout=294, Enduro=591, Pong=20.1, Qbert=4052, Seaquest=1606, SpaceInvaders=561)
            ),
            10_000_000: _points(
                dict(BeamRider=3958, Breakout=307, Enduro=830, Pong=20.4, Qbert=8644, Seaquest=2274, SpaceInvaders=631)
            ),
        },
        "mean of the last 100 training games before the budget, 0.monitor.csv of DLR-RM/rl-trained-agents "
        "dqn/<Game>NoFrameskip-v4_1 (Nature-style DQN: target network, update every 4 steps, Adam, replay 10k)",
    ),
    BudgetReference(
        "CleanRL dqn_atari.py",
        "training return",
        {
            1_000_000: {"Pong": (-15.0, -15.0), "Breakout": (25.0, 30.0)},
            2_500_000: {"Breakout": (165.0, 165.0), "Pong": (11.0, 11.0), "BeamRider": (5000.0, 5000.0)},
        },
        "read off CleanRL's published learning curves (+-10 %; Nature DQN with Adam, 3 seeds)",
    ),
    BudgetReference(
        "deep_q_rl run_nips.py (2013 settings)",
        "evaluation",
        {2_500_000: {"Breakout": (74.0, 74.0)}},
        "DanielTakeshi/deep_q_rl, results/breakout_standard_dqn_40000_stepsperepoch.csv, test epsilon 0.05, about 2.5M "
        "agent steps (no target network, one update per step, as the 2013 paper)",
    ),
    BudgetReference(
        "Dopamine JAX DQN (Adam, MSE)",
        "training return",
        {
            2_500_000: _points(
                dict(BeamRider=5218, Breakout=47, Enduro=926, Pong=6, Qbert=1495, Seaquest=876, SpaceInvaders=705)
            ),
            10_000_000: _points(
                dict(BeamRider=4908, Breakout=104, Enduro=1415, Pong=18, Qbert=8657, Seaquest=3970, SpaceInvaders=1357)
            ),
        },
        "Dopamine baselines, sticky actions (p=0.25), mean of 5 seeds",
    ),
)

#: Random and human scores for human-normalised scores, ``(random, human)``: DeepMind's dqn_zoo ``atari_data.py``,
#: the reference most used today (the paper's own Random and Human rows, in :data:`TABLE1`, differ slightly).
HUMAN_NORMALISATION: dict[str, tuple[float, float]] = {
    "BeamRider": (363.9, 16926.5),
    "Breakout": (1.7, 30.5),
    "Enduro": (0.0, 860.5),
    "Pong": (-20.7, 14.6),
    "Qbert": (163.9, 13455.0),
    "Seaquest": (68.4, 42054.7),
    "SpaceInvaders": (148.0, 1668.7),
}
