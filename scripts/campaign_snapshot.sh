#!/usr/bin/env bash
# Land a campaign's results in the repository: its small files (configuration, evaluations, Monitor logs and
# rl-zoo3 arguments of every segment) under DEST/data, then `campaign report` on the campaign folder (Table 1,
# references, human-normalised scores, learning curves) into DEST, and each run's latest evaluated agent into agents/
# (an agent already there with more agent steps, from the same model file or with the same weights, is kept; one with
# as many agent steps and other weights is replaced: the latest campaign among equals, as in the README), and the Table 1 of all
# landed campaigns together into docs/results/table1/.
#
#   bash scripts/campaign_snapshot.sh ~/runs/campaign docs/results/campaign-2026-12-05
#
# DEST is docs/results/campaign-<the day the campaign started>, with a letter (b, c, ...) after the date for a second
# campaign started the same day: a campaign whose machine was replaced cannot go on
# (its checkpoints stayed behind), so the next one gets a folder of its own and the earlier one's files stay.
# tests/test_docs.py checks that each DEST/table1.md is what `campaign report` makes of DEST/data.
set -euo pipefail
campaign=${1:?usage: bash scripts/campaign_snapshot.sh CAMPAIGN_FOLDER docs/results/campaign-YYYY-MM-DD[b-z]}
dest=${2:?usage: bash scripts/campaign_snapshot.sh CAMPAIGN_FOLDER docs/results/campaign-YYYY-MM-DD[b-z]}
cd "$(dirname "$0")/.."
case "$dest" in
    docs/results/campaign-[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]) ;;
    docs/results/campaign-[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][b-z]) ;;
    *) echo "error: DEST must be docs/results/campaign-YYYY-MM-DD (a letter b-z after it for a second campaign started that day), got $dest" >&2; exit 2 ;;
esac
[ -f "$campaign/campaign.json" ] || { echo "error: $campaign is not a campaign folder (no campaign.json)" >&2; exit 2; }
data=$dest/data
rm -rf "$data"
mkdir -p "$data"
cp "$campaign/campaign.json" "$data/"
cp -r "$campaign/evals" "$data/evals"
# Monitor logs and rl-zoo3 arguments of every segment, and the segments' records of machine, versions and times
# (no checkpoints, models or logs of the processes)
(cd "$campaign" && find runs \( -path '*/paper_dqn/*' \( -name '0.monitor.csv' -o -name 'config.yml' -o -name 'args.yml' \) \
    -o -path '*/segments/*' -name '[0-9][0-9][0-9].json' \) -print0) |
    while IFS= read -r -d '' file; do
        mkdir -p "$data/$(dirname "$file")"
        cp "$campaign/$file" "$data/$file"
    done
python -m sb3_dqn_paper.tools.campaign report "$campaign" --out "$dest" --agents agents
python -m sb3_dqn_paper.tools.campaign status "$campaign" > "$dest/status.txt"
# Table 1 of every landed campaign together, each game from its furthest run (folders oldest first)
LC_ALL=C python -m sb3_dqn_paper.tools.campaign combine docs/results/campaign-*/data --out docs/results/table1
