"""FairNAD graph: the LangGraph state machine, the round planner, the run store and the CLI.

Importing this package is cheap: LangGraph is imported by the modules that need it,
so ``fairnad verify`` starts without it.
"""

__fairnad__ = "graph"
