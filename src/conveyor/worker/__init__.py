"""Workers: the claim loop and its executors, and the multi-process supervisor."""

from conveyor.worker._supervisor import supervise
from conveyor.worker._worker import Worker, WorkerStats

__all__ = ["Worker", "WorkerStats", "supervise"]
