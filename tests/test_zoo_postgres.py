"""
Distributed tuning on a real PostgreSQL server: two rl-zoo3 workers share one study through Optuna's RDB storage.

The fixture starts a throw-away PostgreSQL cluster on a loopback port (installing Debian's ``postgresql``
package with apt-get when no server binaries are found), the way docs/zoo.md tells users to set one up.
Without PostgreSQL and without a way to install it (not root, no apt-get) the test is skipped with the reason,
except under CI (``CI`` set), where it fails instead: CI must run it.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from zoo_cli import require_installed_hook, zoo_env

pytestmark = [pytest.mark.zoo, pytest.mark.postgres, pytest.mark.network, pytest.mark.slow]

MAX_TOTAL_TRIALS = 6


def postgres_bin_dir() -> Path | None:
    """
    The ``bin`` folder of the newest PostgreSQL server on this machine (Debian layout), if any.

    :return: e.g. ``/usr/lib/postgresql/15/bin``, or ``None``
    """
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parent.parent.name))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def install_postgres() -> Path:
    """
    Find PostgreSQL's server binaries, installing Debian's ``postgresql`` package if needed.

    :return: The folder holding ``initdb`` and ``pg_ctl``
    """
    bin_dir = postgres_bin_dir()
    if bin_dir is not None:
        return bin_dir
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        reason = "PostgreSQL is not installed and cannot be installed here (needs apt-get as root): apt-get install postgresql"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]):
        result = subprocess.run(command, capture_output=True, text=True, env=apt_env, timeout=600, check=False)
        if result.returncode != 0:
            pytest.fail(f"`{' '.join(command)}` failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.fail("apt-get installed postgresql but no initdb was found under /usr/lib/postgresql/*/bin")
    return bin_dir


def free_loopback_port() -> int:
    """
    A TCP port on 127.0.0.1 that nothing listens on right now.

    :return: The port number
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server of its own, on a loopback port, with an empty database ``optuna``; yields its URL."""
    bin_dir = install_postgres()
    # the server refuses to run as root: as root, run it as the `postgres` user the Debian package creates
    as_server_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    # not under pytest's tmp_path: its parents are private to root, and the server must reach its folder
    base = Path(tempfile.mkdtemp(prefix="sb3-dqn-paper-pg-"))
    if as_server_user:
        shutil.chown(base, "postgres", "postgres")
    data, log = base / "data", base / "server.log"
    port = free_loopback_port()

    def server(*args: str) -> None:
        result = subprocess.run([*as_server_user, *args], capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            server_log = log.read_text()[-3000:] if log.exists() else ""
            pytest.fail(f"`{' '.join(args)}` failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}\n{server_log}")

    server(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    server(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
    try:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE optuna")
        connection.close()
        yield f"postgresql://postgres@127.0.0.1:{port}/optuna"
    finally:
        server(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def test_two_workers_share_one_study(postgres_url: str, tmp_path: Path) -> None:
    require_installed_hook()
    # as in the docs/zoo.md recipe: create the study (and the storage's tables) once, then start the workers
    optuna.create_study(storage=postgres_url, study_name="cartpole-two-workers", direction="maximize")
    workers = []
    for seed in (1, 2):
        command = [
            sys.executable, "-m", "rl_zoo3.train", "--algo", "paper_dqn", "--env", "CartPole-v1", "-optimize",
            "--storage", postgres_url, "--study-name", "cartpole-two-workers", "--max-total-trials", str(MAX_TOTAL_TRIALS),
            "--sampler", "random", "--pruner", "none", "--seed", str(seed), "-n", "800", "--n-evaluations", "1",
            "--eval-episodes", "2", "--no-optim-plots", "-f", f"logs_{seed}",
        ]  # fmt: skip
        log = open(tmp_path / f"worker_{seed}.log", "w")
        workers.append((subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=zoo_env()), log))
    for process, log in workers:
        try:
            process.wait(timeout=420)
        finally:
            if process.poll() is None:
                process.kill()
            log.close()
    outputs = [(tmp_path / f"worker_{seed}.log").read_text() for seed in (1, 2)]
    for (process, _), output in zip(workers, outputs, strict=True):
        assert process.returncode == 0, output[-4000:]

    study = optuna.load_study(study_name="cartpole-two-workers", storage=postgres_url)
    trials = study.get_trials(deepcopy=False)
    # --max-total-trials holds across both workers: no more, no fewer
    assert len(trials) == MAX_TOTAL_TRIALS
    assert sorted(trial.number for trial in trials) == list(range(MAX_TOTAL_TRIALS))
    assert all(trial.state == TrialState.COMPLETE for trial in trials), [trial.state for trial in trials]
    # each trial ran once, with its own parameters
    assert len({tuple(sorted(trial.params.items())) for trial in trials}) == MAX_TOTAL_TRIALS
    # and both workers took part (the sampler records host:pid of the worker that ran each trial)
    worker_pids = {int(trial.user_attrs["worker"].rsplit(":", 1)[1]) for trial in trials}
    assert worker_pids == {process.pid for process, _ in workers}
