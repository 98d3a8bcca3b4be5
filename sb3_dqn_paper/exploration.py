"""The paper's epsilon-greedy schedule, by agent steps: PaperDQN's exploration rate and the campaign's status use it."""

from stable_baselines3.common.utils import LinearSchedule


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
