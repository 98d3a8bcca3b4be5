"""
The fast path of :meth:`PaperDQN.train <sb3_dqn_paper.paper_dqn.PaperDQN.train>` and of greedy acting: it
computes the same values as the plain ``q_net(obs)`` computation, faster.

:class:`FastUpdate` is the one object PaperDQN talks to: built from the policy, the device, ``td_forward`` and
``precision``, it gives the Q-values of a minibatch (:meth:`FastUpdate.minibatch_q_values`), greedy actions
(:meth:`FastUpdate.greedy_actions`) and reads the loss (:meth:`FastUpdate.start_loss_read`,
:meth:`FastUpdate.finish_loss_read`). Its pieces:

- :class:`QNetworkInput` turns replay observations into the network's float input once per minibatch, into a
  buffer allocated on the first update and reused after, with exactly SB3's arithmetic (``obs.float() / 255.0``
  for images, ``obs.float()`` otherwise; the results are bit-identical), then runs the Q-network's features
  extractor and head directly. SB3's ``QNetwork.forward`` cannot be reused for this: it always calls
  ``preprocess_obs``, which allocates two new tensors per call and would divide a second time. With
  ``stacked`` the observations and next observations share one buffer, for one forward over both. Into a
  channels-last buffer the uint8 frames are written one of two ways with the same values, the faster on the CPU at
  hand, timed on the first minibatch (:func:`fastest_input_copy`).
- :func:`prefers_channels_last`: on CPU, convolution networks run in PyTorch's channels-last memory format, where
  oneDNN's convolution backward pass is much faster for the paper's network (measured in
  ``docs/benchmarks.md``, "Speed"; the values are the same, only the memory layout of weights and input differs).
- :class:`LossReader` reads the loss on the host for the non-finite check and the log. On CPU that is
  ``loss.item()``. On CUDA ``.item()`` would block until every queued kernel, the backward pass included, has run;
  instead the loss is copied asynchronously into pinned memory behind a CUDA event, the backward pass is queued,
  and only then does the host wait, for the event alone. The check still comes before the optimizer step, so a
  non-finite loss never reaches the weights. (Written for CUDA but not measured or run on one: no GPU was
  available when it was written.)
"""

import time
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.dqn.policies import QNetwork
from torch import nn

from sb3_dqn_paper.errors import InvalidArgumentError
from sb3_dqn_paper.precision import check_precision

#: How the TD target's forward pass is run (``PaperDQN(td_forward=...)``).
TD_FORWARDS = ("auto", "separate", "batched")

#: Layers whose output depends on the batch or on train/eval mode; a forward over observations and next
#: observations together would change what they compute.
MODE_DEPENDENT_LAYERS = (nn.modules.batchnorm._NormBase, nn.modules.dropout._DropoutNd)


def has_mode_dependent_layers(module: nn.Module) -> bool:
    """
    Whether ``module`` holds a normalisation or dropout layer.

    :param module: A network
    :return: True if any submodule is a batch/instance norm or a dropout layer
    """
    return any(isinstance(layer, MODE_DEPENDENT_LAYERS) for layer in module.modules())


def prefers_channels_last(module: nn.Module, device: th.device) -> bool:
    """
    Whether ``module`` should run in channels-last memory format on ``device``: on CPU, when it has 2D convolutions.

    On CUDA this stays off: it was not measured there.

    :param module: A network
    :param device: The device it runs on
    :return: True for a convolution network on CPU
    """
    return device.type == "cpu" and any(isinstance(layer, nn.Conv2d) for layer in module.modules())


def supports_direct_forward(q_net: nn.Module) -> bool:
    """
    Whether :class:`QNetworkInput` can stand in for ``q_net``'s own preprocessing: a SB3 ``QNetwork`` whose
    ``forward`` and ``extract_features`` are SB3's, on a ``Box`` observation space.

    :param q_net: The Q-network
    :return: True if the direct forward computes what ``q_net(obs)`` computes
    """
    return (
        isinstance(q_net, QNetwork)
        and type(q_net).forward is QNetwork.forward
        and type(q_net).extract_features is BaseModel.extract_features
        and isinstance(q_net.observation_space, spaces.Box)
    )


def _copy_transposed(buffer: th.Tensor, observations: th.Tensor) -> None:
    # the frames rearranged to channels-last while one byte each, then a same-layout conversion to float
    buffer.copy_(observations.contiguous(memory_format=th.channels_last))


def _copy_per_channel(buffer: th.Tensor, observations: th.Tensor) -> None:
    # one converting copy per channel, from its contiguous frames into its strided place in the buffer
    nhwc = buffer.permute(0, 2, 3, 1)
    for channel in range(observations.shape[1]):
        nhwc[..., channel].copy_(observations[:, channel])


#: Ways to write uint8 frames ``(N, C, H, W)`` into a channels-last float buffer; same values, speed depends on the CPU.
INPUT_COPY_FUNCTIONS = {"transpose": _copy_transposed, "per_channel": _copy_per_channel}
#: Settings of ``QNetworkInput(input_copy=...)``: one of the ways, or ``"auto"`` (the faster on the first minibatch).
INPUT_COPIES = ("auto", *INPUT_COPY_FUNCTIONS)


def fastest_input_copy(buffer: th.Tensor, observations: th.Tensor, repeats: int = 5) -> str:
    """
    Time each way of :data:`INPUT_COPY_FUNCTIONS` on this minibatch and return the fastest (best of ``repeats`` each).

    The two give the same values, so the choice changes only the speed: it differs between CPUs (per channel was
    faster on an Intel Xeon, ``docs/benchmarks.md``), as ``cudnn.benchmark`` picks a convolution algorithm.

    :param buffer: A channels-last float buffer of the observations' shape (it is overwritten)
    :param observations: uint8 frames ``(N, C, H, W)``
    :param repeats: Timed calls of each way, alternating
    :return: ``"transpose"`` or ``"per_channel"``
    """
    best = dict.fromkeys(INPUT_COPY_FUNCTIONS, float("inf"))
    for _ in range(repeats):
        for name, copy in INPUT_COPY_FUNCTIONS.items():
            start = time.perf_counter()
            copy(buffer, observations)
            best[name] = min(best[name], time.perf_counter() - start)
    return min(best, key=best.__getitem__)


class QNetworkInput:
    """
    Float input of a Q-network in reused buffers, and the Q-network's forward on it.

    :param observation_space: The Q-network's observation space (a ``Box``)
    :param normalize_images: Whether images are divided by 255 (the policy's ``normalize_images``)
    :param channels_last: Whether 4D inputs are laid out channels-last (to match a channels-last network)
    :param input_copy: How uint8 frames are written into a channels-last buffer: ``"transpose"``, ``"per_channel"``
        or ``"auto"`` (the faster of the two on the first minibatch of each shape, :func:`fastest_input_copy`);
        the values are the same
    """

    def __init__(
        self, observation_space: spaces.Box, normalize_images: bool, channels_last: bool = False, input_copy: str = "auto"
    ) -> None:
        if input_copy not in INPUT_COPIES:
            raise InvalidArgumentError(f"input_copy must be one of {', '.join(INPUT_COPIES)}, got {input_copy!r}")
        # The same test as SB3's preprocess_obs for a Box space
        self.scale = normalize_images and is_image_space(observation_space)
        self.channels_last = channels_last
        self.input_copy = input_copy
        #: The way chosen for each minibatch shape, once used
        self.input_copies: dict[tuple[int, ...], str] = {}
        self._buffers: dict[tuple[str, tuple[int, ...], th.device], th.Tensor] = {}

    def _buffer(self, slot: str, shape: tuple[int, ...], device: th.device) -> th.Tensor:
        key = (slot, shape, device)
        buffer = self._buffers.get(key)
        if buffer is None:
            memory_format = th.channels_last if self.channels_last and len(shape) == 4 else th.contiguous_format
            buffer = th.empty(shape, dtype=th.float32, device=device, memory_format=memory_format)
            self._buffers[key] = buffer
        return buffer

    def _scale(self, buffer: th.Tensor) -> th.Tensor:
        if self.scale:
            buffer.div_(255.0)
        return buffer

    def _copy(self, buffer: th.Tensor, observations: th.Tensor) -> None:
        """Write ``observations`` into ``buffer`` as float (not yet scaled)."""
        if not (self.channels_last and observations.dim() == 4 and observations.element_size() == 1):
            buffer.copy_(observations)
            return
        shape = tuple(observations.shape)
        name = self.input_copies.get(shape)
        if name is None:
            name = self.input_copy if self.input_copy != "auto" else fastest_input_copy(buffer, observations)
            self.input_copies[shape] = name
        INPUT_COPY_FUNCTIONS[name](buffer, observations)

    def float_input(self, observations: th.Tensor, slot: str) -> th.Tensor:
        """
        The network input for ``observations``, written into the buffer of ``slot`` (valid until its next use).

        :param observations: A minibatch of observations as stored (e.g. uint8 frames), on the network's device
        :param slot: Name of the buffer, so that inputs needed at the same time do not share one
        :return: ``observations.float() / 255.0`` for images, ``observations.float()`` otherwise
        """
        buffer = self._buffer(slot, tuple(observations.shape), observations.device)
        self._copy(buffer, observations)
        return self._scale(buffer)

    def stacked(self, observations: th.Tensor, next_observations: th.Tensor) -> th.Tensor:
        """
        The network input for ``cat(observations, next_observations)``, built without a concatenation.

        :param observations: A minibatch of observations
        :param next_observations: The next observations of the same transitions
        :return: The float input of both, observations first
        """
        batch = observations.shape[0]
        buffer = self._buffer("stacked", (2 * batch, *observations.shape[1:]), observations.device)
        self._copy(buffer[:batch], observations)
        self._copy(buffer[batch:], next_observations)
        return self._scale(buffer)

    def greedy_actions(self, q_net: QNetwork, observation: np.ndarray) -> np.ndarray | None:
        """
        ``argmax_a Q(s, a)`` for a NumPy observation, without SB3's ``policy.predict`` overhead (its dispatch over
        observation kinds, the transposition check and a new float tensor per call); same actions.

        :param q_net: A Q-network for which :func:`supports_direct_forward` holds and that has no mode-dependent
            layer (``predict`` runs in eval mode, this does not switch modes)
        :param observation: One observation of the space's shape, or a batch of them
        :return: The greedy actions (a scalar array for one observation, shape (n,) for a batch), or ``None`` when the
            observation does not have the space's shape and dtype (then use ``policy.predict``, which handles more)
        """
        shape = q_net.observation_space.shape
        if not isinstance(observation, np.ndarray) or observation.dtype != q_net.observation_space.dtype:
            return None
        if observation.shape == shape:
            vectorized = False
        elif observation.shape[1:] == shape:
            vectorized = True
        else:
            return None
        obs = th.as_tensor(observation, device=q_net.device).reshape(-1, *shape)
        with th.no_grad():
            actions = self.q_values(q_net, self.float_input(obs, "acting")).argmax(dim=1).cpu().numpy()
        return actions if vectorized else actions[0]

    @staticmethod
    def q_values(q_net: QNetwork, float_input: th.Tensor) -> th.Tensor:
        """
        The Q-values of an input already converted by :meth:`float_input` or :meth:`stacked`.

        :param q_net: A Q-network for which :func:`supports_direct_forward` holds
        :param float_input: Its float input
        :return: Q-values, shape (batch, n_actions)
        """
        return q_net.q_net(q_net.features_extractor(float_input))


class LossReader:
    """
    Reads a scalar loss on the host, for the non-finite check and the log, without an early stall on CUDA.

    Call :meth:`start` right after the loss is computed, queue the backward pass, then call :meth:`finish`.

    :param device: The device the loss lives on
    """

    def __init__(self, device: th.device) -> None:
        self.device = device
        self._loss: th.Tensor | None = None
        if device.type == "cuda":
            self._host = th.empty((), dtype=th.float32, pin_memory=True)
            self._event = th.cuda.Event()

    def start(self, loss: th.Tensor) -> None:
        """
        Begin reading ``loss``: on CUDA, an asynchronous copy to pinned host memory behind an event.

        :param loss: A scalar tensor
        """
        if self.device.type == "cuda":
            self._host.copy_(loss.detach(), non_blocking=True)
            self._event.record(th.cuda.current_stream(self.device))
        else:
            self._loss = loss

    def finish(self) -> float:
        """
        The value of the loss given to :meth:`start`; on CUDA this waits for the copy only.

        :return: The loss as a Python float
        """
        if self.device.type == "cuda":
            self._event.synchronize()
            return float(self._host.item())
        assert self._loss is not None, "LossReader.finish() called before start()"
        value = self._loss.item()
        self._loss = None
        return value


class FastUpdate:
    """
    The fast path of PaperDQN's update and greedy acting, behind one object; it computes what the plain
    ``q_net(obs)`` computation computes (``tests/test_fast_update.py`` checks it).

    On construction it checks ``precision`` for ``device``, puts a convolution network on CPU into channels-last
    memory format (parameters keep their identity, so an optimizer already built keeps working), and decides
    whether the TD target's forward runs batched with the forward with gradient.

    :param policy: The policy (a ``PaperDQNPolicy``: ``q_net`` and ``q_net_target``, ``None`` without a target network)
    :param device: The device the policy runs on
    :param td_forward: ``"auto"``, ``"separate"`` or ``"batched"`` (see ``PaperDQN``'s ``td_forward``)
    :param precision: ``"fp32"`` or ``"bf16"``
    :raises ValueError: for ``td_forward="batched"`` where it cannot run (a target network, no SB3 QNetwork on a
        ``Box`` observation space, or a batch-norm/dropout layer)
    :raises UnsupportedPrecisionError: for a precision the device cannot run
    """

    def __init__(self, policy: Any, device: th.device, td_forward: str = "auto", precision: str = "fp32") -> None:
        check_precision(precision, device)
        q_net = policy.q_net
        self.channels_last = prefers_channels_last(q_net, device)
        if self.channels_last:
            # Parameters keep their identity (the optimizer holds them); only their memory layout changes
            policy.to(memory_format=th.channels_last)
        #: Float input of the Q-network in reused buffers; ``None`` where the network's own forward is used
        self.q_input: QNetworkInput | None = None
        if supports_direct_forward(q_net):
            self.q_input = QNetworkInput(q_net.observation_space, q_net.normalize_images, self.channels_last)
        resolved = td_forward
        if td_forward == "auto":
            resolved = "batched" if device.type == "cuda" else "separate"
        batchable = policy.q_net_target is None and self.q_input is not None and not has_mode_dependent_layers(q_net)
        if td_forward == "batched" and not batchable:
            raise InvalidArgumentError(
                "td_forward='batched' needs no target network, a SB3 QNetwork on Box observations and no "
                "batch-norm or dropout layer (their output would depend on the stacked batch); use 'separate'"
            )
        #: Whether one forward runs over observations and next observations together
        self.batched = resolved == "batched" and batchable
        #: Greedy acting without policy.predict's per-call overhead, where eval mode cannot change the output
        self.greedy_input = self.q_input if self.q_input is not None and not has_mode_dependent_layers(q_net) else None
        self.loss_reader = LossReader(device)

    def q_values(self, q_net: nn.Module, observations: th.Tensor, slot: str = "observations") -> th.Tensor:
        """
        ``q_net(observations)``, computed on the fast path when it applies (same values).

        :param q_net: The online or the target Q-network
        :param observations: A minibatch of observations as the replay buffer returns them
        :param slot: Name of the reused input buffer (``"observations"`` or ``"next_observations"``)
        :return: Q-values, shape (batch, n_actions)
        """
        if self.q_input is None:
            return q_net(observations)
        return self.q_input.q_values(q_net, self.q_input.float_input(observations, slot))  # type: ignore[arg-type]

    def minibatch_q_values(
        self,
        q_net: nn.Module,
        target_net: nn.Module | None,
        observations: th.Tensor,
        next_observations: th.Tensor,
    ) -> tuple[th.Tensor, th.Tensor]:
        """
        The Q-values of a minibatch's observations (with gradient) and next observations (without), as fp32.

        Batched: one forward over both, the next-observation half detached. Separate: a no-grad forward of the
        next observations through ``target_net`` (``q_net`` when ``None``), then a forward with gradient.

        :param q_net: The online Q-network
        :param target_net: The target network, or ``None`` (the paper: the online weights give the target)
        :param observations: Observations of the minibatch
        :param next_observations: Their next observations
        :return: ``(Q(s, .), Q(s', .))``, each of shape (batch, n_actions)
        """
        if self.batched:
            assert self.q_input is not None
            batch_size = observations.shape[0]
            both = self.q_input.stacked(observations, next_observations)
            q_values = self.q_input.q_values(q_net, both).float()  # type: ignore[arg-type]
            return q_values[:batch_size], q_values[batch_size:].detach()
        with th.no_grad():
            next_q_values = self.q_values(target_net or q_net, next_observations, "next_observations").float()
        return self.q_values(q_net, observations).float(), next_q_values

    def greedy_actions(self, q_net: QNetwork, observation: Any) -> np.ndarray | None:
        """
        ``argmax_a Q(s, a)`` on the fast path (see :meth:`QNetworkInput.greedy_actions`).

        :param q_net: The online Q-network
        :param observation: One observation or a batch of them
        :return: The greedy actions, or ``None`` where the fast path does not apply (use ``policy.predict``)
        """
        if self.greedy_input is None:
            return None
        return self.greedy_input.greedy_actions(q_net, observation)

    def start_loss_read(self, loss: th.Tensor) -> None:
        """
        Begin reading the loss on the host (see :class:`LossReader`); call before the backward pass.

        :param loss: The scalar loss
        """
        self.loss_reader.start(loss)

    def finish_loss_read(self) -> float:
        """
        The loss given to :meth:`start_loss_read`, as a Python float.

        :return: The loss
        """
        return self.loss_reader.finish()
