"""FairNAD knowledge: the attribute template, the idea bank and its vector store.

Knows nothing about search or training. Heavy dependencies (Chroma,
sentence-transformers) are imported only when a store is opened.
"""

__fairnad__ = "knowledge"
