"""The wheel: what it puts in site-packages (only our package, the .pth and the metadata), and a non-editable install
whose .pth registers paper_dqn with rl-zoo3 and whose packaged paper_dqn.yml is the one rl-zoo3 reads."""

import json
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
from zoo_cli import PTH_NAME, REPO_ROOT, zoo_env

pytestmark = [pytest.mark.zoo, pytest.mark.network, pytest.mark.slow]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip wheel .`` of this checkout (hatchling is fetched into pip's isolated build environment)."""
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (path,) = out.glob("sb3_dqn_paper-*.whl")
    return path


def test_wheel_holds_only_our_names(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top_level = {name.split("/")[0] for name in names}
        assert top_level == {"sb3_dqn_paper", PTH_NAME, next(n for n in top_level if n.endswith(".dist-info"))}
        # the .pth runs exactly one import line: the hook, nothing else
        assert archive.read(PTH_NAME).decode().strip().splitlines() == [
            "import sb3_dqn_paper.zoo.hook; sb3_dqn_paper.zoo.hook.install()"
        ]
        packaged_yml = archive.read("sb3_dqn_paper/hyperparams/paper_dqn.yml")
    assert packaged_yml == (REPO_ROOT / "hyperparams" / "paper_dqn.yml").read_bytes()


def test_installed_wheel_registers_paper_dqn(wheel: Path, tmp_path: Path) -> None:
    # a fresh virtual environment with the wheel unpacked into its site-packages, as `pip install` does for a pure
    # wheel; the test's own environment lends the dependencies (torch, rl-zoo3, ...) through a path-only .pth file
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=False)
    python = environment / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site_packages)
    dependencies = [
        path
        for path in sys.path
        if path and Path(path).is_dir() and Path(path).resolve() != REPO_ROOT and "site-packages" in path
    ]
    assert sysconfig.get_paths()["purelib"] in dependencies
    (site_packages / "zz_test_dependencies.pth").write_text("\n".join(dependencies) + "\n")

    probe = (
        "import json, argparse, sys\n"
        "hook_loaded = 'sb3_dqn_paper.zoo.hook' in sys.modules\n"
        "import sb3_dqn_paper, rl_zoo3\n"
        "from rl_zoo3.exp_manager import ExperimentManager\n"
        "manager = ExperimentManager(argparse.Namespace(), 'paper_dqn', 'PongNoFrameskip-v4', 'never_created')\n"
        "print(json.dumps({'hook_loaded': hook_loaded, 'package': sb3_dqn_paper.__file__, 'config': manager.config,\n"
        "                  'algo': rl_zoo3.ALGOS['paper_dqn'].__module__}))\n"
    )
    result = subprocess.run(
        [str(python), "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=zoo_env(), check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["hook_loaded"] is True
    assert report["package"] == str(site_packages / "sb3_dqn_paper" / "__init__.py")
    assert report["config"] == str(site_packages / "sb3_dqn_paper" / "hyperparams" / "paper_dqn.yml")
    assert report["algo"] == "sb3_dqn_paper.paper_dqn"
