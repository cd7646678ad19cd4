"""FairNAD: open-ended neural architecture search driven by agents.

This small package is the launcher: it checks that the generic package names FairNAD
uses (``agents``, ``graph``, ``knowledge``, ``fairnad_tools``) resolve to FairNAD's own
packages, not to another installed package that shadows them, then starts the CLI.
"""

from __future__ import annotations

import importlib
import importlib.util

__version__ = "0.1.0"
__fairnad__ = "fairnad"

PACKAGES = ("agents", "graph", "knowledge", "fairnad_tools")


class ShadowedPackageError(ImportError):
    pass


def check_packages() -> None:
    """Raise :class:`ShadowedPackageError` when one of our package names is someone else's."""
    problems = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None:
            problems.append(f"'{name}' is not installed; reinstall FairNAD (make setup)")
            continue
        module = importlib.import_module(name)
        if getattr(module, "__fairnad__", None) != name:
            where = getattr(module, "__file__", None) or spec.origin or "an unknown location"
            problems.append(f"'{name}' resolves to {where}, which is not FairNAD's package")
    if problems:
        raise ShadowedPackageError(
            "FairNAD cannot start: " + "; ".join(problems) + ". Another installed package or a "
            "folder on PYTHONPATH / in the current directory uses the same name: uninstall it "
            "(pip uninstall <name>), remove it from PYTHONPATH, or run FairNAD in its own virtual "
            "environment."
        )
