"""A registry of named plugin classes: register by decorator, look up by name, list, load plugins.

FairNAD's extension points (roles, search spaces, strategies) each keep one :class:`Registry`.
Built-in entries are the modules of one package (imported on first use); third-party ones
arrive through a Python entry-point group, each entry point naming a module or a class::

    [project.entry-points."fairnad.spaces"]
    my_space = "my_package.my_space"
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import pkgutil
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T = TypeVar("T", bound=type)


class PluginError(ValueError):
    """An unknown name, a name registered twice, a class of the wrong kind or a plugin that fails to load."""


class Registry(Generic[T]):
    """Named classes of one kind.

    ``what`` names the kind in messages ("search space"); ``base`` is the class every entry
    must subclass; ``package`` is the dotted name of the package whose modules hold the
    built-in entries; ``group`` is the entry-point group of plugins; ``error`` is the
    exception raised (a subclass of :class:`PluginError` per extension point).
    """

    def __init__(
        self, what: str, base: type, *, package: str, group: str, error: type[PluginError] = PluginError
    ) -> None:
        self.what, self.base, self.package, self.group, self.error = what, base, package, group, error
        self._entries: dict[str, T] = {}
        self._discovered = False

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator: register a subclass of ``base`` under ``name`` (sets its ``name``).

        Raises the registry's error when the class is not a subclass of ``base`` or another
        class already holds the name (re-importing the same class is allowed).
        """

        def decorator(cls: T) -> T:
            if not (isinstance(cls, type) and issubclass(cls, self.base)):
                raise self.error(f"{self.what} {name!r} must be a subclass of {self.base.__name__}")
            existing = self._entries.get(name)
            if existing is not None and _qualname(existing) != _qualname(cls):
                raise self.error(
                    f"{self.what} name {name!r} is registered twice: by {_qualname(existing)} and by "
                    f"{_qualname(cls)}; rename one of them"
                )
            cls.name = name
            self._entries[name] = cls
            return cls

        return decorator

    def discover(self) -> None:
        """Import the built-in modules and the entry-point plugins (once).

        Raises the registry's error naming a plugin that fails to import.
        """
        if self._discovered:
            return
        self._discovered = True
        package = importlib.import_module(self.package)
        for module in pkgutil.iter_modules(package.__path__):
            if not module.name.startswith("_"):
                importlib.import_module(f"{self.package}.{module.name}")
        for entry in entry_points(group=self.group):
            try:
                entry.load()
            except Exception as exc:  # noqa: BLE001 - name the plugin that broke
                raise self.error(
                    f"the {self.what} plugin {entry.name!r} ({entry.value}) failed to load: {exc}"
                ) from exc

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self.discover()
        return sorted(self._entries)

    def items(self, pattern: str = "*") -> dict[str, T]:
        """Registered classes whose name matches the wildcard ``pattern``, sorted by name."""
        self.discover()
        return {n: c for n, c in sorted(self._entries.items()) if fnmatch.fnmatch(n, pattern)}

    def get(self, name: str) -> T:
        """The class registered under ``name``; an unknown name raises the registry's error
        listing the registered ones and the closest spelling."""
        self.discover()
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._entries), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise self.error(
                f"unknown {self.what} {name!r}.{hint} Registered: {', '.join(sorted(self._entries))}"
            ) from None


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
