"""Builds the FairNAD state machine (uncompiled; the caller picks the checkpointer).

load_knowledge -> plan_round -> mutate -> <gate 1> -> ... -> <gate n> -+-> train -> feedback -> archive
                      ^                                                 |                         |
                      |          (a gate sent a candidate back) mutate <+                         |
                      +------------------------ next round -------------------------------------+
"""

from __future__ import annotations

from langgraph.graph import START, StateGraph

from agents.registry import RoleRegistryError
from graph.context import RunContext
from graph.nodes.archive import archive
from graph.nodes.feedback import feedback
from graph.nodes.gate import after_gates, make_gate
from graph.nodes.load_knowledge import load_knowledge
from graph.nodes.mutate import mutate
from graph.nodes.plan_round import plan_round
from graph.nodes.train import train
from graph.settings import RolesSettings

RESERVED = frozenset({"load_knowledge", "plan_round", "mutate", "train", "feedback", "archive"})


def build_graph(roles: RolesSettings) -> StateGraph:
    """The uncompiled graph; ``roles.gates`` become one node each, in order, after ``mutate``.

    Raises :class:`RoleRegistryError` when a gate's name is one of the graph's own nodes.
    """
    from graph.state import RunState

    clash = RESERVED.intersection(roles.gates)
    if clash:
        raise RoleRegistryError(
            f"[roles] gates may not use the graph's own node names ({', '.join(sorted(RESERVED))}): "
            f"{', '.join(sorted(clash))}; register the gate role under another name"
        )
    builder = StateGraph(RunState, context_schema=RunContext)

    # Nodes that route with Command[Literal[...]] (their destinations are in their signatures).
    builder.add_node("load_knowledge", load_knowledge)
    builder.add_node("plan_round", plan_round)
    builder.add_node("archive", archive)

    # Nodes with fixed edges, wired below.
    builder.add_node("mutate", mutate)
    gates = list(roles.gates)
    for index, name in enumerate(gates):
        builder.add_node(name, make_gate(name, last=index == len(gates) - 1))
    builder.add_node("train", train)
    builder.add_node("feedback", feedback)

    # Wiring: start -> knowledge; mutate -> gates in order; the last gate loops back to
    # mutate while a candidate waits for a retry, else the batch trains.
    builder.add_edge(START, "load_knowledge")
    builder.add_edge("mutate", gates[0])
    for first, second in zip(gates, gates[1:], strict=False):
        builder.add_edge(first, second)
    builder.add_conditional_edges(gates[-1], after_gates, {"mutate": "mutate", "train": "train"})
    builder.add_edge("train", "feedback")
    builder.add_edge("feedback", "archive")
    return builder
