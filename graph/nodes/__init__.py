"""One module per graph node. Each node takes ``(state, runtime)`` and returns a ``Command``."""
