"""The role registry: register by decorator, look up by name, list, load plugins.

Built-in roles are the modules of this package; third-party roles arrive through the
``fairnad.roles`` entry-point group (each entry point names a module or a class).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from agents.base import PARTS, Role
from fairnad_tools.plugins import PluginError, Registry

ENTRY_POINT_GROUP = "fairnad.roles"
R = TypeVar("R", bound=type[Role])


class RoleRegistryError(PluginError):
    """Unknown role name, duplicate registration, a role of the wrong part or a broken plugin."""


ROLES: Registry[type[Role]] = Registry("role", Role, package="agents", group=ENTRY_POINT_GROUP, error=RoleRegistryError)


def register_role(name: str) -> Callable[[R], R]:
    """Class decorator: register a :class:`~agents.base.Role` subclass under ``name``."""
    return ROLES.register(name)


def discover() -> None:
    """Import the built-in role modules and the entry-point plugins (once)."""
    ROLES.discover()


def list_roles(pattern: str = "*") -> dict[str, type[Role]]:
    """Registered roles whose name matches the wildcard ``pattern``, sorted by name."""
    return ROLES.items(pattern)


def get_role(name: str, part: str | None = None) -> type[Role]:
    """The role class registered under ``name``; an unknown name lists the valid ones.

    With ``part`` (``extractor``, ``mutation``, ``gate``, ``feedback``) the class must subclass
    that part's base (:data:`agents.base.PARTS`), else :class:`RoleRegistryError` names the
    roles that can play it.
    """
    cls = ROLES.get(name)
    if part is not None:
        base = PARTS[part]
        if not issubclass(cls, base):
            able = [n for n, c in ROLES.items().items() if issubclass(c, base)]
            played = next((p for p, b in PARTS.items() if issubclass(cls, b)), None)
            what = f"{article(played)} {played} role" if played else "not a role of any part"
            raise RoleRegistryError(
                f"role {name!r} cannot play the {part} part: it is {what} ({cls.__module__}.{cls.__qualname__} "
                f"does not subclass agents.base.{base.__name__}). Roles that can: {', '.join(able) or 'none'}"
            )
    return cls


def article(word: str) -> str:
    """The indefinite article for ``word`` ("an extractor", "a gate"), for messages naming a part."""
    return "an" if word[:1] in "aeiou" else "a"
