"""Shared test setup: one torch thread (CI has 2 cores) and the Atari environments registered."""

import signal
from collections.abc import Iterator

import gymnasium
import gymnasium.envs.registration
import gymnasium.wrappers
import gymnasium.wrappers.common
import pytest
import torch as th

#: Where rl-zoo3's ``gym_patches`` (run when rl_zoo3 is first imported) puts its ``PatchedTimeLimit`` in place of
#: gymnasium's ``TimeLimit``, for every env built afterwards in the process; their values before any test ran.
_TIME_LIMIT_SLOTS = [gymnasium.wrappers, gymnasium.wrappers.common, gymnasium.envs.registration]
_TIME_LIMIT_BEFORE = {module: getattr(module, "TimeLimit", None) for module in _TIME_LIMIT_SLOTS}


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_raises() -> None:
    """
    Ctrl-C raises KeyboardInterrupt, whatever started pytest: a shell that runs a command in the background (``&``)
    without job control starts it with SIGINT ignored, and Python then keeps it ignored; the signal tests need the
    default.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True, scope="session")
def _sb3_log_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """
    SB3 makes a folder ``SB3-<time>`` in the system's temporary folder at every ``learn()`` without a log folder
    (``configure(None)``); the suite's hundreds of them go to pytest's temporary folder instead, subprocesses included.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SB3_LOGDIR", str(tmp_path_factory.mktemp("sb3-logger")))
        yield


@pytest.fixture(autouse=True)
def _gymnasium_time_limit(request: pytest.FixtureRequest) -> None:
    """
    A test without the ``zoo`` marker builds its envs with gymnasium's own ``TimeLimit``, as in a process that never
    imported rl_zoo3, whichever tests ran before it in the same process (with pytest-xdist, a worker runs the files
    in no fixed order). Checkpoints record the env's wrapper classes, so the patched class would be refused on resume.
    """
    if request.node.get_closest_marker("zoo") is None:
        for module, value in _TIME_LIMIT_BEFORE.items():
            if value is None:
                if hasattr(module, "TimeLimit"):
                    delattr(module, "TimeLimit")
            else:
                module.TimeLimit = value


@pytest.fixture(autouse=True, scope="session")
def _single_thread() -> None:
    th.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _atari_registered() -> None:
    from sb3_dqn_paper.atari import register_atari_envs

    register_atari_envs()


@pytest.fixture
def pong_env():
    """The paper's Pong pipeline, one env, seeded."""
    from sb3_dqn_paper import make_paper_atari_env

    env = make_paper_atari_env("PongNoFrameskip-v4", n_envs=1, seed=0)
    yield env
    env.close()
