"""The role registry, and a contract test over every registered role."""

from __future__ import annotations

import pytest

from agents.base import GateRole, Role, RoleContext
from agents.registry import RoleRegistryError, get_role, list_roles, register_role
from graph.settings import FairNADSettings

BUILT_IN = {"extractor", "mutation", "verifier", "feedback"}


def test_four_built_in_roles_are_registered():
    assert set(list_roles()) >= BUILT_IN
    assert list(list_roles("ver*")) == ["verifier"]


def test_unknown_role_lists_valid_names_and_suggests():
    with pytest.raises(RoleRegistryError) as err:
        get_role("mutaton")
    assert "did you mean 'mutation'" in str(err.value).lower()
    assert "extractor" in str(err.value)


def test_duplicate_names_are_refused():
    with pytest.raises(RoleRegistryError, match="registered twice"):

        @register_role("mutation")
        class Impostor(Role):
            pass


@pytest.mark.parametrize("name", sorted(list_roles()))
def test_role_contract(name):
    cls = get_role(name)
    assert cls.name == name
    for attr in ("summary", "reads", "writes", "decides"):
        assert getattr(cls, attr), f"role {name} does not document {attr!r}"
    role = cls(RoleContext(settings=FairNADSettings()))
    assert role.uses_llm is False
    if issubclass(cls, GateRole):
        assert cls.review is not GateRole.review, f"gate {name} does not implement review()"
