"""
Helpers of the rl-zoo3 tests: run rl-zoo3's commands in a fresh interpreter, as a user types them.

Those commands only know ``--algo paper_dqn`` when sb3-dqn-paper is *installed* (``pip install -e .[zoo]``):
the wheel's ``sb3_dqn_paper_zoo.pth`` is what registers it. :func:`require_installed_hook` turns a missing
install into a test failure that says so, rather than a skip or an obscure argparse error.
"""

import functools
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PTH_NAME = "sb3_dqn_paper_zoo.pth"
INSTALL_HINT = f"run `pip install -e '{REPO_ROOT}[zoo,test]'` in the environment of {sys.executable}"


def installed_pth_files() -> list[Path]:
    """
    The ``sb3_dqn_paper_zoo.pth`` files in the site directories of this interpreter.

    :return: Their paths (empty when the package is not installed)
    """
    site_dirs = [*site.getsitepackages(), site.getusersitepackages()]
    return [Path(directory) / PTH_NAME for directory in site_dirs if (Path(directory) / PTH_NAME).is_file()]


def require_installed_hook() -> None:
    """Fail the calling test, with the install command, unless the registration hook is installed and working."""
    problem = _hook_problem()
    if problem:
        pytest.fail(problem)


@functools.cache
def _hook_problem() -> str:
    """What is wrong with the hook's installation (checked once per session), or an empty string."""
    if not installed_pth_files():
        return f"sb3-dqn-paper's rl-zoo3 hook ({PTH_NAME}) is not installed in any site directory: {INSTALL_HINT}"
    code = (
        "import sys; hooked = any(type(f).__name__ == 'RLZooRegistrationFinder' for f in sys.meta_path); "
        "import sb3_dqn_paper; print(hooked, sb3_dqn_paper.__file__)"
    )
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=zoo_env(), check=False)
    hooked, _, package_file = probe.stdout.strip().partition(" ")
    if hooked != "True":
        return f"{PTH_NAME} is installed but did not install the hook at start-up: {probe.stderr[-2000:]} ({INSTALL_HINT})"
    import sb3_dqn_paper

    if Path(package_file).resolve() != Path(sb3_dqn_paper.__file__).resolve():
        return (
            f"subprocesses import sb3-dqn-paper from {package_file}, the tests from {sb3_dqn_paper.__file__}: "
            f"install the code under test ({INSTALL_HINT})"
        )
    return ""


def zoo_env(**extra: str) -> dict[str, str]:
    """
    Environment of the subprocesses: one thread each, no display, the hook on unless told otherwise.

    :param extra: Variables to set on top
    :return: The environment
    """
    env = {key: value for key, value in os.environ.items() if key != "SB3_DQN_PAPER_ZOO_HOOK"}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg", SDL_VIDEODRIVER="dummy")
    env.update(extra)
    return env


def run_python(
    args: list[str], cwd: Path, timeout: float = 300, check: bool = True, **env: str
) -> subprocess.CompletedProcess:
    """
    Run ``python ARGS`` (this interpreter) in ``cwd`` and return its output.

    :param args: Arguments after ``python``, e.g. ``["-m", "rl_zoo3.train", "--algo", "paper_dqn", ...]``
    :param cwd: Working directory (the tests give each command a temporary one)
    :param timeout: Seconds before the command is killed
    :param check: Fail the test, showing the output, if the command exits non-zero
    :param env: Extra environment variables
    :return: The finished process, with ``stdout`` and ``stderr`` as text
    """
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=zoo_env(**env), check=False
    )
    if check and result.returncode != 0:
        pytest.fail(f"`python {' '.join(args)}` exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def start_python(args: list[str], cwd: Path, **env: str) -> subprocess.Popen:
    """
    Start ``python ARGS`` (this interpreter) in ``cwd`` without waiting, e.g. to send it a signal.

    :param args: Arguments after ``python``
    :param cwd: Working directory
    :param env: Extra environment variables
    :return: The running process, with ``stdout`` and ``stderr`` pipes in text mode
    """
    return subprocess.Popen(
        [sys.executable, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=zoo_env(**env)
    )
