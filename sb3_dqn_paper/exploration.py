"""The paper's epsilon-greedy schedule, by agent steps: PaperDQN's exploration rate and the campaign's status use it."""

import math

from stable_baselines3.common.utils import LinearSchedule

#: Epsilon at the first agent step (the paper: 1).
PAPER_INITIAL_EPS = 1.0
#: Epsilon after the decay (the paper: 0.1).
PAPER_FINAL_EPS = 0.1
#: Agent steps of the linear decay (the paper: "the first million frames", read as agent steps).
PAPER_EXPLORATION_STEPS = 1_000_000


def linear_epsilon(num_timesteps: int, initial_eps: float, final_eps: float, exploration_steps: int) -> float:
    """
    Epsilon after ``num_timesteps`` agent steps: linear from ``initial_eps`` to ``final_eps`` over
    ``exploration_steps`` agent steps, constant after (the paper: 1.0 to 0.1 over the first million frames).

    :param num_timesteps: Agent steps taken so far (over all envs)
    :param initial_eps: Epsilon at step 0
    :param final_eps: Epsilon from ``exploration_steps`` on
    :param exploration_steps: Length of the decay in agent steps (0: ``final_eps`` from the start)
    :return: Epsilon
    """
    if exploration_steps == 0:
        return final_eps
    return LinearSchedule(initial_eps, final_eps, 1.0)(1.0 - min(1.0, num_timesteps / exploration_steps))


def first_step_at(
    epsilon: float,
    initial_eps: float = PAPER_INITIAL_EPS,
    final_eps: float = PAPER_FINAL_EPS,
    exploration_steps: int = PAPER_EXPLORATION_STEPS,
) -> int | None:
    """
    The inverse of :func:`linear_epsilon`: when does a decaying schedule reach ``epsilon``?

    :param epsilon: An exploration rate
    :param initial_eps: Epsilon at step 0
    :param final_eps: Epsilon from ``exploration_steps`` on (below ``initial_eps``)
    :param exploration_steps: Length of the decay in agent steps
    :return: The first agent step at which the schedule is at or below ``epsilon``, or ``None`` if it never is
    """
    if epsilon >= initial_eps:
        return 0
    if epsilon < final_eps:
        return None
    return math.ceil((initial_eps - epsilon) / (initial_eps - final_eps) * exploration_steps - 1e-9)
