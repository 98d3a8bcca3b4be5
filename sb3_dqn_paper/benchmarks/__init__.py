"""Benchmarks of sb3-dqn-paper, each runnable as ``python -m sb3_dqn_paper.benchmarks.<name>``."""
