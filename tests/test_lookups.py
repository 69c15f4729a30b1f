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


# --------------------------------------------------------------------------- reads


def _band(hiring_runtime):
    repo, rosa = hiring_runtime.repo, hiring_runtime.people["recruiter"]
    position = repo.create(
        rosa,
        "position",
        {"title": "Backend", "department": "engineering", "salary_min": 30000, "salary_max": 45000},
    )
    application = repo.create(rosa, "application", {"candidate": "Ada", "position": position["id"]})
    return position, application


def test_a_lookup_reads_the_linked_value_and_follows_a_change(hiring_runtime):
    repo, rosa = hiring_runtime.repo, hiring_runtime.people["recruiter"]
    position, application = _band(hiring_runtime)
    assert application["salary_min"] == 30000 and application["salary_max"] == 45000
    repo.update(rosa, "position", position["id"], {"salary_min": 32000})
    assert repo.get(rosa, "application", application["id"])["salary_min"] == 32000
    page = repo.list(rosa, "application", filters=[("salary_min", "gte", 31000)])
    assert [r["candidate"] for r in page.rows] == ["Ada"]
    assert repo.list(rosa, "application", filters=[("salary_min", "lt", 31000)]).rows == []


def test_a_lookup_is_never_written(hiring_runtime):
    import pytest

    from runtime.errors import ValidationError

    repo, rosa = hiring_runtime.repo, hiring_runtime.people["recruiter"]
    position, application = _band(hiring_runtime)
    with pytest.raises(ValidationError) as refused:
        repo.update(rosa, "application", application["id"], {"salary_min": 1})
    assert [m.code for m in refused.value.errors["salary_min"]] == ["readonly"]
    with pytest.raises(ValidationError):  # not even the value it has: it is never written
        repo.update(rosa, "application", application["id"], {"salary_min": 30000})
    assert repo.get(rosa, "position", position["id"])["salary_min"] == 30000


def test_an_interviewer_never_sees_a_band_through_a_lookup(hiring_runtime):
    import pytest

    from runtime.errors import ValidationError

    repo, ivan = hiring_runtime.repo, hiring_runtime.people["interviewer"]
    _position, application = _band(hiring_runtime)
    record = repo.get(ivan, "application", application["id"])
    assert record["candidate"] == "Ada"
    assert "salary_min" not in record and "salary_max" not in record
    for bad in (
        lambda: repo.list(ivan, "application", filters=[("salary_min", "gte", 1)]),
        lambda: repo.list(ivan, "application", sort=["salary_min"]),
        lambda: repo.list(ivan, "application", filters=[("position.salary_min", "gte", 1)]),
        lambda: repo.list(ivan, "application", sort=["-position.salary_max"]),
    ):
        with pytest.raises(ValidationError) as refused:
            bad()
        assert "unknown_field" in str(refused.value.errors)


# --------------------------------------------------------------------------- in writes

DEAL_APP = {
    "app.yaml": "id: shop\nlabel: Shop\n",
    "entities/company.yaml": (
        "id: company\nfields:\n  - {id: name, type: text}\n"
        "  - {id: tier, type: select, options: [{id: gold}, {id: blocked}]}\n"
    ),
    "entities/deal.yaml": (
        "id: deal\nfields:\n  - {id: name, type: text}\n"
        "  - {id: company, type: link, target: company}\n"
        "  - {id: company_tier, type: lookup, from: company.tier}\n"
        "  - {id: tier_note, type: formula, result_type: text,"
        " expression: \"'tier ' + (company_tier or 'none')\"}\n"
        "rules:\n  - id: not_blocked\n    expression: \"company_tier != 'blocked'\"\n"
        "    message: {en: The company is blocked.}\n"
    ),
}


def test_rules_and_formulas_of_a_write_see_the_lookup_as_the_link_now_stands(db_url, tmp_path):
    import pytest

    from runtime.errors import ValidationError
    from runtime.store.principal import SYSTEM
    from tests.conftest import make_runtime

    for rel, text in DEAL_APP.items():
        (tmp_path / "shop" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "shop" / rel).write_text(text, encoding="utf-8")
    runtime = make_runtime(db_url, tmp_path / "shop")
    repo = runtime.repo
    gold = repo.create(SYSTEM, "company", {"name": "Gold", "tier": "gold"})
    blocked = repo.create(SYSTEM, "company", {"name": "Stop", "tier": "blocked"})
    deal = repo.create(SYSTEM, "deal", {"name": "D", "company": gold["id"]})
    assert deal["company_tier"] == "gold" and deal["tier_note"] == "tier gold"
    with pytest.raises(ValidationError, match="blocked"):
        repo.update(SYSTEM, "deal", deal["id"], {"company": blocked["id"]})
    with pytest.raises(ValidationError, match="blocked"):
        repo.create(SYSTEM, "deal", {"name": "E", "company": blocked["id"]})
    runtime.db.engine.dispose()
