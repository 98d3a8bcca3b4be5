"""
Fuzzing the loaders: random bytes, truncated files and files with changed bytes given to ``PaperDQN.load``,
``load_checkpoint`` and ``PaperDQN.load_replay_buffer`` raise only the project's own error types (or load, when
a change hits bytes that nothing reads), never a raw ``zipfile``/``pickle``/``torch`` exception.
"""

import pathlib
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch as th
from checkpoint_worker import make_env, make_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sb3_dqn_paper.checkpoint import load_checkpoint, save_checkpoint
from sb3_dqn_paper.errors import PaperDQNError
from sb3_dqn_paper.paper_dqn import PaperDQN

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def files() -> Iterator[dict[str, Any]]:
    """A small trained model, and its checkpoint, model file and replay buffer file as bytes."""
    th.set_num_threads(1)
    model = make_model("cartpole", make_env("cartpole", seed=0))
    model.learn(80)
    with tempfile.TemporaryDirectory() as folder:
        save_checkpoint(model, pathlib.Path(folder) / "checkpoint.zip")
        model.save(pathlib.Path(folder) / "model.zip")
        model.save_replay_buffer(pathlib.Path(folder) / "buffer.pkl")
        contents = {name: (pathlib.Path(folder) / name).read_bytes() for name in ("checkpoint.zip", "model.zip", "buffer.pkl")}
        yield {"model": model, "contents": contents, "folder": pathlib.Path(folder)}


LOADERS: dict[str, tuple[str, Callable[[Any, pathlib.Path], Any]]] = {
    "PaperDQN.load": ("model.zip", lambda model, path: PaperDQN.load(path, env=make_env("cartpole", seed=0))),
    "load_checkpoint": ("checkpoint.zip", lambda model, path: load_checkpoint(path, env=make_env("cartpole", seed=0))),
    "load_replay_buffer": ("buffer.pkl", lambda model, path: model.load_replay_buffer(path)),
}


def load_bytes(files: dict[str, Any], loader: str, content: bytes) -> None:
    name, load = LOADERS[loader]
    path = files["folder"] / f"fuzzed-{name}"
    path.write_bytes(content)
    buffer = files["model"].replay_buffer
    try:
        load(files["model"], path)
    finally:
        files["model"].replay_buffer = buffer


@pytest.mark.parametrize("loader", LOADERS)
@FUZZ
@given(content=st.binary(max_size=2048))
def test_random_bytes_raise_the_projects_error(files: dict[str, Any], loader: str, content: bytes) -> None:
    with pytest.raises(PaperDQNError):
        load_bytes(files, loader, content)


@pytest.mark.parametrize("loader", LOADERS)
@FUZZ
@given(fraction=st.floats(0.0, 1.0, exclude_max=True))
def test_truncated_files_raise_the_projects_error(files: dict[str, Any], loader: str, fraction: float) -> None:
    content = files["contents"][LOADERS[loader][0]]
    with pytest.raises(PaperDQNError):
        load_bytes(files, loader, content[: int(len(content) * fraction)])


@pytest.mark.parametrize("loader", LOADERS)
@FUZZ
@given(data=st.data())
def test_changed_bytes_load_or_raise_the_projects_error(files: dict[str, Any], loader: str, data: st.DataObject) -> None:
    content = bytearray(files["contents"][LOADERS[loader][0]])
    changes = data.draw(st.lists(st.tuples(st.integers(0, len(content) - 1), st.integers(0, 255)), min_size=1, max_size=8))
    for position, value in changes:
        content[position] = value
    try:
        load_bytes(files, loader, bytes(content))
    except PaperDQNError:
        pass
