"""The speed benchmark runs end to end on a tiny budget, reports both systems, and refuses bad settings early."""

import json
import re

import pytest
import torch as th

from sb3_dqn_paper.benchmarks.speed import (
    PAPER_DQN,
    PIECES,
    SB3_DQN,
    Settings,
    SplitTimer,
    build_paper_dqn,
    format_report,
    main,
    parse_args,
    run,
)

th.set_num_threads(1)

TINY = dict(
    steps=4, segments=2, buffer_size=64, learning_starts=32, warmup_updates=1, split_steps=3, update_steps=2, env_steps=5
)


@pytest.mark.slow
def test_tiny_run_reports_both_systems():
    result = run(Settings(**TINY, threads=1), log=lambda line: None)
    assert set(result["throughput"]) == {SB3_DQN, PAPER_DQN}
    for numbers in result["throughput"].values():
        assert numbers["steps"] == 4 and numbers["steps_per_s"] > 0 and numbers["steps_per_cpu_s"] > 0
    assert result["ratio"] == pytest.approx(
        result["throughput"][PAPER_DQN]["steps_per_s"] / result["throughput"][SB3_DQN]["steps_per_s"]
    )
    for split in result["split_ms_per_step"].values():
        assert list(split) == list(PIECES)
        assert split["env step"] > 0 and split["update"] > 0 and split["replay sample"] > 0
    assert result["system"]["torch_threads"] == 1
    assert all(speed > 0 for speed in result["env_steps_per_s"].values())
    report = format_report(result)
    assert "ratio PaperDQN / SB3 DQN" in report and "torch_threads: 1" in report
    # efficiency against this machine's measured peak, in the same process
    peak = result["gemm_peak_gflops"]["fp32"]
    assert peak > 0 and "GEMM peak (2048x2048 matmul" in report
    update_ms = result["update_alone_ms"][PAPER_DQN]["wall_ms"]
    share = 100 * result["update_flops"]["update"] / (update_ms * 1e6) / peak
    assert f"{share:.0f} % of the fp32 peak" in report
    json.dumps(result)  # the --json output is serialisable


def test_split_timer_restores_the_wrapped_methods():
    model = build_paper_dqn(Settings(**TINY))
    timer = SplitTimer(model)
    assert "train" in vars(model) and "predict" in vars(model) and "step" in vars(model.env)
    model.learn(40)
    timer.remove()
    assert "train" not in vars(model) and "predict" not in vars(model)
    assert "step" not in vars(model.env) and "sample" not in vars(model.replay_buffer)
    split = timer.split(wall_seconds=1.0, steps=40)
    assert split["update"] > 0  # 8 updates after learning_starts=32
    assert sum(split.values()) == pytest.approx(1000.0 / 40)
    model.env.close()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--steps", "3", "--segments", "5"], "must be at least --segments"),
        (["--device", "tpu"], "--device must be cpu or cuda"),
        (["--learning-starts", "500", "--buffer-size", "100"], "cannot exceed --buffer-size"),
        (["--paper-kwargs", "[1]"], "must be a JSON object"),
        (["--epsilon", "2"], "--epsilon must be in"),
    ],
)
def test_bad_arguments_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert message in capsys.readouterr().err


def test_unknown_env_is_refused_before_building(capsys):
    with pytest.raises(SystemExit, match="--env"):
        main(["--env", "NoSuchGameNoFrameskip-v4"])


def test_help_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--help"])
    assert exit_info.value.code == 0
    assert "--paper-kwargs" in capsys.readouterr().out


def test_update_flops_of_the_paper_network():
    """The FLOP count follows the layer shapes: 0.655 GFLOP per update for 6 actions (about 0.65)."""
    from stable_baselines3.common.envs import FakeImageEnv

    from sb3_dqn_paper import PaperDQN
    from sb3_dqn_paper.benchmarks.speed import update_flops
    from sb3_dqn_paper.policies import PaperCNN

    env = FakeImageEnv(screen_height=84, screen_width=84, n_channels=4, discrete=True, channel_first=True)
    q_net = PaperDQN("CnnPolicy", env, buffer_size=100, learning_starts=10, device="cpu").q_net
    assert isinstance(q_net.features_extractor, PaperCNN) and q_net.action_space.n == 6
    flops = update_flops(q_net, (4, 84, 84), batch_size=32)
    # multiply-adds per sample: conv1 20*20*16 outputs x 4*8*8, conv2 9*9*32 x 16*4*4, fc 2592*256, out 256*6
    macs = [20 * 20 * 16 * 256, 9 * 9 * 32 * 256, 2592 * 256, 256 * 6]
    forward = 2 * sum(macs)
    assert flops["forward_per_sample"] == forward and flops["first_layer_per_sample"] == 2 * macs[0]
    assert flops["update"] == 64 * forward + 32 * (2 * forward - 2 * macs[0])
    assert flops["update"] / 1e9 == pytest.approx(0.6547, abs=1e-4)


def test_space_to_depth_conv_is_the_same_function():
    """The space-to-depth rewrite of the 8x8 stride-4 convolution gives the same outputs (float rounding apart)."""
    from sb3_dqn_paper.benchmarks.update_variants import SpaceToDepthConv

    th.manual_seed(0)
    conv = th.nn.Conv2d(4, 16, kernel_size=8, stride=4)
    rewritten = SpaceToDepthConv(conv)
    x = th.rand(5, 4, 84, 84)
    expected = conv(x)
    assert rewritten.conv.weight.shape == (16, 64, 2, 2) and expected.shape == (5, 16, 20, 20)
    th.testing.assert_close(rewritten(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_update_variants_tiny_run(capsys):
    from sb3_dqn_paper.benchmarks.update_variants import main

    main(["--calls", "2", "--rounds", "1", "--fill", "40"])
    out = capsys.readouterr().out
    for variant in ("fp32", "fp32, 2 threads", "bf16", "fp32, space-to-depth conv1", "bf16, space-to-depth conv1"):
        assert f"\n{variant} " in out
    assert "largest Q-value change from the rewrite" in out
    assert "GEMM peak (2048x2048 matmul, 1 thread, this process): fp32 " in out and "of the fp32 peak" in out


def test_peak_and_share_of_peak():
    from sb3_dqn_paper.benchmarks.peak import gemm_peaks, matmul_gflops, share_of_peak
    from sb3_dqn_paper.precision import cpu_has_native_bf16

    assert matmul_gflops(th.float32, size=128, repeats=2) > 0
    peaks = gemm_peaks(size=128, repeats=2)
    assert (peaks["bf16"] is not None) == cpu_has_native_bf16()
    assert share_of_peak(31.0, {"fp32": 62.0, "bf16": None}, "fp32") == "50 % of the fp32 peak"
    assert share_of_peak(31.0, {"fp32": 62.0, "bf16": None}, "bf16") == "no native bf16 peak"


def test_input_copy_tiny_run(capsys):
    from sb3_dqn_paper.benchmarks.input_copy import main

    main(["--rounds", "2", "--copies", "2", "--updates", "2", "--fill", "40"])
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith(("transpose ", "per_channel "))}
    assert set(rows) == {"transpose", "per_channel"}
    assert all(float(value) > 0 for values in rows.values() for value in values)
    assert re.search(r"auto chose '(transpose|per_channel)' on BreakoutNoFrameskip-v4's first minibatch", out)
    with pytest.raises(SystemExit):
        main(["--fill", "8"])
