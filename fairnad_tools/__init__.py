"""FairNAD deterministic tools: architecture specs, verification, training, measurement.

Nothing in this package calls an LLM or imports LangChain, LangGraph or Chroma, so the
verifier and the training worker start fast (checked by import-linter).
"""

__fairnad__ = "fairnad_tools"
