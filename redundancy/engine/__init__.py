"""The engine: spec -> plan of stages -> driver -> executor -> store."""

from redundancy.engine.driver import RunReport, drive, run_plan
from redundancy.engine.plan import Plan, StudyStage, TrainStage, make_plan

__all__ = ["Plan", "RunReport", "StudyStage", "TrainStage", "drive", "make_plan", "run_plan"]
