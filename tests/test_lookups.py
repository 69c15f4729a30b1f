"""Lookup fields (``type: lookup``, ``from: position.salary_min``): a field of a linked
record shown read-only, computed on read, and readable only by who may read every hop
(the hiring fixture app: an interviewer may not read a position's salary band)."""

from __future__ import annotations

from runtime.definition import load_app
from runtime.fieldtypes import LookupType, type_of
from runtime.store.permissions import Permissions
from runtime.store.principal import Principal
from runtime.wiring import features_from_env
from tests.conftest import HIRING_APP, MODELS


def hiring_model():
    return load_app(HIRING_APP, features_from_env(None), cache=MODELS)


def test_a_lookup_compiles_to_the_field_it_shows():
    field = hiring_model().entity("application").field("salary_min")
    assert isinstance(type_of(field), LookupType)
    assert field.source.id == "salary_min" and field.readonly
    assert type_of(field).numeric  # shown, summed and aligned as the integer it shows


def test_a_lookup_of_a_hidden_field_is_hidden_from_that_role():
    permissions = Permissions(hiring_model())
    interviewer = Principal(1, roles=frozenset({"interviewer"}))
    recruiter = Principal(2, roles=frozenset({"recruiter"}))
    seen_by_interviewer = permissions.grant(interviewer, "application")
    assert not seen_by_interviewer.may_read_field("salary_min")
    assert not seen_by_interviewer.may_read_field("salary_max")
    assert seen_by_interviewer.may_read_field("candidate")
    assert permissions.grant(recruiter, "application").may_read_field("salary_min")
