"""
The ``env_wrapper`` of the Atari entries of ``paper_dqn.yml``: SB3's ``AtariWrapper`` with the paper's checks.

rl-zoo3 builds Atari envs itself (``make_vec_env`` with ``Monitor`` below ``env_wrapper``, then
``VecFrameStack(frame_stack)``), which is the same construction as :func:`sb3_dqn_paper.make_paper_atari_env`
(SB3's ``make_atari_env`` + ``VecFrameStack(4)``). This subclass adds what ``make_paper_atari_env`` adds on
top of SB3: the frame skip defaults to the paper's per-game value (3 for Space Invaders, 4 otherwise), and an
id that already skips frames or uses sticky actions (e.g. ``ALE/Pong-v5``) is refused with a clear error
instead of being skipped twice.
"""

import gymnasium as gym
from stable_baselines3.common.atari_wrappers import AtariWrapper

from sb3_dqn_paper.atari import check_atari_env_id, resolve_frame_skip


class PaperAtariWrapper(AtariWrapper):
    """
    ``AtariWrapper`` for the paper's pipeline; parameters as in SB3's, with a per-game default frame skip.

    :param env: Environment to wrap (a ``NoFrameskip`` Atari env, possibly inside a ``Monitor``)
    :param noop_max: Maximum number of no-ops at reset (SB3's 30; not in the 2013 paper; 0 disables)
    :param frame_skip: Frame skip ``k``; ``None`` for the paper's: 3 for Space Invaders, 4 otherwise
    :param screen_size: Side of the square observation (84 in the paper)
    :param terminal_on_life_loss: End an episode at each life loss (SB3 default; not in the 2013 paper)
    :param clip_reward: Clip training rewards to their sign (the paper)
    :param action_repeat_probability: Sticky actions (0: the 2013 setting)
    :raises ValueError: if the env skips frames or repeats actions by itself
    """

    def __init__(
        self,
        env: gym.Env,
        noop_max: int = 30,
        frame_skip: int | None = None,
        screen_size: int = 84,
        terminal_on_life_loss: bool = True,
        clip_reward: bool = True,
        action_repeat_probability: float = 0.0,
    ) -> None:
        spec = env.spec
        if spec is not None:
            check_atari_env_id(spec.id, spec.kwargs)
        frame_skip = resolve_frame_skip(spec.id if spec is not None else "", frame_skip)
        super().__init__(
            env,
            noop_max=noop_max,
            frame_skip=frame_skip,
            screen_size=screen_size,
            terminal_on_life_loss=terminal_on_life_loss,
            clip_reward=clip_reward,
            action_repeat_probability=action_repeat_probability,
        )
