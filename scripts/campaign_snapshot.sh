#!/usr/bin/env bash
# Land a campaign's results in the repository: its small files (configuration, evaluations, Monitor logs and
# rl-zoo3 arguments of every segment) under docs/results/campaign/data, then `campaign report` on the campaign
# folder (Table 1, references, human-normalised scores, learning curves) into docs/results/campaign, and each run's
# latest evaluated agent into agents/ (an agent already there with as many agent steps or more is kept).
#
#   bash scripts/campaign_snapshot.sh ~/runs/campaign
#
# tests/test_docs.py checks that docs/results/campaign/table1.md is what `campaign report` makes of data/.
set -euo pipefail
campaign=${1:?usage: bash scripts/campaign_snapshot.sh CAMPAIGN_FOLDER}
cd "$(dirname "$0")/.."
data=docs/results/campaign/data
rm -rf "$data"
mkdir -p "$data"
cp "$campaign/campaign.json" "$data/"
cp -r "$campaign/evals" "$data/evals"
# Monitor logs and rl-zoo3 arguments of every segment (no checkpoints, models or logs of the processes)
(cd "$campaign" && find runs -path '*/paper_dqn/*' \( -name '0.monitor.csv' -o -name 'config.yml' -o -name 'args.yml' \) -print0) |
    while IFS= read -r -d '' file; do
        mkdir -p "$data/$(dirname "$file")"
        cp "$campaign/$file" "$data/$file"
    done
python -m sb3_dqn_paper.campaign report "$campaign" --out docs/results/campaign --agents agents
python -m sb3_dqn_paper.campaign status "$campaign" > docs/results/campaign/status.txt
