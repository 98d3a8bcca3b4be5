"""
The rl-zoo3 registration hook: what it registers, what it costs at start-up, how it refuses an untested rl-zoo3, and
how its modules share the switch that turns it off.
"""

import ast
import json
from pathlib import Path

import pytest
from zoo_cli import require_installed_hook, run_python

from sb3_dqn_paper.errors import UnsupportedRLZooError
from sb3_dqn_paper.zoo.registration import check_rl_zoo3_version, parse_release

pytestmark = pytest.mark.zoo

REGISTRY_PROBE = """
import json, rl_zoo3
from rl_zoo3 import hyperparams_opt
from rl_zoo3.exp_manager import ExperimentManager
import argparse
manager = ExperimentManager(argparse.Namespace(), "paper_dqn", "CartPole-v1", "never_created")
other = ExperimentManager(argparse.Namespace(), "dqn", "CartPole-v1", "never_created")
print(json.dumps({
    "algo": rl_zoo3.ALGOS.get("paper_dqn", type(None)).__qualname__,
    "sampler": getattr(hyperparams_opt.HYPERPARAMS_SAMPLER.get("paper_dqn"), "__module__", None),
    "converter": getattr(hyperparams_opt.HYPERPARAMS_CONVERTER.get("paper_dqn"), "__module__", None),
    "config": manager.config,
    "other_config": other.config,
}))
"""


@pytest.mark.slow
def test_hook_registers_everything_when_rl_zoo3_is_imported(tmp_path) -> None:
    require_installed_hook()
    result = run_python(["-c", REGISTRY_PROBE], cwd=tmp_path)
    registry = json.loads(result.stdout.strip().splitlines()[-1])
    assert registry["algo"] == "PaperDQN"
    assert registry["sampler"] == registry["converter"] == "sb3_dqn_paper.zoo.sampler"
    assert registry["config"].endswith("paper_dqn.yml")
    from sb3_dqn_paper.zoo.hyperparams import default_hyperparams_path

    assert registry["config"] == str(default_hyperparams_path())
    # other algorithms keep rl-zoo3's own file
    assert registry["other_config"].endswith("rl_zoo3/hyperparams/dqn.yml")


@pytest.mark.slow
def test_start_up_imports_nothing_heavy(tmp_path) -> None:
    require_installed_hook()
    result = run_python(["-X", "importtime", "-c", "pass"], cwd=tmp_path)
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert "sb3_dqn_paper.zoo.hook" in imported, "the .pth did not import the hook"
    heavy = [name for name in imported if name.split(".")[0] in ("torch", "stable_baselines3", "rl_zoo3", "optuna", "numpy")]
    assert heavy == []
    # not even typing is pulled in by this project's start-up modules
    ours = [name for name in imported if name.startswith("sb3_dqn_paper")]
    # the hook's switch (SB3_DQN_PAPER_ZOO_HOOK) is its own module, shared with registration.py, which the hook
    # imports only when rl-zoo3 loads; the package's face imports its version, a one-constant module
    # (-X importtime lists a module when its import finishes: version inside sb3_dqn_paper comes first)
    face = ["sb3_dqn_paper.version", "sb3_dqn_paper"]
    assert ours == [*face, "sb3_dqn_paper.zoo", "sb3_dqn_paper.zoo.switch", "sb3_dqn_paper.zoo.hook"]


@pytest.mark.slow
def test_switched_off_hook_leaves_rl_zoo3_alone_and_explicit_module_still_works(tmp_path) -> None:
    require_installed_hook()
    off = run_python(
        ["-m", "rl_zoo3.train", "--algo", "paper_dqn", "--help"], cwd=tmp_path, check=False, SB3_DQN_PAPER_ZOO_HOOK="0"
    )
    assert off.returncode == 2
    assert "invalid choice: 'paper_dqn'" in off.stderr
    explicit = run_python(
        ["-m", "sb3_dqn_paper.zoo", "train", "--algo", "paper_dqn", "--help"], cwd=tmp_path, SB3_DQN_PAPER_ZOO_HOOK="0"
    )
    assert "paper_dqn" in explicit.stdout


@pytest.mark.slow
def test_untested_rl_zoo3_fails_loudly_naming_this_package(tmp_path) -> None:
    require_installed_hook()
    fake_version = (
        "import sys, types\n"
        "module = types.ModuleType('rl_zoo3._version'); module.__version__ = '2.10.0'\n"
        "sys.modules['rl_zoo3._version'] = module\n"
        "import rl_zoo3\n"
    )
    result = run_python(["-c", fake_version], cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "UnsupportedRLZooError" in result.stderr
    assert "sb3-dqn-paper" in result.stderr and "rl_zoo3 2.10.0 is installed" in result.stderr
    assert "SB3_DQN_PAPER_ZOO_HOOK=0" in result.stderr
    # the way out that the message names works
    bypass = run_python(
        ["-c", fake_version + "print('imported', 'paper_dqn' in rl_zoo3.ALGOS)"], cwd=tmp_path, SB3_DQN_PAPER_ZOO_HOOK="0"
    )
    assert bypass.stdout.strip() == "imported False"


@pytest.mark.parametrize(
    ("version", "accepted"),
    [
        ("2.9.2", True),
        ("2.9.3", True),
        ("2.9.10", True),
        ("2.9.1", False),
        ("2.10.0", False),
        ("2.10.0a1", False),
        ("3.0", False),
    ],
)
def test_version_range(version: str, accepted: bool) -> None:
    if accepted:
        check_rl_zoo3_version(version)
    else:
        with pytest.raises(UnsupportedRLZooError, match=r"rl_zoo3>=2\.9\.2,<2\.10"):
            check_rl_zoo3_version(version)


def test_parse_release() -> None:
    assert parse_release("2.9.2") == (2, 9, 2)
    assert parse_release("2.10") == (2, 10, 0)
    assert parse_release("2.9.2.dev3+g1234") == (2, 9, 2)
    with pytest.raises(UnsupportedRLZooError, match="cannot read"):
        parse_release("unknown")


def test_explicit_registration_in_process_is_idempotent() -> None:
    from rl_zoo3 import hyperparams_opt
    from rl_zoo3.exp_manager import ExperimentManager
    from rl_zoo3.utils import ALGOS

    from sb3_dqn_paper import PaperDQN
    from sb3_dqn_paper.zoo.registration import register

    register()
    init = ExperimentManager.__init__
    register()
    assert ALGOS["paper_dqn"] is PaperDQN
    assert ExperimentManager.__init__ is init, "a second registration must not wrap ExperimentManager again"
    assert hyperparams_opt.HYPERPARAMS_SAMPLER["paper_dqn"].__name__ == "sample_paper_dqn_params"


def test_zoo_modules_do_not_import_each_other() -> None:
    """hook.py and registration.py share the switch module instead of importing each other."""
    zoo = Path(__file__).resolve().parents[1] / "sb3_dqn_paper" / "zoo"

    def imported(name: str) -> set[str]:
        names = set()
        for node in ast.walk(ast.parse((zoo / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        return names

    assert "sb3_dqn_paper.zoo.hook" not in imported("registration")
    assert "sb3_dqn_paper.zoo.switch" in imported("registration") and "sb3_dqn_paper.zoo.switch" in imported("hook")
    from sb3_dqn_paper.zoo import hook, registration, switch

    assert hook.DISABLE_VARIABLE == registration.DISABLE_VARIABLE == switch.DISABLE_VARIABLE == "SB3_DQN_PAPER_ZOO_HOOK"
