"""
A replay buffer that stores each frame of a frame-stacked observation once and rebuilds the stacks at sample time.

SB3's ``ReplayBuffer`` stores every transition as two whole ``(4, 84, 84)`` stacks (56,468 bytes; the paper's 1M
transitions need 56 GB). Consecutive stacks share 3 of their 4 frames, so, as Dopamine's circular replay buffer does,
:class:`FrameStackReplayBuffer` keeps each frame once per env (about 7,094 bytes per transition), optionally
compressed. It keeps SB3's interface; the stacks it returns are equal, byte for byte, to the ones ``VecFrameStack``
produced. Its storage layout, how it writes and samples, and which rows are never sampled: ``docs/replay-buffer.md``,
"How it works".
"""

import math
import warnings
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import BaseBuffer, ReplayBuffer
from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack, VecNormalize, unwrap_vec_wrapper

from sb3_dqn_paper.atari import PAPER_FRAME_STACK
from sb3_dqn_paper.errors import InsufficientMemoryError, InvalidArgumentError, UnsupportedObservationError
from sb3_dqn_paper.frame_codecs import BYTES_OBJECT_OVERHEAD, COMPRESSION_CODECS, frame_codec
from sb3_dqn_paper.memory_check import check_memory_available, format_bytes

#: Default spare frame slots, as a fraction of the rows, for the one extra frame each episode needs.
DEFAULT_EXTRA_FRAME_FRACTION = 0.003
#: GPU memory left free for the networks and activations when ``storage_device="auto"`` considers the GPU.
GPU_HEADROOM_BYTES = 2 * 1024**3
#: Rejection rounds after which ``sample`` gives up (only reachable when almost no row is valid).
MAX_REJECTION_ROUNDS = 1000


def frame_stack_layout(
    observation_space: spaces.Space, frame_stack: int, channels_order: str | None = None
) -> tuple[bool, tuple[int, ...]]:
    """
    Check that ``observation_space`` is a stack of ``frame_stack`` image frames and describe one frame.

    :param observation_space: The (stacked) observation space
    :param frame_stack: Number of frames stacked in each observation
    :param channels_order: ``"first"``, ``"last"``, or ``None`` to detect it with SB3's heuristic (smallest dimension)
    :return: Whether the stack is channel-first, and the shape of one frame
    :raises UnsupportedObservationError: naming the problem and the fallback, SB3's ``ReplayBuffer``
    """
    fallback = "Use SB3's buffer instead: replay_buffer_class=stable_baselines3.common.buffers.ReplayBuffer."
    if not is_image_space(observation_space, check_channels=False):
        raise UnsupportedObservationError(
            f"FrameStackReplayBuffer stores frame-stacked images (a uint8 Box of shape (C, H, W) or (H, W, C) with "
            f"values in [0, 255]) and cannot deduplicate {observation_space}. {fallback}"
        )
    assert isinstance(observation_space, spaces.Box)
    if channels_order is None:
        channels_first = is_image_space_channels_first(observation_space)
    elif channels_order in ("first", "last"):
        channels_first = channels_order == "first"
    else:
        raise InvalidArgumentError(f"channels_order must be 'first', 'last' or None, got {channels_order!r}")
    shape = observation_space.shape
    n_channels = shape[0] if channels_first else shape[-1]
    if n_channels % frame_stack != 0:
        raise UnsupportedObservationError(
            f"Observation shape {shape} has {n_channels} channels ({'first' if channels_first else 'last'}), not a "
            f"multiple of frame_stack={frame_stack}: it is not a stack of {frame_stack} frames, so "
            f"FrameStackReplayBuffer cannot deduplicate it. Pass replay_buffer_kwargs=dict(frame_stack=...) with the "
            f"number of stacked frames (e.g. VecFrameStack's n_stack), or: {fallback}"
        )
    depth = n_channels // frame_stack
    frame_shape = (depth, *shape[1:]) if channels_first else (*shape[:-1], depth)
    return channels_first, frame_shape


def detect_frame_stack(
    observation_space: spaces.Space, env: VecEnv | None = None, frame_stack: int | None = None
) -> int | None:
    """
    The number of frames stacked in ``observation_space``, or ``None`` if it is not a frame stack of images.

    :param observation_space: The observation space the algorithm sees
    :param env: The algorithm's ``VecEnv``; a ``VecFrameStack`` in its wrappers gives the stack size
    :param frame_stack: Stack size given by the user; else ``VecFrameStack``'s ``n_stack``, else the paper's 4
    :return: The stack size, or ``None`` when :class:`FrameStackReplayBuffer` cannot deduplicate the observations
    """
    if frame_stack is None:
        stacker = unwrap_vec_wrapper(env, VecFrameStack) if env is not None else None
        frame_stack = stacker.stacked_obs.n_stack if stacker is not None else PAPER_FRAME_STACK
    try:
        frame_stack_layout(observation_space, frame_stack)
    except UnsupportedObservationError:
        return None
    return frame_stack


def compact_action_dtype(action_space: spaces.Space, sb3_dtype: np.dtype) -> np.dtype:
    """
    The smallest integer dtype that holds every action of a discrete action space (``sb3_dtype`` otherwise).

    :param action_space: The action space
    :param sb3_dtype: The dtype SB3's ``ReplayBuffer`` stores actions in
    :return: The dtype to store actions in
    """
    if isinstance(action_space, spaces.Discrete):
        low, high = int(action_space.start), int(action_space.start + action_space.n - 1)
    elif isinstance(action_space, spaces.MultiDiscrete):
        low, high = int(action_space.start.min()), int((action_space.start + action_space.nvec - 1).max())
    elif isinstance(action_space, spaces.MultiBinary):
        low, high = 0, 1
    else:
        return np.dtype(sb3_dtype)
    return np.result_type(np.min_scalar_type(low), np.min_scalar_type(high))


class FrameStackReplayBuffer(ReplayBuffer):
    """
    SB3 ``ReplayBuffer`` for frame-stacked image observations that stores each frame once (see the module docstring).

    Drop-in for ``replay_buffer_class``; :class:`~sb3_dqn_paper.PaperDQN` picks it by default for frame stacks.

    :param buffer_size: Max number of transitions (split over the envs, as in SB3)
    :param observation_space: The stacked observation space (channel-first, e.g. after ``VecTransposeImage``, or last)
    :param action_space: Action space
    :param device: PyTorch device the sampled tensors are put on
    :param n_envs: Number of parallel environments
    :param optimize_memory_usage: Must be ``False``: this buffer already stores each frame once (SB3's option is for
        its own buffer)
    :param handle_timeout_termination: Keep timeouts (``infos[i]["TimeLimit.truncated"]``) apart from true
        terminations, so that ``sample`` returns ``dones * (1 - timeouts)``, as SB3 does
    :param frame_stack: Number of frames in each observation (``VecFrameStack``'s ``n_stack``; 4 in the paper)
    :param channels_order: ``"first"`` or ``"last"``; ``None`` detects it with SB3's smallest-dimension heuristic
    :param storage_device: Where the frames live: ``"cpu"`` (a numpy array), a CUDA device (a torch uint8 tensor, so
        minibatches are gathered on the GPU), or ``"auto"``: ``device`` when it is CUDA and the frames fit in its free
        memory with ``GPU_HEADROOM_BYTES`` to spare, else the CPU. Decided when the buffer allocates
    :param extra_frame_fraction: Spare frame slots, as a fraction of the rows, for the extra frame each episode needs;
        the default keeps 84x84 stacks under 7,100 bytes per transition. More slots keep more of the oldest rows valid
        in games with short episodes
    :param compression: ``None`` (frames stored raw, in one array), ``"zstd"`` or ``"lz4"``: each frame is compressed
        once when stored (a ``bytes`` object of its own size, so no frame can overflow a slot) and decompressed when a
        minibatch is built. Needs the ``compression`` extra. The frames then live on the CPU
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: th.device | str = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
        frame_stack: int = PAPER_FRAME_STACK,
        channels_order: str | None = None,
        storage_device: th.device | str = "auto",
        extra_frame_fraction: float = DEFAULT_EXTRA_FRAME_FRACTION,
        compression: str | None = None,
    ) -> None:
        if optimize_memory_usage:
            raise InvalidArgumentError(
                "FrameStackReplayBuffer already stores each frame once; optimize_memory_usage applies to SB3's "
                "ReplayBuffer only. Leave optimize_memory_usage=False, or use replay_buffer_class=ReplayBuffer."
            )
        if not (isinstance(frame_stack, (int, np.integer)) and frame_stack >= 1):
            raise InvalidArgumentError(f"frame_stack must be a positive integer, got {frame_stack!r}")
        if not extra_frame_fraction >= 0:
            raise InvalidArgumentError(f"extra_frame_fraction must be >= 0, got {extra_frame_fraction}")
        if buffer_size < 1 or n_envs < 1:
            raise InvalidArgumentError(f"buffer_size and n_envs must be positive, got {buffer_size} and {n_envs}")
        if compression is not None:
            frame_codec(compression)  # unknown codec or missing package: fail now, before any work
            if storage_device != "auto" and th.device(storage_device).type != "cpu":
                raise InvalidArgumentError(
                    f"compression={compression!r} keeps the compressed frames on the CPU; storage_device="
                    f"{storage_device!r} is for raw frames. Pass storage_device='cpu' (or 'auto'), or compression=None."
                )
        self.channels_first, self.frame_shape = frame_stack_layout(observation_space, int(frame_stack), channels_order)
        # ReplayBuffer.__init__ would allocate the two full observation arrays this class exists to avoid,
        # so only the base class is initialised and ReplayBuffer's attributes are set here.
        BaseBuffer.__init__(self, buffer_size, observation_space, action_space, device, n_envs=n_envs)
        self.buffer_size = max(buffer_size // n_envs, 1)
        self.optimize_memory_usage = False
        self.handle_timeout_termination = handle_timeout_termination
        self.frame_stack = int(frame_stack)
        self.channels_order = channels_order
        self.storage_device = storage_device if storage_device == "auto" else th.device(storage_device)
        self.extra_frame_fraction = float(extra_frame_fraction)
        self.compression = compression
        self.frame_slots = self.buffer_size + 2 * self.frame_stack + math.ceil(self.extra_frame_fraction * self.buffer_size)
        self.action_dtype = np.dtype(self._maybe_cast_dtype(action_space.dtype))
        self.stored_action_dtype = compact_action_dtype(action_space, self.action_dtype)
        self.allocated = False
        self._warned_not_shifted = False

    # ---------------------------------------------------------------------------------------------------------------
    # Allocation
    # ---------------------------------------------------------------------------------------------------------------
    def memory_plan(self) -> dict[str, int]:
        """
        Bytes of every array this buffer allocates (nothing is allocated by this call).

        With ``compression``, ``"frames"`` is the array of pointers to the compressed frames (exact) and
        ``"compressed_frames_estimate"`` an estimate of the compressed frames once every slot is written: each at
        the codec's fraction of the raw size in :data:`COMPRESSION_CODECS` plus :data:`BYTES_OBJECT_OVERHEAD`.
        :meth:`memory_usage` gives the actual bytes.

        :return: Array name -> bytes
        """
        rows = self.buffer_size * self.n_envs
        slots = self.frame_slots * self.n_envs
        if self.compression is None:
            frames = {"frames": (slots + 1) * self.frame_nbytes}
        else:
            per_frame = math.ceil(COMPRESSION_CODECS[self.compression][1] * self.frame_nbytes) + BYTES_OBJECT_OVERHEAD
            frames = {"frames": (slots + 1) * 8, "compressed_frames_estimate": slots * per_frame}
        return {
            **frames,
            "frame_history": slots,
            "frame_index": rows * 8,
            "next_offset": rows,
            "actions": rows * self.action_dim * self.stored_action_dtype.itemsize,
            "rewards": rows * 4,
            "dones": rows,
            "timeouts": rows,
            "last_next_obs": self.n_envs * int(np.prod(self.obs_shape)),
        }

    @property
    def frame_nbytes(self) -> int:
        """Bytes of one raw frame."""
        return int(np.prod(self.frame_shape))

    def memory_usage(self) -> dict[str, int]:
        """
        Bytes this buffer holds now, by array (after allocation; see :meth:`memory_plan`).

        With ``compression``, ``"compressed_frames"`` is the sum of the compressed frames' sizes plus
        :data:`BYTES_OBJECT_OVERHEAD` per frame (the allocator's rounding taken as an average). The scratch array
        that ``sample`` decompresses into (``2 * batch_size * frame_stack`` frames at most) is not counted.

        :return: Array name -> bytes
        """
        if not self.allocated:
            return {}
        usage = {name: int(value.nbytes) for name, value in vars(self).items() if isinstance(value, np.ndarray)}
        if self.compression is not None:
            usage["compressed_frames"] = self.compressed_payload_bytes + self.compressed_frame_count * BYTES_OBJECT_OVERHEAD
        return usage

    def unpickle_overhead_bytes(self) -> int:
        """
        Memory that loading this buffer's pickle takes beyond the pickle's size (for the checkpoint's memory check).

        Raw frames load into arrays of the pickled size. Compressed frames each become a ``bytes`` object
        (:data:`BYTES_OBJECT_OVERHEAD`) plus a pointer in the frame array and one in the list numpy unpickles it from.

        :return: Bytes
        """
        if self.compression is None or not self.allocated:
            return 0
        return self.compressed_frame_count * (BYTES_OBJECT_OVERHEAD + 16)

    def _choose_storage_device(self, frame_bytes: int) -> th.device:
        if self.compression is not None:
            return th.device("cpu")
        if self.storage_device != "auto":
            device = self.storage_device
            assert isinstance(device, th.device)
            if device.type == "cuda":
                free, _ = th.cuda.mem_get_info(device)
                if frame_bytes > free:
                    raise InsufficientMemoryError(
                        f"FrameStackReplayBuffer: the frames of {self.buffer_size * self.n_envs:,} transitions need "
                        f"{format_bytes(frame_bytes)} on {device}, which has {format_bytes(free)} free. Lower buffer_size "
                        "or use storage_device='cpu'."
                    )
            return device
        if self.device.type == "cuda" and th.cuda.is_available():
            free, _ = th.cuda.mem_get_info(self.device)
            if frame_bytes + GPU_HEADROOM_BYTES <= free:
                return self.device
        return th.device("cpu")

    def allocate(self) -> None:
        """
        Allocate the storage now (``add`` does it on first use), after checking that the memory is available.

        :raises InsufficientMemoryError: naming the bytes needed and available, before anything is allocated
        """
        if self.allocated:
            return
        plan = self.memory_plan()
        frames_device = self._choose_storage_device(plan["frames"])
        host_bytes = sum(plan.values()) - (plan["frames"] if frames_device.type != "cpu" else 0)
        estimate = ""
        if self.compression is not None:
            fraction = COMPRESSION_CODECS[self.compression][1]
            raw = self.n_envs * self.frame_slots * (self.frame_nbytes + BYTES_OBJECT_OVERHEAD)
            estimate = (
                f" (an estimate: {self.compression}-compressed frames taken at {fraction:.0%} of their raw size, "
                f"the worst of the seven Table 1 games played at random; frames that compress worse take up to "
                f"{format_bytes(raw)})"
            )
        check_memory_available(
            host_bytes,
            f"FrameStackReplayBuffer of {self.buffer_size * self.n_envs:,} transitions "
            f"({self.frame_stack} frames of shape {self.frame_shape} per observation)",
            InsufficientMemoryError,
            note=estimate,
            advice=" Lower buffer_size or free memory.",
        )
        frame_count = self.n_envs * self.frame_slots + 1
        if self.compression is not None:
            self._codec = frame_codec(self.compression)
            self._scratch: dict[str, np.ndarray] = {}
            self.frames = np.empty(frame_count, dtype=object)  # None: not written yet
            zero_frame = self._encode(np.zeros(self.frame_shape, dtype=np.uint8))
            self.frames[frame_count - 1] = zero_frame
            self.compressed_payload_bytes = len(zero_frame)
            self.compressed_frame_count = 1
        elif frames_device.type == "cpu":
            self.frames: np.ndarray | th.Tensor = np.zeros((frame_count, *self.frame_shape), dtype=np.uint8)
        else:
            self.frames = th.zeros((frame_count, *self.frame_shape), dtype=th.uint8, device=frames_device)
        self.frame_history = np.zeros((self.n_envs, self.frame_slots), dtype=np.uint8)
        self.frames_written = np.zeros(self.n_envs, dtype=np.int64)
        self.frame_index = np.zeros((self.buffer_size, self.n_envs), dtype=np.int64)
        self.next_offset = np.zeros((self.buffer_size, self.n_envs), dtype=np.uint8)
        self.actions = np.zeros((self.buffer_size, self.n_envs, self.action_dim), dtype=self.stored_action_dtype)
        self.rewards = np.zeros((self.buffer_size, self.n_envs), dtype=np.float32)
        self.dones = np.zeros((self.buffer_size, self.n_envs), dtype=bool)
        self.timeouts = np.zeros((self.buffer_size, self.n_envs), dtype=bool)
        # The previous next_obs of each env and the number of its newest frame, to recognise a continuing episode
        self.last_next_obs = np.zeros((self.n_envs, *self.obs_shape), dtype=np.uint8)
        self.last_next_index = np.full(self.n_envs, -1, dtype=np.int64)
        self.allocated = True

    @property
    def frames_are_tensor(self) -> bool:
        """Whether the frames are a torch tensor (CUDA store) rather than a numpy array (``False`` before allocation)."""
        return self.allocated and isinstance(self.frames, th.Tensor)

    @property
    def zero_slot(self) -> int:
        """Index of the all-zero frame used as padding."""
        return self.n_envs * self.frame_slots

    # ---------------------------------------------------------------------------------------------------------------
    # Writing
    # ---------------------------------------------------------------------------------------------------------------
    def _split(self, stack: np.ndarray) -> np.ndarray:
        """The frames of one stack, oldest first: shape (K, *frame_shape) (a view)."""
        if self.channels_first:
            return stack.reshape(self.frame_stack, *self.frame_shape)
        return np.moveaxis(stack.reshape(*stack.shape[:-1], self.frame_stack, self.frame_shape[-1]), -2, 0)

    def _encode(self, frame: np.ndarray) -> bytes:
        """A frame compressed, or its raw bytes when compression does not make it smaller."""
        frame = np.ascontiguousarray(frame)
        data = self._codec[0](frame)
        # A copy of exactly its size: codecs write into a worst-case-sized buffer and shrink it, which leaves the
        # allocation (about the raw frame's size) fragmented; copying frees that buffer for the next frame.
        return bytes(memoryview(data)) if len(data) < self.frame_nbytes else frame.tobytes()

    def _decode(self, slots: np.ndarray) -> np.ndarray:
        """The frames in ``slots`` (1-D), decompressed once each: shape (len(slots), *frame_shape)."""
        unique, inverse = np.unique(slots, return_inverse=True)
        size, decompress = self.frame_nbytes, self._codec[1]
        # Decompressed into a scratch array kept between calls (joining the bytes instead costs 4x more on Linux:
        # a fresh megabyte-sized buffer per call is mapped and page-faulted every time); a dict, so that it is no
        # buffer array (memory_usage, comparisons of the arrays)
        scratch = self._scratch.get("frames")
        if scratch is None or len(scratch) < len(unique):
            scratch = self._scratch["frames"] = np.empty((len(unique), size), dtype=np.uint8)
        for row, blob in enumerate(self.frames[unique]):
            scratch[row] = np.frombuffer(blob if len(blob) == size else decompress(blob, size), dtype=np.uint8)
        return scratch[: len(unique)][inverse.ravel()].reshape(len(slots), *self.frame_shape)

    def _append_frame(self, env: int, frame: np.ndarray, history: int) -> int:
        number = int(self.frames_written[env])
        slot = number % self.frame_slots
        if self.compression is not None:
            data = self._encode(frame)
            old = self.frames[env * self.frame_slots + slot]
            if old is None:
                self.compressed_frame_count += 1
            else:
                self.compressed_payload_bytes -= len(old)
            self.compressed_payload_bytes += len(data)
            self.frames[env * self.frame_slots + slot] = data
        elif isinstance(self.frames, th.Tensor):
            self.frames[env * self.frame_slots + slot].copy_(th.from_numpy(np.ascontiguousarray(frame)))
        else:
            self.frames[env * self.frame_slots + slot] = frame
        self.frame_history[env, slot] = history
        self.frames_written[env] = number + 1
        return number

    def _append_segment(self, env: int, frames: np.ndarray) -> int:
        """Append a stack that does not continue the stored frames; leading all-zero frames become padding."""
        nonzero = frames.reshape(self.frame_stack, -1).any(axis=1)
        first = int(np.argmax(nonzero)) if nonzero.any() else self.frame_stack - 1
        number = -1
        for history, frame in enumerate(frames[first:]):
            number = self._append_frame(env, frame, history)
        return number

    def add(
        self,
        obs: np.ndarray,
        next_obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        """
        Store one transition per env, as SB3's ``ReplayBuffer.add`` (same arguments).

        :param obs: Stacked observations, shape (n_envs, *obs_shape)
        :param next_obs: Stacked next observations; for envs whose episode ended, the terminal observation
            (SB3's ``_store_transition`` puts ``infos[i]["terminal_observation"]`` there)
        :param action: Actions
        :param reward: Rewards
        :param done: Episode ends (terminations and timeouts)
        :param infos: Infos; ``"TimeLimit.truncated"`` marks timeouts
        """
        self.allocate()
        obs = np.asarray(obs).reshape((self.n_envs, *self.obs_shape))
        next_obs = np.asarray(next_obs).reshape((self.n_envs, *self.obs_shape))
        pos = self.pos
        for env in range(self.n_envs):
            obs_frames = self._split(obs[env])
            if self.last_next_index[env] >= 0 and np.array_equal(obs[env], self.last_next_obs[env]):
                obs_number = int(self.last_next_index[env])
            else:
                obs_number = self._append_segment(env, obs_frames)
            next_frames = self._split(next_obs[env])
            if np.array_equal(next_frames[:-1], obs_frames[1:]):
                history = min(int(self.frame_history[env, obs_number % self.frame_slots]) + 1, self.frame_stack - 1)
                next_number = self._append_frame(env, next_frames[-1], history)
            else:
                if not self._warned_not_shifted:
                    self._warned_not_shifted = True
                    warnings.warn(
                        "FrameStackReplayBuffer: next_obs is not obs shifted by one frame, so these observations are "
                        f"not stacks of {self.frame_stack} frames as VecFrameStack makes them. They are stored exactly, "
                        "but such a transition costs up to frame_stack frames and the oldest rows get evicted sooner. "
                        "Check frame_stack, or use replay_buffer_class=ReplayBuffer."
                    )
                next_number = self._append_segment(env, next_frames)
            self.frame_index[pos, env] = obs_number
            self.next_offset[pos, env] = next_number - obs_number
            self.last_next_obs[env] = next_obs[env]
            self.last_next_index[env] = next_number

        self.actions[pos] = np.asarray(action).reshape((self.n_envs, self.action_dim))
        self.rewards[pos] = np.asarray(reward)
        self.dones[pos] = np.asarray(done)
        if self.handle_timeout_termination:
            self.timeouts[pos] = np.array([info.get("TimeLimit.truncated", False) for info in infos])

        self.pos += 1
        if self.pos == self.buffer_size:
            self.full = True
            self.pos = 0

    def reset(self) -> None:
        """Empty the buffer (the memory stays allocated)."""
        super().reset()
        if self.allocated:
            self.frames_written[:] = 0
            self.last_next_index[:] = -1

    # ---------------------------------------------------------------------------------------------------------------
    # Reading
    # ---------------------------------------------------------------------------------------------------------------
    def _is_valid(self, batch_inds: np.ndarray, env_indices: np.ndarray) -> np.ndarray:
        """Whether rows (batch_inds, env_indices), all < size(), still have every frame of their stacks."""
        numbers = self.frame_index[batch_inds, env_indices]
        history = self.frame_history[env_indices, numbers % self.frame_slots]
        return numbers - history >= self.frames_written[env_indices] - self.frame_slots

    def valid_mask(self) -> np.ndarray:
        """
        Which rows can be sampled: written, and with every frame of their stacks still stored.

        :return: Boolean array of shape (buffer_size // n_envs, n_envs)
        """
        mask = np.zeros((self.buffer_size, self.n_envs), dtype=bool)
        if self.size() == 0:
            return mask
        rows, envs = np.meshgrid(np.arange(self.size()), np.arange(self.n_envs), indexing="ij")
        mask[: self.size()] = self._is_valid(rows.ravel(), envs.ravel()).reshape(rows.shape)
        return mask

    def sample_indices(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """
        Draw rows and envs uniformly among the valid rows, with SB3's calls to ``np.random``.

        :param batch_size: Number of transitions
        :return: Row indices and env indices
        """
        upper_bound = self.size()
        if upper_bound == 0:
            raise ValueError("Cannot sample from an empty FrameStackReplayBuffer: add transitions first")
        batch_inds = np.random.randint(0, upper_bound, size=batch_size)
        env_indices = np.random.randint(0, high=self.n_envs, size=(batch_size,))
        invalid = ~self._is_valid(batch_inds, env_indices)
        rounds = 0
        while invalid.any():
            rounds += 1
            if rounds > MAX_REJECTION_ROUNDS:
                raise RuntimeError(
                    f"FrameStackReplayBuffer: found no valid row in {MAX_REJECTION_ROUNDS} draws "
                    f"({int(self.valid_mask().sum())} valid of {upper_bound * self.n_envs}); raise extra_frame_fraction"
                )
            count = int(invalid.sum())
            batch_inds[invalid] = np.random.randint(0, upper_bound, size=count)
            env_indices[invalid] = np.random.randint(0, high=self.n_envs, size=(count,))
            invalid[invalid] = ~self._is_valid(batch_inds[invalid], env_indices[invalid])
        return batch_inds, env_indices

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> ReplayBufferSamples:
        """
        Sample a minibatch uniformly among the valid rows.

        :param batch_size: Number of transitions
        :param env: Associated ``VecNormalize``, to normalize the observations and rewards when sampling
        :return: The transitions, as SB3's ``ReplayBuffer.sample`` returns them
        """
        batch_inds, env_indices = self.sample_indices(batch_size)
        return self._get_samples(batch_inds, env=env, env_indices=env_indices)

    def get_samples(
        self, batch_inds: np.ndarray, env_indices: np.ndarray, env: VecNormalize | None = None
    ) -> ReplayBufferSamples:
        """
        The transitions at given rows, after checking that they are valid.

        :param batch_inds: Row indices, each < ``size()``
        :param env_indices: Env indices
        :param env: Associated ``VecNormalize``, to normalize the observations and rewards
        :return: The transitions, as SB3's buffer returns them for the same indices
        :raises IndexError: if a row is out of range or not valid (see ``valid_mask``)
        """
        batch_inds, env_indices = np.asarray(batch_inds), np.asarray(env_indices)
        if np.any((batch_inds < 0) | (batch_inds >= self.size()) | (env_indices < 0) | (env_indices >= self.n_envs)):
            raise IndexError(f"Row indices must be in [0, {self.size()}) and env indices in [0, {self.n_envs})")
        if not np.all(self._is_valid(batch_inds, env_indices)):
            raise IndexError("Some rows are not valid: their stacks reach frames that have been overwritten")
        return self._get_samples(batch_inds, env=env, env_indices=env_indices)

    def _stack_slots(self, numbers: np.ndarray, env_indices: np.ndarray) -> np.ndarray:
        """Slots of the K frames (oldest first) of the stacks whose newest frames are ``numbers``: shape (B, K)."""
        history = self.frame_history[env_indices, numbers % self.frame_slots]
        back = np.arange(self.frame_stack - 1, -1, -1)
        slots = env_indices[:, None] * self.frame_slots + (numbers[:, None] - back) % self.frame_slots
        return np.where(back <= history[:, None], slots, self.zero_slot)

    def _join(self, frames: np.ndarray | th.Tensor, batch: int) -> np.ndarray | th.Tensor:
        """Stacks from gathered frames of shape (batch * K, *frame_shape)."""
        if self.channels_first:
            return frames.reshape(batch, self.frame_stack * self.frame_shape[0], *self.frame_shape[1:])
        height, width, depth = self.frame_shape
        frames = frames.reshape(batch, self.frame_stack, height, width, depth)
        if isinstance(frames, th.Tensor):
            frames = frames.permute(0, 2, 3, 1, 4)
        else:
            frames = frames.transpose(0, 2, 3, 1, 4)
        return frames.reshape(batch, height, width, self.frame_stack * depth)

    def _get_samples(
        self, batch_inds: np.ndarray, env: VecNormalize | None = None, env_indices: np.ndarray | None = None
    ) -> ReplayBufferSamples:
        if env_indices is None:
            env_indices = np.random.randint(0, high=self.n_envs, size=(len(batch_inds),))
        batch_size = len(batch_inds)
        numbers = self.frame_index[batch_inds, env_indices]
        next_numbers = numbers + self.next_offset[batch_inds, env_indices]
        slots = np.concatenate((self._stack_slots(numbers, env_indices), self._stack_slots(next_numbers, env_indices)))
        if self.compression is not None:
            stacks = th.from_numpy(self._join(self._decode(slots.ravel()), 2 * batch_size)).to(self.device)
        elif isinstance(self.frames, th.Tensor):
            gathered = self.frames.index_select(0, th.from_numpy(slots.ravel()).to(self.frames.device))
            stacks = self._join(gathered, 2 * batch_size).to(self.device)
        else:
            stacks = th.from_numpy(self._join(np.take(self.frames, slots.ravel(), axis=0), 2 * batch_size))
            stacks = stacks.to(self.device)
        observations, next_observations = stacks[:batch_size], stacks[batch_size:]
        if env is not None:
            observations = self.to_torch(self._normalize_obs(observations.cpu().numpy(), env))  # type: ignore[arg-type]
            next_observations = self.to_torch(self._normalize_obs(next_observations.cpu().numpy(), env))  # type: ignore[arg-type]
        actions = self.actions[batch_inds, env_indices].astype(self.action_dtype)
        dones = self.dones[batch_inds, env_indices] & ~self.timeouts[batch_inds, env_indices]
        rewards = self._normalize_reward(self.rewards[batch_inds, env_indices].reshape(-1, 1), env)
        return ReplayBufferSamples(
            observations,
            self.to_torch(actions),
            next_observations,
            self.to_torch(dones.astype(np.float32).reshape(-1, 1)),
            self.to_torch(rewards),
        )

    # ---------------------------------------------------------------------------------------------------------------
    # Pickling (save_replay_buffer / load_replay_buffer)
    # ---------------------------------------------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_codec", None)  # functions of the codec's package, rebuilt on load
        state.pop("_scratch", None)
        if self.frames_are_tensor:
            # Saved as a numpy array, so that a file written on a GPU machine loads anywhere
            state["frames"] = self.frames.cpu().numpy()  # type: ignore[union-attr]
            state["_frames_were_on"] = str(self.frames.device)  # type: ignore[union-attr]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        device = state.pop("_frames_were_on", None)
        state.setdefault("compression", None)  # pickled before compression existed
        self.__dict__.update(state)
        if self.compression is not None and self.allocated:
            self._codec = frame_codec(self.compression)
            self._scratch = {}
        if device is None:
            return
        frames_device = th.device(device)
        if frames_device.type != "cuda":
            self.frames = th.from_numpy(self.frames).to(frames_device)
            return
        try:
            fits = th.cuda.is_available() and self.frames.nbytes <= th.cuda.mem_get_info(frames_device)[0]
        except (RuntimeError, AssertionError):  # that device does not exist here
            fits = False
        if fits:
            self.frames = th.from_numpy(self.frames).to(frames_device)
        # else the frames stay a numpy array on the CPU; sample() moves the minibatches to ``device``
