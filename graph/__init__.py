"""FairNAD graph: the LangGraph state machine, the round planner, the run store and the CLI.

Importing this package is cheap: LangGraph is imported by the modules that need it,
so ``fairnad verify`` starts without it.
"""

__fairnad__ = "graph"


def version() -> str:
    """The installed FairNAD version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    try:
        return _version("fairnad")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"
