"""
A campaign's configuration: what ``campaign run`` is asked to do, checked before anything starts, and kept in
``OUT/campaign.json`` so that the same command resumes the same campaign and a changed one is refused.
"""

import json
import os
import pathlib
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sb3_dqn_paper.atomic_io import atomic_write_files
from sb3_dqn_paper.errors import InvalidArgumentError, UnknownEnvironmentError
from sb3_dqn_paper.tools.table1 import TABLE1

#: Name of the configuration file at the top of a campaign folder.
CONFIG_FILE = "campaign.json"
#: ``kind`` field of :data:`CONFIG_FILE`, so that another JSON file is not taken for a campaign.
CONFIG_KIND = "sb3-dqn-paper campaign"
CONFIG_FORMAT_VERSION = 1
#: ``--games table1``: the seven games of the paper's Table 1, in its column order.
TABLE1_GAMES = tuple(game.env_id for game in TABLE1.values())
#: Replay-frame codecs ``--replay-compression`` accepts (``none``: frames stored raw, 7.1 GB per 1M transitions).
COMPRESSIONS = ("zstd", "lz4", "none")
#: ``--hyperparams`` keys the campaign sets itself; giving them would make the runs disagree with the campaign.
RESERVED_HYPERPARAMS = ("n_timesteps", "replay_buffer_kwargs")

_HYPERPARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*:.+$")


@dataclass
class CampaignConfig:
    """
    Everything that fixes what a campaign's runs compute; stored in ``campaign.json``.

    :param games: Gymnasium ids, in the order runs are started
    :param seeds: One run per (game, seed)
    :param steps: Agent steps of each run (the runs' total, ``rl_zoo3.train -n``)
    :param milestones: Agent-step counts that every run reaches before any run goes past them, ascending
    :param save_freq: Agent steps between checkpoints (``rl_zoo3.train --save-freq``)
    :param eval_every: Agent steps between paper-protocol evaluations (a multiple of ``save_freq``); milestones and
        the final step are evaluated too
    :param eval_steps: Agent steps of each evaluation (the paper's protocol: 10,000 at epsilon 0.05)
    :param device: Torch device of the runs (``rl_zoo3.train --device``)
    :param hyperparams: ``KEY:VALUE`` strings passed to ``rl_zoo3.train --hyperparams`` unchanged
    :param replay_compression: Codec of the replay frames (``FrameStackReplayBuffer(compression=...)``) or ``"none"``
    :param targets: Agent steps each run goes to, by run name; ``steps`` for every run unless raised for some
    """

    games: list[str]
    seeds: list[int]
    steps: int
    milestones: list[int]
    save_freq: int
    eval_every: int
    eval_steps: int
    device: str
    hyperparams: list[str]
    replay_compression: str
    targets: dict[str, int] = field(default_factory=dict)

    def run_names(self) -> list[str]:
        """:return: The name of every run (its folder under ``OUT/runs``), games first, then seeds"""
        return [run_name(game, seed) for game in self.games for seed in self.seeds]

    def zoo_hyperparams(self, env_id: str) -> list[str]:
        """
        :param env_id: The run's game
        :return: The ``--hyperparams`` items of its runs: the campaign's replay codec (Atari games only: the frame
            buffer is theirs), then the user's
        """
        from sb3_dqn_paper.atari import is_atari_env_id

        items = list(self.hyperparams)
        if self.replay_compression != "none" and is_atari_env_id(env_id):
            items.insert(0, f"replay_buffer_kwargs:dict(compression='{self.replay_compression}')")
        return items

    def computation(self) -> dict[str, Any]:
        """:return: The fields that a resumed campaign must keep as they are (all but the steps and the targets)"""
        fixed = asdict(self)
        for name in ("steps", "targets"):
            fixed.pop(name)
        return fixed


def run_name(env_id: str, seed: int) -> str:
    """
    :param env_id: Gymnasium id
    :param seed: Seed of the run
    :return: The run's folder name under ``OUT/runs`` (``BreakoutNoFrameskip-v4_seed0``)
    """
    return f"{env_id.replace('/', '-')}_seed{seed}"


def parse_games(text: str) -> list[str]:
    """
    ``--games``: ``table1`` or comma-separated ids; a Table 1 game may be named by its short name (``Pong``).

    :param text: The option's value
    :return: Gymnasium ids, in the given order
    :raises InvalidArgumentError: for an empty list or a game named twice
    :raises UnknownEnvironmentError: for an id Gymnasium does not know
    """
    from sb3_dqn_paper.atari import is_atari_env_id

    if text.strip() == "table1":
        return list(TABLE1_GAMES)
    games = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            raise InvalidArgumentError(f"--games {text!r} has an empty entry; give ids separated by commas, or table1")
        env_id = TABLE1[item].env_id if item in TABLE1 else item
        try:
            is_atari_env_id(env_id)  # an unknown id, or an Atari id with frame skip or sticky actions of its own
        except UnknownEnvironmentError as error:
            raise UnknownEnvironmentError(
                f"--games: {error}; give an id such as PongNoFrameskip-v4, a Table 1 game ({', '.join(TABLE1)}) or table1"
            ) from error
        if env_id in games:
            raise InvalidArgumentError(f"--games names {env_id} twice")
        games.append(env_id)
    return games


def parse_int_list(text: str, option: str, minimum: int) -> list[int]:
    """
    A comma-separated list of integers (``1000000,2500000``; ``1e6`` and ``2_500_000`` are accepted too).

    :param text: The option's value
    :param option: The option's name, for the error message
    :param minimum: The smallest value allowed
    :return: The integers, in the given order
    :raises InvalidArgumentError: for a value that is not an integer, or is below ``minimum``
    """
    values = []
    for item in (part.strip() for part in text.split(",")):
        values.append(parse_int(item, option, minimum))
    return values


def parse_int(text: str, option: str, minimum: int) -> int:
    """
    One integer option value; ``1e6`` and ``2_500_000`` are accepted.

    :param text: The value
    :param option: The option's name, for the error message
    :param minimum: The smallest value allowed
    :return: The integer
    :raises InvalidArgumentError: for a value that is not a whole number, or is below ``minimum``
    """
    try:
        number = float(text.replace("_", ""))
    except ValueError:
        number = float("nan")
    if not number == number or number != int(number) or abs(number) > 1e15:
        raise InvalidArgumentError(f"{option}: {text!r} is not a whole number")
    if int(number) < minimum:
        raise InvalidArgumentError(f"{option} must be at least {minimum:,}, got {int(number):,}")
    return int(number)


def make_config(
    games: Sequence[str],
    seeds: Sequence[int],
    steps: int,
    milestones: Sequence[int] = (),
    save_freq: int = 250_000,
    eval_every: int = 250_000,
    eval_steps: int = 10_000,
    device: str = "cpu",
    hyperparams: Sequence[str] = (),
    replay_compression: str = "zstd",
) -> CampaignConfig:
    """
    Check a campaign's settings and build its configuration.

    :return: The configuration, with every run's target at ``steps``
    :raises InvalidArgumentError: naming the first setting that cannot be used
    """
    if not games:
        raise InvalidArgumentError("--games names no game")
    _check_seeds(seeds)
    milestones = list(milestones)
    _check_milestones(milestones, steps)
    if save_freq < 1:
        raise InvalidArgumentError(f"--save-freq must be at least 1 agent step, got {save_freq}")
    if eval_every < 1 or eval_every % save_freq:
        raise InvalidArgumentError(
            f"--eval-every {eval_every:,} must be a positive multiple of --save-freq {save_freq:,}: only the steps "
            "where a checkpoint is written can be evaluated"
        )
    if eval_steps < 1:
        raise InvalidArgumentError(f"--eval-steps must be at least 1, got {eval_steps}")
    if replay_compression not in COMPRESSIONS:
        raise InvalidArgumentError(f"--replay-compression {replay_compression!r}: choose one of {', '.join(COMPRESSIONS)}")
    if replay_compression != "none":
        _check_codec(replay_compression)
    _check_device(device)
    for item in hyperparams:
        if not _HYPERPARAM.match(item):
            raise InvalidArgumentError(f"--hyperparams {item!r}: give KEY:VALUE, as rl_zoo3.train takes them")
        key = item.split(":", 1)[0]
        if key in RESERVED_HYPERPARAMS:
            raise InvalidArgumentError(
                f"--hyperparams {key} is set by the campaign (--steps, --replay-compression); give those options instead"
            )
    config = CampaignConfig(
        games=list(games),
        seeds=list(seeds),
        steps=steps,
        milestones=milestones,
        save_freq=save_freq,
        eval_every=eval_every,
        eval_steps=eval_steps,
        device=device,
        hyperparams=list(hyperparams),
        replay_compression=replay_compression,
    )
    config.targets = {name: steps for name in config.run_names()}
    return config


def _check_seeds(seeds: Sequence[int]) -> None:
    """Refuse an empty list of seeds, a repeated seed or a negative one."""
    if not seeds:
        raise InvalidArgumentError("--seeds names no seed")
    if len(set(seeds)) != len(seeds):
        raise InvalidArgumentError(f"--seeds names a seed twice: {','.join(map(str, seeds))}")
    if any(seed < 0 for seed in seeds):
        raise InvalidArgumentError(f"--seeds must be non-negative, got {','.join(map(str, seeds))}")


def _check_milestones(milestones: Sequence[int], steps: int) -> None:
    """Refuse milestones that are not ascending, not positive, or beyond the runs' total."""
    if list(milestones) != sorted(set(milestones)):
        raise InvalidArgumentError(f"--milestones must be ascending and distinct, got {','.join(map(str, milestones))}")
    if milestones and milestones[0] < 1:
        raise InvalidArgumentError(f"--milestones must be positive, got {milestones[0]}")
    if milestones and milestones[-1] > steps:
        raise InvalidArgumentError(f"--milestones {milestones[-1]:,} is beyond --steps {steps:,}")


def _check_codec(name: str) -> None:
    """Refuse a codec whose package is not installed, before any run starts."""
    module = {"zstd": "zstandard", "lz4": "lz4.block"}[name]
    try:
        __import__(module)
    except ImportError as error:
        raise InvalidArgumentError(
            f"--replay-compression {name} needs the {module.split('.')[0]} package, which is not installed: "
            "pip install 'sb3-dqn-paper[compression]' (or --replay-compression none: 7.1 GB per 1M transitions)"
        ) from error


def _check_device(device: str) -> None:
    """Refuse a device torch cannot use here, before any run starts."""
    import torch

    if device == "auto":
        return
    try:
        parsed = torch.device(device)
    except RuntimeError as error:
        raise InvalidArgumentError(f"--device {device!r} is not a torch device: {error}") from error
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise InvalidArgumentError(f"--device {device}: no CUDA device is available on this machine")


def read_config(folder: str | os.PathLike) -> CampaignConfig | None:
    """
    :param folder: A campaign folder
    :return: Its configuration, or ``None`` if it has no ``campaign.json``
    :raises InvalidArgumentError: if ``campaign.json`` is there but is not a campaign configuration
    """
    path = pathlib.Path(folder) / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        if data.get("kind") != CONFIG_KIND:
            raise ValueError(f"its kind is {data.get('kind')!r}, not {CONFIG_KIND!r}")
        if data.get("format_version") != CONFIG_FORMAT_VERSION:
            raise ValueError(f"format version {data.get('format_version')!r}; this release reads {CONFIG_FORMAT_VERSION}")
        return CampaignConfig(**data["config"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InvalidArgumentError(f"{path} is not a readable campaign configuration ({error})") from error


def write_config(folder: str | os.PathLike, config: CampaignConfig) -> None:
    """
    Write ``campaign.json`` atomically.

    :param folder: The campaign folder (created if needed)
    :param config: The configuration
    """
    data = {"kind": CONFIG_KIND, "format_version": CONFIG_FORMAT_VERSION, "config": asdict(config)}
    atomic_write_files({pathlib.Path(folder) / CONFIG_FILE: (json.dumps(data, indent=2) + "\n").encode()})


def merge_with_saved(saved: CampaignConfig, given: CampaignConfig, milestones_given: bool) -> CampaignConfig:
    """
    The configuration of a campaign folder run again: the saved one, with the targets of the named runs raised.

    The games and seeds given may be all of the saved ones or some of them (to take only those further); ``--steps``
    may stay or be raised, never lowered; every other setting must be what it was.

    :param saved: The folder's configuration
    :param given: The configuration of the command line
    :param milestones_given: Whether ``--milestones`` was on the command line (omitted: the saved ones)
    :return: The configuration to run and to save
    :raises InvalidArgumentError: naming each setting that differs, with both values
    """
    new_games = [game for game in given.games if game not in saved.games]
    new_seeds = [seed for seed in given.seeds if seed not in saved.seeds]
    if new_games or new_seeds:
        raise InvalidArgumentError(
            "this campaign folder was started with --games "
            f"{','.join(saved.games)} --seeds {','.join(map(str, saved.seeds))}; "
            f"{'games ' + ','.join(new_games) if new_games else 'seeds ' + ','.join(map(str, new_seeds))} are not in it. "
            "Start another folder for other runs"
        )
    fixed_given = given.computation()
    if not milestones_given:
        fixed_given["milestones"] = saved.milestones
    differences = []
    for key, value in saved.computation().items():
        if key in ("games", "seeds"):
            continue
        if fixed_given[key] != value:
            differences.append(f"{key}: {value!r} in {CONFIG_FILE}, {fixed_given[key]!r} now")
    if differences:
        raise InvalidArgumentError(
            "this campaign folder was started with another configuration, and its runs can only go on with the same "
            "one (only --steps may be raised): " + "; ".join(differences)
        )
    targets = dict(saved.targets)
    for name in (run_name(game, seed) for game in given.games for seed in given.seeds):
        if given.steps < targets[name]:
            raise InvalidArgumentError(
                f"--steps {given.steps:,} is below the {targets[name]:,} agent steps run {name} was started for: "
                "--steps may be raised on a campaign folder, not lowered"
            )
        targets[name] = given.steps
    merged = CampaignConfig(**{**asdict(saved), "targets": targets, "steps": max(saved.steps, given.steps)})
    return merged
