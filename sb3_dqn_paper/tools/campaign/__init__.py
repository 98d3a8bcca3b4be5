"""
A campaign: every (game, seed) of a set of Atari games trained with ``rl_zoo3.train --algo paper_dqn`` to a
budget, through any number of stops and resumes, evaluated with the paper's protocol and reported in the layout
of the paper's Table 1.

``python -m sb3_dqn_paper.tools.campaign run|status|commands|report|combine ...`` (also ``sb3-dqn-paper campaign ...``); see
``docs/campaign.md``. One module per job: :mod:`~sb3_dqn_paper.tools.campaign.config` (settings, ``campaign.json``),
:mod:`~sb3_dqn_paper.tools.campaign.runs` (a run's files and its command line), :mod:`~sb3_dqn_paper.tools.campaign.scheduler`
(the processes, milestones, signals, evaluations and disk), :mod:`~sb3_dqn_paper.tools.campaign.evaluation` (one
checkpoint's evaluation), :mod:`~sb3_dqn_paper.tools.campaign.status` (the status table),
:mod:`~sb3_dqn_paper.tools.campaign.table` (Table 1 and the human-normalised aggregates),
:mod:`~sb3_dqn_paper.tools.campaign.combine` (one Table 1 from several campaigns) and
:mod:`~sb3_dqn_paper.tools.campaign.cli` (the command line).
"""
