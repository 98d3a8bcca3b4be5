"""Run PaperDQN's own update on a chosen minibatch, so that tests compare ``train()`` itself with a reference."""

from typing import Any

from stable_baselines3.common.logger import Logger

from sb3_dqn_paper import PaperDQN


def train_on(model: PaperDQN, data: Any) -> float:
    """
    One gradient step of ``model.train`` on the minibatch ``data`` instead of a sampled one.

    The weights take the step; each parameter's ``.grad`` keeps the gradient of the minibatch's loss (the optimizer
    step does not clear it).

    :param model: A model with a replay buffer
    :param data: A minibatch (``ReplayBufferSamples``)
    :return: The loss ``train`` logged for the step
    """
    if getattr(model, "_logger", None) is None:
        model.set_logger(Logger(folder=None, output_formats=[]))
    sample = model.replay_buffer.sample
    model.replay_buffer.sample = lambda *args, **kwargs: data  # type: ignore[method-assign]
    try:
        model.train(gradient_steps=1, batch_size=len(data.rewards))
    finally:
        model.replay_buffer.sample = sample  # type: ignore[method-assign]
    return float(model.logger.name_to_value["train/loss"])
