"""The recorder: a GIF of the emulator's 210x160 RGB frames, played by the evaluation policy."""

import numpy as np
import pytest
import torch as th
from PIL import Image, ImageSequence

from sb3_dqn_paper import PaperDQN, make_paper_atari_env
from sb3_dqn_paper.tools.evaluate import evaluate_paper_protocol
from sb3_dqn_paper.tools.record import main, record_frames, write_gif

th.set_num_threads(1)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An untrained PaperDQN CnnPolicy for the 6 actions of Space Invaders and Pong."""
    env = make_paper_atari_env("SpaceInvadersNoFrameskip-v4", seed=0)
    path = tmp_path_factory.mktemp("models") / "space_invaders.zip"
    PaperDQN("CnnPolicy", env, buffer_size=100, learning_starts=50, seed=0).save(path)
    env.close()
    return str(path)


def decode_gif(path: str) -> tuple[list[np.ndarray], list[int]]:
    """The frames of a GIF as RGB arrays, and each frame's duration in milliseconds."""
    frames, durations = [], []
    with Image.open(path) as image:
        for frame in ImageSequence.Iterator(image):
            frames.append(np.array(frame.convert("RGB")))
            durations.append(frame.info["duration"])
    return frames, durations


def test_gif_holds_the_raw_rgb_frames(model_path: str, tmp_path) -> None:
    n_steps = 60
    recording = record_frames(model_path, "SpaceInvadersNoFrameskip-v4", n_steps=n_steps, seed=0)
    assert len(recording.frames) == n_steps + 1
    assert all(frame.shape == (210, 160, 3) and frame.dtype == np.uint8 for frame in recording.frames)
    # Colour frames, not the grayscale network input
    assert any(len(np.unique(frame.reshape(-1, 3), axis=0)) > 2 for frame in recording.frames)
    assert not np.array_equal(recording.frames[0][..., 0], recording.frames[0][..., 1])
    # Space Invaders skips 3 frames: 20 agent steps per second, 50 ms each
    assert recording.frame_duration_ms == 50

    path = str(tmp_path / "play.gif")
    write_gif(recording.frames, path, recording.frame_duration_ms)
    with Image.open(path) as image:
        assert image.format == "GIF"
        assert image.size == (160, 210)
    frames, durations = decode_gif(path)
    # Pillow stores a run of identical frames once, with the run's total duration
    changes = sum(not np.array_equal(a, b) for a, b in zip(recording.frames, recording.frames[1:], strict=False))
    assert len(frames) == 1 + changes
    assert sum(durations) == (n_steps + 1) * recording.frame_duration_ms
    replayed = [
        frame
        for frame, duration in zip(frames, durations, strict=True)
        for _ in range(duration // recording.frame_duration_ms)
    ]
    assert len(replayed) == n_steps + 1
    # Exact colours: an Atari frame has far fewer than 256
    for decoded, recorded in zip(replayed, recording.frames, strict=True):
        np.testing.assert_array_equal(decoded, recorded)


@pytest.mark.slow
def test_recording_plays_the_evaluated_games(model_path: str) -> None:
    # Same seed and settings: the games that end while recording are the games the evaluation scores
    settings = dict(n_steps=1_200, epsilon=1.0, seed=4)
    result = evaluate_paper_protocol(model_path, "PongNoFrameskip-v4", **settings)
    recording = record_frames(model_path, "PongNoFrameskip-v4", **settings)
    assert len(recording.scores) >= 1
    assert recording.scores == [episode.score for episode in result.episodes]
    # Stopping at the end of the first game: the frame after reset and one per step, except the last step's
    first_game = record_frames(model_path, "PongNoFrameskip-v4", **settings, until_game_end=True)
    assert first_game.scores == recording.scores[:1]
    assert len(first_game.frames) == result.episodes[0].length
    assert all(np.array_equal(a, b) for a, b in zip(first_game.frames, recording.frames, strict=False))


def test_command_line(model_path: str, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "videos" / "pong.gif"
    assert main([model_path, "--env", "PongNoFrameskip-v4", "--out", str(out), "--steps", "20"]) == 0
    printed = capsys.readouterr().out
    frames, durations = decode_gif(str(out))
    assert "21 frames of 210x160, 70 ms each" in printed
    # what the GIF holds is said too (Pillow stores a run of identical frames once)
    assert f"the GIF stores {len(frames)} of them" in printed
    assert frames[0].shape == (210, 160, 3)
    assert sum(durations) == 21 * 70
    before = out.read_bytes()
    assert main([model_path, "--env", "PongNoFrameskip-v4", "--out", str(out), "--steps", "5"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main([model_path, "--env", "PongNoFrameskip-v4", "--out", str(out), "--steps", "5", "--overwrite"]) == 0
    assert sum(decode_gif(str(out))[1]) == 6 * 70


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--out", "play.mp4"], "must name a .gif file"),
        (["--out", "new/play.gif", "--steps", "0"], "positive integer"),
        (["--out", "new/play.gif", "--epsilon", "2"], "epsilon must be in"),
    ],
)
def test_command_line_errors(model_path: str, tmp_path, argv: list, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [model_path, "--env", "PongNoFrameskip-v4", *argv]
    argv[argv.index("--out") + 1] = str(tmp_path / argv[argv.index("--out") + 1])
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_other_game_is_refused(model_path: str, tmp_path) -> None:
    with pytest.raises(ValueError, match=r"Discrete\(6\).*Discrete\(4\)"):
        record_frames(model_path, "BreakoutNoFrameskip-v4", n_steps=5)
