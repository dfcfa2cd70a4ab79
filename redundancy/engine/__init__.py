"""The engine: spec -> plan of stages -> executor -> store."""

from redundancy.engine.plan import Plan, StudyStage, TrainStage, make_plan
from redundancy.engine.runner import RunReport, run_plan

__all__ = ["Plan", "RunReport", "StudyStage", "TrainStage", "make_plan", "run_plan"]
