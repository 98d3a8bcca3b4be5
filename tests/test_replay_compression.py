"""
FrameStackReplayBuffer with ``compression``: the same transitions as SB3's buffer, honest memory figures, save/load,
checkpoints and clear errors. (The property test over generated sequences, and PaperDQN learning exactly as with
SB3's buffer, compressed or not, are in ``test_replay_buffer.py``.)
"""

import sys

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.vec_env import VecTransposeImage
from test_replay_buffer import (
    SMALL_FRAME,
    RandomFramesEnv,
    ScriptedEnv,
    assert_same_rows,
    assert_same_samples,
    fill,
    image_env,
    make_pair,
    stacked,
)

from sb3_dqn_paper import PaperDQN
from sb3_dqn_paper.checkpoint import load_checkpoint, read_checkpoint_meta, save_checkpoint
from sb3_dqn_paper.errors import CheckpointError, InsufficientMemoryError, InvalidArgumentError
from sb3_dqn_paper.frame_codecs import BYTES_OBJECT_OVERHEAD, frame_codec
from sb3_dqn_paper.replay_buffer import FrameStackReplayBuffer

th.set_num_threads(1)

CODECS = ["zstd", "lz4"]
ATARI_SPACE = spaces.Box(0, 255, (4, 84, 84), np.uint8)


def stored_frames(buffer: FrameStackReplayBuffer) -> list[bytes]:
    """The stored (compressed or raw) frames, the zero frame included."""
    return [frame for frame in buffer.frames if frame is not None]


@pytest.mark.parametrize("compression", CODECS)
def test_real_atari_frames_compressed_match_sb3(compression: str) -> None:
    from sb3_dqn_paper.atari import make_paper_atari_env

    venv = VecTransposeImage(make_paper_atari_env("BreakoutNoFrameskip-v4", n_envs=2, seed=0))
    ours, reference = make_pair(venv, 2 * 150, compression=compression)
    fill(venv, [ours, reference], 400)  # wraps around: every slot is overwritten at least once
    assert reference.dones.sum() >= 2
    rows, envs = np.nonzero(ours.valid_mask())
    assert len(rows) > 250
    assert_same_rows(ours, reference, rows, envs)
    # every frame is compressed, to far less than its 7,056 bytes
    frames = stored_frames(ours)
    assert len(frames) == ours.compressed_frame_count == 2 * ours.frame_slots + 1
    assert all(len(frame) < 7_056 for frame in frames)
    assert ours.compressed_payload_bytes == sum(len(frame) for frame in frames) < 0.15 * 7_056 * len(frames)
    usage = ours.memory_usage()
    assert usage["compressed_frames"] == sum(len(frame) + BYTES_OBJECT_OVERHEAD for frame in frames)
    assert usage["frames"] == 8 * len(ours.frames)  # one pointer per slot
    assert abs(sys.getsizeof(frames[0]) - len(frames[0]) - (BYTES_OBJECT_OVERHEAD - 8)) == 0


def test_frames_that_do_not_compress_are_stored_raw() -> None:
    # uniformly random frames do not compress: they are stored as their raw bytes, never larger
    venv = stacked([lambda: RandomFramesEnv((*SMALL_FRAME, 1), 5, 0.5)], 4, True)
    ours, reference = make_pair(venv, 30, compression="zstd")
    fill(venv, [ours, reference], 30)
    raw_size = int(np.prod(SMALL_FRAME))
    lengths = [len(frame) for frame in stored_frames(ours)]
    assert max(lengths) == raw_size and lengths.count(raw_size) == len(lengths) - 1  # all but the zero frame
    assert_same_rows(ours, reference, *np.nonzero(ours.valid_mask()))
    # and frames that compress are stored compressed
    venv = stacked([lambda: RandomFramesEnv((*SMALL_FRAME, 1), 5, 0.5, palette=3)], 4, True)
    ours, reference = make_pair(venv, 30, compression="zstd")
    fill(venv, [ours, reference], 30)
    assert max(len(frame) for frame in stored_frames(ours)) < raw_size
    assert_same_rows(ours, reference, *np.nonzero(ours.valid_mask()))


@pytest.mark.parametrize("compression", CODECS)
def test_compressed_buffer_gives_the_same_samples_as_the_raw_one(compression: str) -> None:
    scripts = [[(3, False), (6, True)], [(5, False)], [(1, False)]]
    venv = stacked([lambda s=s: ScriptedEnv(s) for s in scripts], 4, False)
    raw, reference = make_pair(venv, 3 * 10, extra_frame_fraction=0.0)
    common = dict(device="cpu", n_envs=3, extra_frame_fraction=0.0)
    compressed = FrameStackReplayBuffer(3 * 10, venv.observation_space, venv.action_space, **common, compression=compression)
    fill(venv, [raw, compressed, reference], 47)
    np.testing.assert_array_equal(raw.valid_mask(), compressed.valid_mask())
    for seed in range(3):
        assert_same_samples(compressed, raw, batch_size=64, seed=seed)
    compressed.reset()
    assert compressed.size() == 0
    fill(venv, [compressed], 5, seed=3)
    assert compressed.size() == 5


@pytest.mark.parametrize("compression", CODECS)
def test_save_load_round_trip_compressed(tmp_path, compression: str) -> None:
    scripts = [[(3, False), (6, True)], [(5, False)]]
    venv = stacked([lambda s=s: ScriptedEnv(s, frame_shape=(36, 36, 1)) for s in scripts], 4, True)
    kwargs = dict(buffer_size=2 * 12, learning_starts=10**6, batch_size=8, device="cpu")
    model = PaperDQN("CnnPolicy", venv, replay_buffer_kwargs=dict(compression=compression), **kwargs)
    ours = model.replay_buffer
    assert isinstance(ours, FrameStackReplayBuffer) and ours.compression == compression
    reference = ReplayBuffer(2 * 12, ours.observation_space, ours.action_space, device="cpu", n_envs=2)
    last_obs = fill(venv, [ours, reference], 30)
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    loaded_model = PaperDQN("CnnPolicy", venv, replay_buffer_kwargs=dict(compression=compression), **kwargs)
    loaded_model.load_replay_buffer(tmp_path / "buffer.pkl")
    loaded = loaded_model.replay_buffer
    assert isinstance(loaded, FrameStackReplayBuffer) and loaded is not ours and loaded.compression == compression
    assert_same_samples(loaded, ours, batch_size=32, seed=11)
    # both go on identically, compressing new frames after the load
    fill(venv, [ours, reference, loaded], 7, seed=5, obs=last_obs)
    assert loaded.frames_written.tolist() == ours.frames_written.tolist()
    assert loaded.compressed_payload_bytes == ours.compressed_payload_bytes
    assert_same_samples(loaded, ours, batch_size=32, seed=12)
    assert_same_rows(loaded, reference, *np.nonzero(loaded.valid_mask()))


def test_a_buffer_pickled_before_compression_existed_loads_uncompressed() -> None:
    venv = stacked([lambda: ScriptedEnv([(4, False)])], 4, True)
    ours, reference = make_pair(venv, 10)
    fill(venv, [ours, reference], 8)
    state = ours.__getstate__()
    del state["compression"]
    old = FrameStackReplayBuffer.__new__(FrameStackReplayBuffer)
    old.__setstate__(state)
    assert old.compression is None
    assert_same_samples(old, ours, batch_size=16, seed=0)


def test_memory_plan_and_check_use_an_estimate() -> None:
    big = FrameStackReplayBuffer(1_000_000, ATARI_SPACE, spaces.Discrete(18), n_envs=8, compression="zstd")
    plan = big.memory_plan()
    # pointers and row data exact, the frames estimated at 20% of 7,056 bytes plus the bytes object's overhead
    slots = 8 * big.frame_slots
    assert plan["frames"] == (slots + 1) * 8
    assert plan["compressed_frames_estimate"] == slots * (1_412 + BYTES_OBJECT_OVERHEAD)
    assert 1_400 < sum(plan.values()) / 1_000_000 < 1_500
    huge = FrameStackReplayBuffer(10**9, ATARI_SPACE, spaces.Discrete(4), compression="zstd")
    needed = sum(huge.memory_plan().values())
    with pytest.raises(
        InsufficientMemoryError, match=rf"needs {needed:,} bytes .* \(an estimate: zstd-compressed frames taken at 20%"
    ):
        huge.allocate()
    assert not huge.allocated


def test_unknown_codec_missing_package_and_gpu_store_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidArgumentError, match=r"compression must be None or one of \['lz4', 'zstd'\], got 'gzip'"):
        FrameStackReplayBuffer(100, ATARI_SPACE, spaces.Discrete(4), compression="gzip")
    with pytest.raises(InvalidArgumentError, match="keeps the compressed frames on the CPU"):
        FrameStackReplayBuffer(100, ATARI_SPACE, spaces.Discrete(4), compression="zstd", storage_device="cuda")
    on_cpu = FrameStackReplayBuffer(100, ATARI_SPACE, spaces.Discrete(4), compression="lz4", storage_device="cpu")
    assert on_cpu.compression == "lz4"
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import zstandard now fails
    frame_codec.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"needs the zstandard package.* pip install 'sb3-dqn-paper\[compression\]'"):
            FrameStackReplayBuffer(100, ATARI_SPACE, spaces.Discrete(4), compression="zstd")
    finally:
        frame_codec.cache_clear()


@pytest.mark.filterwarnings("ignore:This system does not have apparently enough memory")
def test_checkpoint_counts_the_memory_of_compressed_frames(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    psutil = pytest.importorskip("psutil")
    env = image_env(4, n_envs=2)
    model = PaperDQN(
        "CnnPolicy", env, buffer_size=200, learning_starts=10**6, replay_buffer_kwargs=dict(compression="zstd"), device="cpu"
    )
    model.learn(100)
    path = save_checkpoint(model, tmp_path / "checkpoint")
    overhead = read_checkpoint_meta(path)["replay_buffer_load_overhead_bytes"]
    assert overhead == model.replay_buffer.compressed_frame_count * (BYTES_OBJECT_OVERHEAD + 16) > 0
    loaded = load_checkpoint(path, env)
    assert_same_samples(loaded.replay_buffer, model.replay_buffer, batch_size=32, seed=0)

    import zipfile

    with zipfile.ZipFile(path) as archive:
        entry_size = archive.getinfo("checkpoint/replay_buffer.pkl").file_size

    class JustEnoughForTheFile:
        available = entry_size + overhead // 2

    monkeypatch.setattr(psutil, "virtual_memory", lambda: JustEnoughForTheFile())
    with pytest.raises(CheckpointError, match=r"loading the replay buffer in .* needs"):
        load_checkpoint(path, env)
