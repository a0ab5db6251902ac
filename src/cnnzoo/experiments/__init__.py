"""The lecture's experiments, one command each (`cnnzoo reproduce NAME`): definitions as data, a
resumable sweep over the ordinary training engine, and results beside the papers' numbers."""
from .definitions import EXPERIMENTS, Experiment, PaperNumber, RunSpec
from .plan import Plan
from .runner import estimate, get_experiment, reproduce, rewrite_results, select_runs

__all__ = ["EXPERIMENTS", "Experiment", "PaperNumber", "Plan", "RunSpec", "estimate", "get_experiment", "reproduce", "rewrite_results", "select_runs"]
