"""Training: the job, its result, the worker child and the executors that run a round's jobs.

* :mod:`~fairnad_tools.train.job` — :class:`TrainJob`, the dataset defaults
  (:func:`resolve_train_settings`) and :func:`job_for`.
* :mod:`~fairnad_tools.train.result` — :class:`TrainResult` (``metrics.json``).
* :mod:`~fairnad_tools.train.run` — :func:`train_candidate`, the idempotent parent side.
* :mod:`~fairnad_tools.train.worker` — the child: ``python -m fairnad_tools.train.worker --job FILE``.
* :mod:`~fairnad_tools.train.executor` — executors that run the jobs of a round.
"""

from fairnad_tools.train.job import TrainJob, job_for, resolve_train_settings
from fairnad_tools.train.result import TrainResult
from fairnad_tools.train.run import train_candidate

__all__ = ["TrainJob", "TrainResult", "job_for", "resolve_train_settings", "train_candidate"]
