#!/usr/bin/env bash
# Download into .whl/ the wheels that the device machine (nvidia-h200: Python 3.12, x86_64, no package registry)
# lacks for scripts/device_lease.sh: gymnasium, ale-py, stable-baselines3 and farama-notifications.
#
# Run here, from the repository root, on a machine that reaches PyPI:   bash scripts/fetch_device_wheels.sh
#
# Versions: the ones installed in the Python that runs this script (the project's tested versions), so the device
# runs what the tests here ran. Everything else these packages require is already on the device image (its package
# list: numpy, cloudpickle, typing-extensions, pandas, matplotlib, torch, opencv-python-headless, pytest, hypothesis,
# psutil, rich, tqdm, tensorboard), so it is not carried: two versions of one package would stop the install there.
# rl_zoo3 is not carried: the lease trains through the Python API (sb3_dqn_paper.benchmarks.timed_train).
#
# The folder is ignored by git (/.whl/ in .git/info/exclude, added here if missing) and travels with
# `run(carry=[".whl"])`; it must stay well under the 64 MiB that a call may carry.
set -euo pipefail

cd "$(git rev-parse --show-toplevel)"
PYTHON="${PYTHON:-python3}"
DEST=.whl
# pip matches the manylinux tag exactly: the device README's list
PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64)

exclude="$(git rev-parse --git-common-dir)/info/exclude"
mkdir -p "$(dirname "$exclude")"
grep -qxF '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >>"$exclude"

version() {
    "$PYTHON" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"
}

# name as pip knows it; the version comes from the local install
PACKAGES=(gymnasium ale-py stable-baselines3 farama-notifications)

rm -rf "$DEST"
mkdir -p "$DEST"
platform_args=()
for platform in "${PLATFORMS[@]}"; do
    platform_args+=(--platform "$platform")
done
for package in "${PACKAGES[@]}"; do
    spec="$package==$(version "$package")"
    echo "== $spec"
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${platform_args[@]}" -d "$DEST" "$spec"
done

echo
echo "Requires-Dist of each wheel (the device must have each non-extra requirement; see KINDS.md's package list):"
for wheel in "$DEST"/*.whl; do
    echo "-- $(basename "$wheel")"
    unzip -p "$wheel" '*.dist-info/METADATA' | grep '^Requires-Dist' | grep -v 'extra ==' | sed 's/^/   /' || true
done
echo
ls -l "$DEST"
du -sh "$DEST"
