"""FairNAD agent roles: extractor, mutation, verifier, feedback, and any plugin role.

Roles are classes registered by name (:func:`agents.registry.register_role`); the graph
looks them up from the configuration. Every role has an offline built-in policy.
"""

__fairnad__ = "agents"
