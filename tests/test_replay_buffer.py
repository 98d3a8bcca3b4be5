"""
FrameStackReplayBuffer against SB3's ReplayBuffer: the same transitions from the same frame-stacked env sequences.

Every sequence goes through SB3's real ``VecFrameStack`` (and ``VecTransposeImage`` for channel-first stacks) over
small image envs, and is stored in both buffers the way ``OffPolicyAlgorithm._store_transition`` stores it.
"""

import pickle
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecFrameStack, VecTransposeImage

from sb3_dqn_paper import PaperDQN
from sb3_dqn_paper.errors import InsufficientMemoryError, InvalidArgumentError, UnsupportedObservationError
from sb3_dqn_paper.replay_buffer import FrameStackReplayBuffer, detect_frame_stack

th.set_num_threads(1)

#: Frame height and width for the small envs: larger than any channel count used, so SB3's channel heuristic holds.
SMALL_FRAME = (9, 10)


class RandomFramesEnv(gym.Env):
    """
    Image env with random frames, random episode lengths and random ends (termination or truncation).

    :param frame_shape: Shape of a frame (H, W, C)
    :param max_episode_steps: Episode lengths are uniform in 1..max_episode_steps
    :param terminate_prob: Probability that an episode ends by termination rather than truncation
    :param palette: 0 for uniformly random frames; n > 0 to draw each frame among n fixed frames, the first all
        black, so that stacks often repeat and equal the zero padding
    """

    def __init__(self, frame_shape: tuple[int, ...], max_episode_steps: int, terminate_prob: float, palette: int = 0) -> None:
        self.observation_space = spaces.Box(0, 255, frame_shape, np.uint8)
        self.action_space = spaces.Discrete(5)
        self.max_episode_steps = max_episode_steps
        self.terminate_prob = terminate_prob
        self.palette_size = palette
        self._length = self._t = 0

    def _frame(self) -> np.ndarray:
        shape = self.observation_space.shape
        if self.palette_size:
            index = int(self.np_random.integers(self.palette_size))
            return np.full(shape, 80 * index, dtype=np.uint8)
        return self.np_random.integers(0, 256, size=shape, dtype=np.uint8)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._length = int(self.np_random.integers(1, self.max_episode_steps + 1))
        self._t = 0
        return self._frame(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self._t += 1
        ended = self._t >= self._length
        terminated = ended and bool(self.np_random.random() < self.terminate_prob)
        return self._frame(), float(self.np_random.normal()), terminated, ended and not terminated, {}


class ScriptedEnv(gym.Env):
    """
    Image env whose frame ``i`` (counted over the env's life, from 1) is filled with ``i``, with scripted episodes.

    :param episodes: (length, truncated) of each episode, repeated
    :param frame_shape: Shape of a frame (H, W, C)
    """

    def __init__(self, episodes: list[tuple[int, bool]], frame_shape: tuple[int, ...] = (*SMALL_FRAME, 1)) -> None:
        self.observation_space = spaces.Box(0, 255, frame_shape, np.uint8)
        self.action_space = spaces.Discrete(3)
        self.episodes = episodes
        self.frame_count = self.episode = self._t = 0

    def _frame(self) -> np.ndarray:
        self.frame_count += 1
        return np.full(self.observation_space.shape, self.frame_count, dtype=np.uint8)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._t = 0
        return self._frame(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self._t += 1
        length, truncated = self.episodes[self.episode % len(self.episodes)]
        ended = self._t >= length
        if ended:
            self.episode += 1
        return self._frame(), float(self.frame_count), ended and not truncated, ended and truncated, {}


def stacked(env_fns: list, frame_stack: int, channels_first: bool) -> VecEnv:
    """VecFrameStack over a DummyVecEnv, transposed to channel-first as SB3 does for the network if asked."""
    venv = VecFrameStack(DummyVecEnv(env_fns), n_stack=frame_stack)
    return VecTransposeImage(venv) if channels_first else venv


def fill(venv: VecEnv, buffers: list[ReplayBuffer], n_steps: int, seed: int = 0, obs: np.ndarray | None = None) -> np.ndarray:
    """
    Run ``venv`` with random actions and store each step in every buffer, as ``_store_transition`` does.

    :return: The last observation, to go on from it (``obs``) instead of resetting ``venv``
    """
    rng = np.random.default_rng(seed)
    if obs is None:
        venv.seed(seed)
        obs = venv.reset()
    for _ in range(n_steps):
        actions = rng.integers(0, venv.action_space.n, size=venv.num_envs)
        new_obs, rewards, dones, infos = venv.step(actions)
        next_obs = new_obs.copy()
        for i, done in enumerate(dones):
            if done and infos[i].get("terminal_observation") is not None:
                next_obs[i] = infos[i]["terminal_observation"]
        for buffer in buffers:
            buffer.add(obs, next_obs, actions, rewards, dones, infos)
        obs = new_obs
    return obs


def make_pair(
    venv: VecEnv, buffer_size: int, handle_timeout_termination: bool = True, **kwargs
) -> tuple[FrameStackReplayBuffer, ReplayBuffer]:
    """The frame-stack buffer and SB3's, for the same env."""
    common = dict(device="cpu", n_envs=venv.num_envs, handle_timeout_termination=handle_timeout_termination)
    ours = FrameStackReplayBuffer(buffer_size, venv.observation_space, venv.action_space, **common, **kwargs)
    reference = ReplayBuffer(buffer_size, venv.observation_space, venv.action_space, **common)
    return ours, reference


def assert_same_rows(ours: FrameStackReplayBuffer, reference: ReplayBuffer, rows: np.ndarray, envs: np.ndarray) -> None:
    """Every field of the given rows is identical in both buffers."""
    samples = ours.get_samples(rows, envs)
    np.testing.assert_array_equal(samples.observations.numpy(), reference.observations[rows, envs])
    np.testing.assert_array_equal(samples.next_observations.numpy(), reference.next_observations[rows, envs])
    assert samples.actions.dtype == th.as_tensor(reference.actions).dtype
    np.testing.assert_array_equal(samples.actions.numpy(), reference.actions[rows, envs])
    np.testing.assert_array_equal(samples.rewards.numpy(), reference.rewards[rows, envs].reshape(-1, 1))
    masked_dones = reference.dones[rows, envs] * (1 - reference.timeouts[rows, envs])
    np.testing.assert_array_equal(samples.dones.numpy(), masked_dones.reshape(-1, 1))
    np.testing.assert_array_equal(ours.dones[rows, envs], reference.dones[rows, envs].astype(bool))
    np.testing.assert_array_equal(ours.timeouts[rows, envs], reference.timeouts[rows, envs].astype(bool))


def assert_same_samples(ours: ReplayBuffer, reference: ReplayBuffer, batch_size: int, seed: int) -> None:
    """``sample`` returns identical tensors from both buffers for the same RNG state."""
    np.random.seed(seed)
    mine = ours.sample(batch_size)
    np.random.seed(seed)
    theirs = reference.sample(batch_size)
    for field in mine._fields:
        a, b = getattr(mine, field), getattr(theirs, field)
        if b is None:  # n-step discounts
            assert a is None, field
            continue
        assert a.dtype == b.dtype, field
        assert th.equal(a, b), field


def rows_by_age(buffer: ReplayBuffer) -> np.ndarray:
    """Row indices from the newest to the oldest."""
    return (buffer.pos - 1 - np.arange(buffer.size())) % buffer.buffer_size


#: The generated sequences: env layout, episode ends, frame contents, buffer size and wrap-around.
SEQUENCES = dict(
    n_envs=st.integers(1, 3),
    frame_stack=st.integers(1, 4),
    depth=st.integers(1, 2),
    channels_first=st.booleans(),
    rows_per_env=st.integers(2, 12),
    extra_steps=st.integers(0, 30),
    max_episode_steps=st.integers(1, 10),
    terminate_prob=st.sampled_from([0.0, 0.5, 1.0]),
    palette=st.sampled_from([0, 0, 1, 2, 3]),
    handle_timeout_termination=st.booleans(),
    ample_frames=st.booleans(),
    seed=st.integers(0, 2**16),
)


def check_same_transitions_as_sb3(
    n_envs: int,
    frame_stack: int,
    depth: int,
    channels_first: bool,
    rows_per_env: int,
    extra_steps: int,
    max_episode_steps: int,
    terminate_prob: float,
    palette: int,
    handle_timeout_termination: bool,
    ample_frames: bool,
    seed: int,
    compression: str | None = None,
) -> None:
    """Fill both buffers with one generated sequence; every valid row and ``sample`` equal SB3's."""
    env_fns = [
        lambda: RandomFramesEnv((*SMALL_FRAME, depth), max_episode_steps, terminate_prob, palette) for _ in range(n_envs)
    ]
    venv = stacked(env_fns, frame_stack, channels_first)
    # ample: room for the worst case (2 frames per transition), so every row SB3 holds is valid here too
    ours, reference = make_pair(
        venv,
        rows_per_env * n_envs,
        handle_timeout_termination,
        frame_stack=frame_stack,
        extra_frame_fraction=1.0 if ample_frames else 0.0,
        compression=compression,
    )
    n_steps = rows_per_env + extra_steps  # wraps around whenever extra_steps > 0
    fill(venv, [ours, reference], n_steps, seed)

    assert (ours.size(), ours.pos, ours.full) == (reference.size(), reference.pos, reference.full)
    valid = ours.valid_mask()
    assert not valid[ours.size() :].any()
    newest_first = valid[rows_by_age(ours)]
    assert newest_first[0].all(), "the newest transition of every env is always valid"
    # the valid rows of each env are its most recent ones: once a row is invalid, every older one is too
    assert not (np.diff(newest_first.astype(int), axis=0) > 0).any()
    if ample_frames:
        assert valid[: ours.size()].all()
    rows, envs = np.nonzero(valid)
    assert_same_rows(ours, reference, rows, envs)
    if ample_frames:
        assert_same_samples(ours, reference, batch_size=7, seed=seed)


@pytest.mark.slow
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**SEQUENCES)
def test_same_transitions_as_sb3_replay_buffer(**sequence: Any) -> None:
    check_same_transitions_as_sb3(**sequence)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(compression=st.sampled_from(["zstd", "lz4"]), **SEQUENCES)
def test_same_transitions_as_sb3_replay_buffer_with_compression(compression: str, **sequence: Any) -> None:
    # palette frames compress (stored compressed); uniformly random ones do not (stored raw): both paths run
    check_same_transitions_as_sb3(**sequence, compression=compression)


@pytest.mark.parametrize("channels_first", [True, False])
def test_episode_start_is_zero_padded(channels_first: bool) -> None:
    venv = stacked([lambda: ScriptedEnv([(2, False), (5, False)])], 4, channels_first)
    ours, reference = make_pair(venv, 10)
    fill(venv, [ours, reference], 6)
    samples = ours.get_samples(np.arange(6), np.zeros(6, dtype=int))
    obs = samples.observations.numpy()
    if not channels_first:
        obs = np.moveaxis(obs, -1, 1)
    # frames: 1 2 3 (episode 1: reset, step, terminal), 4 5 6 ... (episode 2). Newest frame of each obs:
    np.testing.assert_array_equal(obs[:, -1, 0, 0], [1, 2, 4, 5, 6, 7])
    # the first obs of episode 2 (row 2) holds only its reset frame, nothing of episode 1
    np.testing.assert_array_equal(obs[2, :, 0, 0], [0, 0, 0, 4])
    np.testing.assert_array_equal(obs[3, :, 0, 0], [0, 0, 4, 5])
    assert_same_rows(ours, reference, np.arange(6), np.zeros(6, dtype=int))


def test_terminal_frame_comes_from_infos() -> None:
    venv = stacked([lambda: ScriptedEnv([(2, False), (5, False)])], 4, True)
    ours, reference = make_pair(venv, 10)
    fill(venv, [ours, reference], 4)
    samples = ours.get_samples(np.arange(4), np.zeros(4, dtype=int))
    next_obs = samples.next_observations.numpy()[:, :, 0, 0]
    # row 1 ends episode 1: its next obs ends with the terminal frame 3, not with frame 4 (the next episode's first)
    np.testing.assert_array_equal(next_obs[1], [0, 1, 2, 3])
    np.testing.assert_array_equal(samples.observations.numpy()[2, :, 0, 0], [0, 0, 0, 4])
    np.testing.assert_array_equal(samples.dones.numpy().ravel(), [0, 1, 0, 0])
    assert_same_rows(ours, reference, np.arange(4), np.zeros(4, dtype=int))


@pytest.mark.parametrize("handle_timeout_termination", [True, False])
def test_timeouts_and_terminations(handle_timeout_termination: bool) -> None:
    venv = stacked([lambda: ScriptedEnv([(2, True), (3, False)])], 4, True)
    ours, reference = make_pair(venv, 10, handle_timeout_termination)
    fill(venv, [ours, reference], 5)
    samples = ours.get_samples(np.arange(5), np.zeros(5, dtype=int))
    # row 1 is a timeout (truncation), row 4 a termination
    np.testing.assert_array_equal(ours.dones[:5, 0], [0, 1, 0, 0, 1])
    np.testing.assert_array_equal(ours.timeouts[:5, 0], [0, handle_timeout_termination, 0, 0, 0])
    expected_dones = [0, 0 if handle_timeout_termination else 1, 0, 0, 1]
    np.testing.assert_array_equal(samples.dones.numpy().ravel(), expected_dones)
    # the timeout keeps its real next observation, which bootstrapping needs
    np.testing.assert_array_equal(samples.next_observations.numpy()[1, :, 0, 0], [0, 1, 2, 3])
    assert_same_rows(ours, reference, np.arange(5), np.zeros(5, dtype=int))


def test_several_envs_with_different_episode_ends() -> None:
    scripts = [[(2, False)], [(3, True), (1, False)], [(7, False)]]
    venv = stacked([lambda s=s: ScriptedEnv(s) for s in scripts], 4, True)
    ours, reference = make_pair(venv, 3 * 12)
    fill(venv, [ours, reference], 12)
    assert ours.valid_mask().all()
    rows, envs = np.nonzero(ours.valid_mask())
    assert_same_rows(ours, reference, rows, envs)
    # row 2 of env 0 starts a new episode while envs 1 and 2 continue theirs
    obs = ours.get_samples(np.array([2, 2, 2]), np.array([0, 1, 2])).observations.numpy()[:, :, 0, 0]
    np.testing.assert_array_equal(obs, [[0, 0, 0, 4], [0, 1, 2, 3], [0, 1, 2, 3]])


def test_wrap_around_excludes_stale_rows_and_never_samples_them() -> None:
    # one-step episodes: every transition needs two frames, so with no spare slots the oldest rows lose theirs
    venv = stacked([lambda: ScriptedEnv([(1, False)]), lambda: ScriptedEnv([(3, False)])], 4, True)
    ours, reference = make_pair(venv, 2 * 16, extra_frame_fraction=0.0)
    fill(venv, [ours, reference], 40)
    valid = ours.valid_mask()
    newest_first = valid[rows_by_age(ours)]
    assert newest_first[:, 1].all(), "episodes of 3 steps fit in the spare slots: env 1 keeps every row"
    stale = ~newest_first[:, 0]
    assert 0 < stale.sum() < 16 and stale[-int(stale.sum()) :].all(), "only the oldest rows of env 0 are excluded"
    np.random.seed(0)
    rows, envs = ours.sample_indices(5000)
    assert valid[rows, envs].all()
    assert len(set(zip(rows, envs, strict=True))) == valid.sum(), "every valid row can be drawn"
    assert_same_rows(ours, reference, rows, envs)
    with pytest.raises(IndexError, match="not valid"):
        stale_row = rows_by_age(ours)[-1]
        ours.get_samples(np.array([stale_row]), np.array([0]))


def test_no_frame_of_the_overwritten_past_leaks_after_wrap() -> None:
    # long episodes, buffer of 8 rows filled 5 times: every row is valid and rebuilt from the right frames
    venv = stacked([lambda: ScriptedEnv([(100, False)])], 4, False)
    ours, reference = make_pair(venv, 8, extra_frame_fraction=0.0)
    fill(venv, [ours, reference], 40)
    assert ours.valid_mask().all()
    assert_same_rows(ours, reference, np.arange(8), np.zeros(8, dtype=int))
    assert_same_samples(ours, reference, batch_size=32, seed=3)


def test_reset_empties_the_buffer() -> None:
    venv = stacked([lambda: ScriptedEnv([(4, False)])], 4, True)
    ours, reference = make_pair(venv, 8)
    fill(venv, [ours], 11)
    ours.reset()
    assert ours.size() == 0 and not ours.valid_mask().any()
    with pytest.raises(ValueError, match="empty"):
        ours.sample(4)
    fill(venv, [ours, reference], 5, seed=1)
    assert_same_rows(ours, reference, np.arange(5), np.zeros(5, dtype=int))


def test_observations_that_are_not_vecframestack_stacks_are_stored_exactly() -> None:
    space = spaces.Box(0, 255, (4, *SMALL_FRAME), np.uint8)
    ours = FrameStackReplayBuffer(20, space, spaces.Discrete(2), device="cpu", extra_frame_fraction=4.0)
    reference = ReplayBuffer(20, space, spaces.Discrete(2), device="cpu")
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match="not obs shifted by one frame"):
        for _ in range(10):
            obs, next_obs = (rng.integers(0, 256, size=(1, *space.shape), dtype=np.uint8) for _ in range(2))
            for buffer in (ours, reference):
                buffer.add(obs, next_obs, np.array([1]), np.array([0.5]), np.array([False]), [{}])
    assert_same_rows(ours, reference, np.arange(10), np.zeros(10, dtype=int))


def test_save_load_round_trip(tmp_path) -> None:
    scripts = [[(3, False), (6, True)], [(5, False)]]
    venv = stacked([lambda s=s: ScriptedEnv(s, frame_shape=(36, 36, 1)) for s in scripts], 4, True)
    model = PaperDQN("CnnPolicy", venv, buffer_size=2 * 12, learning_starts=10**6, batch_size=8, device="cpu")
    ours = model.replay_buffer
    assert isinstance(ours, FrameStackReplayBuffer)
    reference = ReplayBuffer(2 * 12, ours.observation_space, ours.action_space, device="cpu", n_envs=2)
    last_obs = fill(venv, [ours, reference], 30)
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    loaded_model = PaperDQN("CnnPolicy", venv, buffer_size=2 * 12, learning_starts=10**6, batch_size=8, device="cpu")
    loaded_model.load_replay_buffer(tmp_path / "buffer.pkl")
    loaded = loaded_model.replay_buffer
    assert isinstance(loaded, FrameStackReplayBuffer) and loaded is not ours
    assert_same_samples(loaded, ours, batch_size=32, seed=11)
    # both go on identically: the per-env continuation state is saved too
    fill(venv, [ours, reference, loaded], 7, seed=5, obs=last_obs)
    assert loaded.frames_written.tolist() == ours.frames_written.tolist()
    assert_same_samples(loaded, ours, batch_size=32, seed=12)
    rows, envs = np.nonzero(loaded.valid_mask())
    assert_same_rows(loaded, reference, rows, envs)


def test_torch_frame_store_gives_the_same_samples() -> None:
    # The CUDA store is a torch uint8 tensor; the same code path runs here on a CPU tensor
    venv = stacked([lambda: RandomFramesEnv((*SMALL_FRAME, 1), 6, 0.5)] * 2, 4, False)
    ours, reference = make_pair(venv, 2 * 10)
    ours.allocate()
    ours.frames = th.from_numpy(ours.frames)
    assert ours.frames_are_tensor
    fill(venv, [ours, reference], 25)
    rows, envs = np.nonzero(ours.valid_mask())
    assert_same_rows(ours, reference, rows, envs)
    restored = pickle.loads(pickle.dumps(ours))
    assert restored.frames_are_tensor
    assert_same_samples(restored, ours, batch_size=16, seed=2)


@pytest.mark.cuda
@pytest.mark.skipif(not th.cuda.is_available(), reason="needs a CUDA device")
def test_frames_on_cuda_give_the_same_samples() -> None:  # pragma: no cover - no GPU in CI
    venv = stacked([lambda: RandomFramesEnv((*SMALL_FRAME, 1), 6, 0.5)] * 2, 4, True)
    ours, reference = make_pair(venv, 2 * 10)
    ours.device = th.device("cuda")
    fill(venv, [ours, reference], 25)
    assert ours.frames_are_tensor and ours.frames.device.type == "cuda"
    samples = ours.get_samples(*np.nonzero(ours.valid_mask()))
    assert samples.observations.device.type == "cuda"
    rows, envs = np.nonzero(ours.valid_mask())
    np.testing.assert_array_equal(samples.observations.cpu().numpy(), reference.observations[rows, envs])
    np.testing.assert_array_equal(samples.next_observations.cpu().numpy(), reference.next_observations[rows, envs])


@pytest.mark.parametrize(
    "space",
    [
        spaces.Box(0, 255, (3, 84, 84), np.uint8),  # one RGB frame: 3 channels, not a multiple of 4
        spaces.Box(0, 255, (84, 84, 1), np.uint8),  # one grayscale frame
        spaces.Box(-1.0, 1.0, (16,), np.float32),  # a stack of vectors
        spaces.Dict({"image": spaces.Box(0, 255, (4, 84, 84), np.uint8)}),
    ],
)
def test_observations_that_cannot_be_deduplicated_are_refused(space: spaces.Space) -> None:
    with pytest.raises(
        UnsupportedObservationError, match=r"replay_buffer_class=stable_baselines3\.common\.buffers\.ReplayBuffer"
    ):
        FrameStackReplayBuffer(100, space, spaces.Discrete(4))
    assert detect_frame_stack(space) is None


def test_frame_stack_must_divide_the_channels() -> None:
    space = spaces.Box(0, 255, (84, 84, 6), np.uint8)
    with pytest.raises(UnsupportedObservationError, match=r"6 channels .* not a multiple of frame_stack=4"):
        FrameStackReplayBuffer(100, space, spaces.Discrete(4))
    assert FrameStackReplayBuffer(100, space, spaces.Discrete(4), frame_stack=3).frame_shape == (84, 84, 2)
    assert FrameStackReplayBuffer(100, space, spaces.Discrete(4), frame_stack=2).frame_shape == (84, 84, 3)


def test_optimize_memory_usage_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="optimize_memory_usage"):
        FrameStackReplayBuffer(100, spaces.Box(0, 255, (4, 84, 84), np.uint8), spaces.Discrete(4), optimize_memory_usage=True)


def test_memory_is_checked_before_allocation() -> None:
    buffer = FrameStackReplayBuffer(10**9, spaces.Box(0, 255, (4, 84, 84), np.uint8), spaces.Discrete(4))
    assert not buffer.allocated, "nothing is allocated before the first add"
    needed = sum(buffer.memory_plan().values())
    with pytest.raises(InsufficientMemoryError, match=rf"needs {needed:,} bytes .* but only [\d,]+ bytes .* is available"):
        buffer.allocate()
    assert not buffer.allocated


@pytest.fixture
def one_gib_available(monkeypatch: pytest.MonkeyPatch) -> int:
    """The machine reports 1 GiB of available memory."""
    psutil = pytest.importorskip("psutil")

    class Available:
        available = 2**30

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Available())
    return 2**30


@pytest.mark.parametrize(
    ("kwargs", "per_transition", "name"),
    [
        # CartPole: 4 float32 observations twice, an int64 action, float32 reward, done and timeout
        ({}, 2 * 16 + 8 + 12, "ReplayBuffer"),
        (
            {"optimize_memory_usage": True, "replay_buffer_kwargs": {"handle_timeout_termination": False}},
            16 + 8 + 12,
            "ReplayBuffer",
        ),
        ({"replay_buffer_class": ReplayBuffer}, 2 * 16 + 8 + 12, "ReplayBuffer"),
    ],
    ids=["default", "optimize_memory_usage", "explicit"],
)
def test_sb3_s_buffers_get_the_same_memory_check(one_gib_available: int, kwargs: dict, per_transition: int, name: str) -> None:
    """SB3's own buffer only warns (and np.zeros may succeed lazily); PaperDQN refuses before it is built."""
    with pytest.raises(
        InsufficientMemoryError,
        match=rf"^the replay buffer \({name}\) of 100,000,000 transitions needs {100_000_000 * per_transition:,} bytes "
        rf"\(.* GiB\) of memory \({per_transition} bytes per transition, as SB3 lays it out\), but only 1,073,741,824 bytes",
    ):
        PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=10**8, device="cpu", **kwargs)
    # what fits is built, and is the size counted
    model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=10**5, device="cpu", **kwargs)
    buffer = model.replay_buffer
    arrays = ["observations", "actions", "rewards", "dones", "timeouts"]
    arrays += [] if buffer.optimize_memory_usage else ["next_observations"]
    assert sum(getattr(buffer, array).nbytes for array in arrays) == 10**5 * per_transition


def test_loading_a_model_to_evaluate_it_is_not_refused_for_its_empty_buffer(one_gib_available: int, tmp_path) -> None:
    """SB3's load builds an empty buffer that evaluation never fills (np.zeros takes no memory until written)."""
    PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=100, device="cpu").save(tmp_path / "model.zip")
    model = PaperDQN.load(tmp_path / "model.zip", device="cpu", custom_objects={"buffer_size": 3 * 10**7})
    buffer = model.replay_buffer
    arrays = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")
    assert sum(getattr(buffer, array).nbytes for array in arrays) == 3 * 10**7 * 52 > one_gib_available


def test_memory_check_reads_psutil_and_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    psutil = pytest.importorskip("psutil")
    from sb3_dqn_paper import memory_check

    class Available:
        available = 3 * 2**30

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Available())
    assert memory_check.available_memory_bytes() == 3 * 2**30
    assert memory_check.format_bytes(3 * 2**30) == "3,221,225,472 bytes (3.00 GiB)"
    memory_check.check_memory_available(3 * 2**30, "x", InsufficientMemoryError)  # exactly what is there: fine
    with pytest.raises(
        InsufficientMemoryError,
        match=r"^x needs 4,294,967,296 bytes \(4.00 GiB\) of memory \(n\), but only 3,221,225,472 bytes \(3.00 GiB\) is "
        r"available. Free some.$",
    ):
        memory_check.check_memory_available(4 * 2**30, "x", InsufficientMemoryError, note=" (n)", advice=" Free some.")


def test_frame_stack_options_with_sb3_s_buffer_are_named() -> None:
    """optimize_memory_usage=True selects SB3's buffer: its TypeErrors become named errors."""
    with pytest.raises(InvalidArgumentError, match=r"\['compression'\] are not arguments of the replay buffer ReplayBuffer"):
        PaperDQN(
            "MlpPolicy",
            "CartPole-v1",
            buffer_size=100,
            optimize_memory_usage=True,
            replay_buffer_kwargs={"compression": "zstd"},
        )
    with pytest.raises(InvalidArgumentError, match=r"must not hold \['optimize_memory_usage'\].*PaperDQN's own arguments"):
        PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=100, replay_buffer_kwargs={"optimize_memory_usage": True})


def test_bytes_per_transition_at_84x84() -> None:
    big = FrameStackReplayBuffer(1_000_000, spaces.Box(0, 255, (4, 84, 84), np.uint8), spaces.Discrete(18), n_envs=8)
    assert sum(big.memory_plan().values()) / 1_000_000 <= 7_100
    assert sum(big.memory_plan().values()) / 1_000_000 > 7_056, "one 84x84 frame per transition at least"
    # the plan is what gets allocated
    small = FrameStackReplayBuffer(500, spaces.Box(0, 255, (84, 84, 4), np.uint8), spaces.Discrete(18), n_envs=2)
    small.allocate()
    allocated = {name: getattr(small, name).nbytes for name in small.memory_plan()}
    assert allocated == small.memory_plan()


def image_env(frame_stack: int, n_envs: int = 1, frame_shape: tuple[int, ...] = (36, 36, 1)) -> VecEnv:
    venv = DummyVecEnv([lambda: RandomFramesEnv(frame_shape, 20, 0.5)] * n_envs)
    return VecFrameStack(venv, n_stack=frame_stack) if frame_stack > 1 else venv


def test_paper_dqn_uses_the_frame_stack_buffer_by_default(tmp_path) -> None:
    model = PaperDQN("CnnPolicy", image_env(4, n_envs=2), buffer_size=200, learning_starts=40, batch_size=8, device="cpu")
    assert type(model.replay_buffer) is FrameStackReplayBuffer
    assert model.replay_buffer.frame_stack == 4 and model.replay_buffer.channels_first
    model.learn(60)  # 30 steps of 2 envs, then one update per agent step from the buffer
    assert model.replay_buffer.size() == 30 and model._n_updates == 60 - 40
    # a saved model comes back with the same buffer class, which allocates nothing until it is filled
    model.save(tmp_path / "model.zip")
    loaded = PaperDQN.load(tmp_path / "model.zip", device="cpu")
    assert type(loaded.replay_buffer) is FrameStackReplayBuffer and not loaded.replay_buffer.allocated
    # the stack size comes from VecFrameStack
    model = PaperDQN("CnnPolicy", image_env(2), buffer_size=100, device="cpu")
    assert type(model.replay_buffer) is FrameStackReplayBuffer and model.replay_buffer.frame_stack == 2


@pytest.mark.parametrize("compression", [None, "zstd"])
def test_paper_dqn_learns_exactly_as_with_sb3_buffer(compression: str | None) -> None:
    # Same data, same calls to np.random in sample(): the two buffers give the same minibatches (compressed frames
    # decompress to the same bytes), so the same weights
    weights = []
    for replay_buffer_class, replay_buffer_kwargs in ((None, dict(compression=compression)), (ReplayBuffer, None)):
        model = PaperDQN(
            "CnnPolicy",
            image_env(4, n_envs=2),
            buffer_size=400,
            learning_starts=60,
            batch_size=16,
            exploration_steps=100,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            seed=7,
            device="cpu",
        )
        model.learn(200)
        assert model._n_updates == 200 - 60
        weights.append(model.policy.state_dict())
        if replay_buffer_class is None:
            assert type(model.replay_buffer) is FrameStackReplayBuffer and model.replay_buffer.compression == compression
    assert weights[0].keys() == weights[1].keys()
    for name in weights[0]:
        assert th.equal(weights[0][name], weights[1][name]), name


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(replay_buffer_class=ReplayBuffer),
        dict(optimize_memory_usage=True, replay_buffer_kwargs=dict(handle_timeout_termination=False)),
    ],
)
def test_paper_dqn_uses_sb3_buffer_when_asked(kwargs: dict) -> None:
    model = PaperDQN("CnnPolicy", image_env(4), buffer_size=100, device="cpu", **kwargs)
    assert type(model.replay_buffer) is ReplayBuffer


def test_paper_dqn_keeps_sb3_buffer_for_unstacked_observations() -> None:
    model = PaperDQN("CnnPolicy", image_env(1), buffer_size=100, device="cpu")
    assert type(model.replay_buffer) is ReplayBuffer
    model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=100, device="cpu")
    assert type(model.replay_buffer) is ReplayBuffer


def test_real_atari_frames_match_sb3() -> None:
    from sb3_dqn_paper.atari import make_paper_atari_env

    # Breakout ends an episode at every life loss, so random play gives many episode ends
    venv = VecTransposeImage(make_paper_atari_env("BreakoutNoFrameskip-v4", n_envs=2, seed=0))
    ours, reference = make_pair(venv, 2 * 150)
    fill(venv, [ours, reference], 400)
    assert reference.dones.sum() >= 2
    rows, envs = np.nonzero(ours.valid_mask())
    assert len(rows) > 250
    assert_same_rows(ours, reference, rows, envs)
