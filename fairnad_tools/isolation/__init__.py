"""Isolation: how candidate code runs apart from FairNAD.

* :mod:`~fairnad_tools.isolation.guard` — the in-process guard a worker installs before
  candidate code runs (PEP 578 audit hook, resource limits, Landlock), and the loader of a
  candidate file.
* :mod:`~fairnad_tools.isolation.landlock` — the Linux Landlock file-system confinement.
* :mod:`~fairnad_tools.isolation.proc` — child-process helpers (a leaf: scrubbed environment,
  death with the parent, capped output); imports nothing else of this package.
* :mod:`~fairnad_tools.isolation.forkserver` — the fork server that forks workers from a
  process with torch already imported (``python -m fairnad_tools.isolation.forkserver``).
* :mod:`~fairnad_tools.isolation.launch` — :func:`run_python_module`, which runs a worker
  module in a child, forked or fresh.

Nothing is imported here, so a worker that needs only the guard does not load the rest.
"""
