#!/usr/bin/env bash
# The one prepared script for a short lease of the GPU device machine (nvidia-h200), run from the repository root:
#
#   on the device (the `run` tool, carry [".whl"], timeout_s 600):   bash scripts/device_lease.sh
#   here, on the CPU, to test the plumbing with tiny sizes:          DRY=1 bash scripts/device_lease.sh
#
# Stages, each under its own `timeout`, all inside BUDGET_S seconds (a failed stage is logged and the next one runs):
#   1. setup:   install the carried wheels (.whl/, made by scripts/fetch_device_wheels.sh) into /tmp/site as the device
#               README says, then print the versions, the GPU and torch's view of it
#   2. pytest:  the CUDA-only tests (`-m cuda`, in the test files that use the marker), log in $OUT/pytest_cuda.log
#   3. speed:   sb3_dqn_paper.benchmarks.speed on $DEVICE and $ENV_ID: PaperDQN against SB3's DQN on the same GPU in
#               the same process, one update per agent step at batch 32; $OUT/speed.json
#   4. speed2:  the same benchmark with PaperDQN's extra arguments SPEED2_KWARGS (default bf16), shorter; skipped
#               when the time left is short or SPEED2_KWARGS is empty; $OUT/speed2.json
#   5. train:   sb3_dqn_paper.benchmarks.timed_train: PaperDQN with the paper's defaults on $ENV_ID for the time left;
#               $OUT/model.zip (no replay buffer), $OUT/monitor.csv, $OUT/summary.json
# The whole log is $OUT/lease.log. That is 7 files at most, each far under 16 MiB (the model is about 8.5 MB).
#
# Settings (environment variables): DRY (1: CPU and tiny sizes), DEVICE (cuda; cpu with DRY=1), PYTHON (python3),
# OUT (set by the device; else /tmp/device-lease-out), BUDGET_S (510; 360 with DRY=1, where training stops after
# 30 s), ENV_ID (BreakoutNoFrameskip-v4), TRAIN_BACKEND (ale) and TRAIN_ENVS (8), SPEED2_KWARGS
# ('{"precision": "bf16"}'; empty skips the stage), WHEELS (.whl).
set -uo pipefail

cd "$(dirname "$0")/.."
START=$(date +%s)
DRY=${DRY:-0}
if [ "$DRY" = 1 ]; then
    DEVICE=${DEVICE:-cpu} BUDGET_S=${BUDGET_S:-360}
else
    DEVICE=${DEVICE:-cuda} BUDGET_S=${BUDGET_S:-510}
fi
PYTHON=${PYTHON:-python3}
OUT=${OUT:-/tmp/device-lease-out}
ENV_ID=${ENV_ID:-BreakoutNoFrameskip-v4}
TRAIN_BACKEND=${TRAIN_BACKEND:-ale}
TRAIN_ENVS=${TRAIN_ENVS:-8}
SPEED2_KWARGS=${SPEED2_KWARGS-'{"precision": "bf16"}'}
WHEELS=${WHEELS:-.whl}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
exec > >(tee -a "$OUT/lease.log") 2>&1

if [ "$DRY" = 1 ]; then
    SPEED_ARGS=(--steps 20 --segments 2 --buffer-size 500 --learning-starts 100 --warmup-updates 2 --split-steps 10
        --update-steps 4 --env-steps 50)
    SPEED2_ARGS=(--steps 10 --segments 2 --buffer-size 500 --learning-starts 100 --warmup-updates 2 --split-steps 0
        --update-steps 4 --env-steps 0)
    TRAIN_ARGS=(--buffer-size 2000 --learning-starts 200 --n-envs 2)
    PYTEST_S=120 SPEED_S=150 SPEED2_S=90 TRAIN_MIN_S=60 TRAIN_CAP_S=75
else
    SPEED_ARGS=(--steps 6000 --segments 6 --split-steps 600 --update-steps 600 --env-steps 2000)
    SPEED2_ARGS=(--steps 3000 --segments 4 --split-steps 0 --update-steps 300 --env-steps 0)
    TRAIN_ARGS=(--n-envs "$TRAIN_ENVS")
    PYTEST_S=120 SPEED_S=200 SPEED2_S=90 TRAIN_MIN_S=120 TRAIN_CAP_S=100000
fi

STAGES=()
FAILED=0
left() { echo $((BUDGET_S - ($(date +%s) - START))); }
# stage NAME SECONDS COMMAND...: run COMMAND under `timeout`, log its exit status and duration
stage() {
    local name=$1 seconds=$2 begin rc
    shift 2
    # never past the budget
    if [ "$(left)" -lt 10 ]; then
        skip "$name" "$(left)s of the budget left"
        return 0
    fi
    [ "$seconds" -gt "$(left)" ] && seconds=$(left)
    begin=$(date +%s)
    echo
    echo "=== stage $name (limit ${seconds}s, $(left)s of the budget left): $*"
    timeout -k 10 "$seconds" "$@"
    rc=$?
    [ "$rc" = 124 ] && echo "=== stage $name: stopped by its time limit"
    [ "$rc" != 0 ] && FAILED=1
    STAGES+=("$(printf '%-8s rc=%-3s %4ss' "$name" "$rc" $(($(date +%s) - begin)))")
    return "$rc"
}
skip() {
    echo
    echo "=== stage $1 skipped: $2"
    STAGES+=("$(printf '%-8s skipped (%s)' "$1" "$2")")
}
finish() {
    echo
    echo "=== device_lease.sh: $(($(date +%s) - START))s of a ${BUDGET_S}s budget, DRY=$DRY DEVICE=$DEVICE"
    printf '  %s\n' "${STAGES[@]}"
    echo "  files under \$OUT (at most 8 come back, 16 MiB each):"
    (cd "$OUT" && ls -l | tail -n +2 | awk '{printf "    %10d  %s\n", $5, $9}')
    exit "$FAILED"
}

# 1. setup ------------------------------------------------------------------------------------------------------------
setup() {
    if compgen -G "$WHEELS/*.whl" >/dev/null; then
        if [ "$DRY" = 1 ]; then
            # Here the Python may not be the device's 3.12: check that pip would install the wheels there
            "$PYTHON" -m pip install -q --dry-run --no-index --no-deps --only-binary=:all: --python-version 3.12 \
                --implementation cp --target /tmp/site-dry --upgrade "$WHEELS"/*.whl || return 1
            echo "wheels: a Python 3.12 install of $(ls "$WHEELS"/*.whl | wc -l) wheels resolves (dry run; not installed)"
        else
            # As the device README says; the device has no package registry
            "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
                "$WHEELS"/*.whl || return 1
            echo "wheels: installed $(ls "$WHEELS"/*.whl | wc -l) into /tmp/site"
        fi
    else
        echo "wheels: none in $WHEELS/ (run scripts/fetch_device_wheels.sh here and carry .whl)"
    fi
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm \
        --format=csv
    "$PYTHON" - "$DEVICE" <<'EOF'
import os, platform, sys
import ale_py, gymnasium, numpy, stable_baselines3, torch
import sb3_dqn_paper
print(f"python {platform.python_version()}, torch {torch.__version__}, SB3 {stable_baselines3.__version__}, "
      f"gymnasium {gymnasium.__version__}, ale-py {ale_py.__version__}, numpy {numpy.__version__}, cpus {os.cpu_count()}")
print(f"sb3_dqn_paper from {os.path.dirname(sb3_dqn_paper.__file__)}")
device = sys.argv[1]
if device.startswith("cuda"):
    if not torch.cuda.is_available():
        sys.exit("setup: torch sees no CUDA device")
    props = torch.cuda.get_device_properties(device)
    print(f"{props.name}: {props.total_memory / 2**30:.0f} GiB, capability {props.major}.{props.minor}, "
          f"{props.multi_processor_count} SMs; bf16 {torch.cuda.is_bf16_supported()}; "
          f"cudnn {torch.backends.cudnn.version()}, cudnn.allow_tf32 {torch.backends.cudnn.allow_tf32}, "
          f"matmul.allow_tf32 {torch.backends.cuda.matmul.allow_tf32}")
EOF
}
# This checkout's package first (an installed copy elsewhere, e.g. an editable install, must not shadow it), then the
# wheels' target on the device
if [ "$DRY" = 1 ]; then export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}; else export PYTHONPATH=$PWD:/tmp/site; fi
export DRY DEVICE PYTHON WHEELS OUT
export -f setup
if ! stage setup 90 bash -c setup; then
    echo "=== setup failed: the other stages need its packages and device"
    finish
fi

# 2. CUDA-only tests ---------------------------------------------------------------------------------------------------
run_pytest() {
    set -o pipefail
    "$PYTHON" -m pytest -q -rs -m cuda -p no:cacheprovider "$@" 2>&1 | tee "$OUT/pytest_cuda.log"
}
export -f run_pytest
mapfile -t CUDA_TESTS < <(grep -l 'pytest.mark.cuda' tests/test_*.py)
if [ "${#CUDA_TESTS[@]}" = 0 ]; then
    skip pytest "no test file uses the cuda marker"
else
    stage pytest "$PYTEST_S" bash -c 'run_pytest "$@"' run_pytest "${CUDA_TESTS[@]}"
fi

# 3. speed against SB3's DQN -------------------------------------------------------------------------------------------
stage speed "$SPEED_S" "$PYTHON" -m sb3_dqn_paper.benchmarks.speed --device "$DEVICE" --env "$ENV_ID" "${SPEED_ARGS[@]}" \
    --json "$OUT/speed.json"

# 4. a PaperDQN variant, when there is time ------------------------------------------------------------------------------
if [ -z "$SPEED2_KWARGS" ]; then
    skip speed2 "SPEED2_KWARGS is empty"
elif [ "$(left)" -lt $((SPEED2_S + TRAIN_MIN_S)) ]; then
    skip speed2 "$(left)s left, the training run comes first"
else
    stage speed2 "$SPEED2_S" "$PYTHON" -m sb3_dqn_paper.benchmarks.speed --device "$DEVICE" --env "$ENV_ID" \
        "${SPEED2_ARGS[@]}" --paper-kwargs "$SPEED2_KWARGS" --json "$OUT/speed2.json"
fi

# 5. training run of the paper's defaults for the time left --------------------------------------------------------------
TRAIN_S=$(($(left) - 15))
[ "$TRAIN_S" -gt "$TRAIN_CAP_S" ] && TRAIN_S=$TRAIN_CAP_S
if [ "$TRAIN_S" -lt 60 ]; then
    skip train "$(left)s left"
else
    # learn() gets the limit less 45 s: start-up (imports, CUDA, replay allocation) before, saving after
    stage train "$TRAIN_S" "$PYTHON" -m sb3_dqn_paper.benchmarks.timed_train --device "$DEVICE" --env "$ENV_ID" \
        --backend "$TRAIN_BACKEND" "${TRAIN_ARGS[@]}" --seconds $((TRAIN_S - 45)) --out-dir "$OUT"
    [ -f "$OUT/summary.json" ] && "$PYTHON" -c "import json,sys; s=json.load(open(sys.argv[1])); \
print({k: s.get(k) for k in ('steps', 'updates', 'games', 'seconds', 'steps_per_s', 'after_learning_starts', \
'replay_frames_device', 'td_forward', 'mean_score_last_100_games')})" "$OUT/summary.json"
fi
finish
