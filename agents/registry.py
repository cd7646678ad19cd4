"""The role registry: register by decorator, look up by name, list, load plugins.

Built-in roles are the modules of this package; third-party roles arrive through the
``fairnad.roles`` entry-point group (each entry point names a module or a class).
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import pkgutil
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TypeVar

from agents.base import Role

ENTRY_POINT_GROUP = "fairnad.roles"
R = TypeVar("R", bound=type[Role])

_ROLES: dict[str, type[Role]] = {}
_discovered = False


class RoleRegistryError(ValueError):
    """Unknown role name, duplicate registration or a broken plugin."""


def register_role(name: str) -> Callable[[R], R]:
    """Class decorator: register a :class:`~agents.base.Role` subclass under ``name``."""

    def decorator(cls: R) -> R:
        if not (isinstance(cls, type) and issubclass(cls, Role)):
            raise RoleRegistryError(f"@register_role({name!r}) must decorate a Role subclass")
        existing = _ROLES.get(name)
        if existing is not None and f"{existing.__module__}.{existing.__qualname__}" != (
            f"{cls.__module__}.{cls.__qualname__}"
        ):
            raise RoleRegistryError(
                f"role name {name!r} is registered twice: by {existing.__module__}.{existing.__qualname__} "
                f"and by {cls.__module__}.{cls.__qualname__}; rename one of them"
            )
        cls.name = name
        _ROLES[name] = cls
        return cls

    return decorator


def discover() -> None:
    """Import the built-in role modules and the entry-point plugins (once)."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    import agents

    for module in pkgutil.iter_modules(agents.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"agents.{module.name}")
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except Exception as exc:  # noqa: BLE001 - name the plugin that broke
            raise RoleRegistryError(f"the role plugin {entry.name!r} ({entry.value}) failed to load: {exc}") from exc


def list_roles(pattern: str = "*") -> dict[str, type[Role]]:
    """Registered roles whose name matches the wildcard ``pattern``, sorted by name."""
    discover()
    return {n: c for n, c in sorted(_ROLES.items()) if fnmatch.fnmatch(n, pattern)}


def get_role(name: str) -> type[Role]:
    """The role class registered under ``name``; an unknown name lists the valid ones."""
    discover()
    try:
        return _ROLES[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_ROLES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise RoleRegistryError(f"unknown role {name!r}.{hint} Registered roles: {', '.join(sorted(_ROLES))}") from None
