"""Tables from the model and create_or_upgrade: additive, repeatable, data kept."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import inspect, select

from runtime.store import SYSTEM, Database, normalise_url
from runtime.store import system_tables as st
from runtime.store.tables import safe_identifier
from tests.conftest import make_runtime
from tests.store_fixtures import build_model, setup_store


def test_normalise_url():
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite_pragmas(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'p.db'}", build_model())
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    db.dispose()


def test_tables_have_system_columns_and_indexes(db_url):
    db = Database(db_url, build_model())
    report = db.create_or_upgrade()
    assert {"ent_account", "ent_deal", "ent_deal__lines", "sys_users"} <= set(
        report["created_tables"]
    )
    inspector = inspect(db.engine)
    deal_columns = {c["name"] for c in inspector.get_columns("ent_deal")}
    assert {"id", "created_at", "updated_at", "created_by", "owner_id", "row_version",
            "archived_at", "stage", "stage_entered_at", "amount", "amount_currency",
            "total", "expected_revenue"} <= deal_columns  # fmt: skip
    assert "name_upper" not in deal_columns and "lines" not in deal_columns
    assert "stage" not in {c["name"] for c in inspector.get_columns("ent_account")}
    indexed = {tuple(i["column_names"]) for i in inspector.get_indexes("ent_deal")}
    for column in ("owner_id", "updated_at", "archived_at", "account", "source", "close_date"):
        assert (column,) in indexed, column
    child = {c["name"] for c in inspector.get_columns("ent_deal__lines")}
    assert {
        "id",
        "parent_id",
        "position",
        "product",
        "quantity",
        "unit_price",
        "line_total",
    } <= child
    fks = inspector.get_foreign_keys("ent_deal__lines")
    assert fks[0]["referred_table"] == "ent_deal" and fks[0]["options"].get("ondelete") == "CASCADE"
    # Running it again changes nothing.
    again = db.create_or_upgrade()
    assert again == {"created_tables": [], "added_columns": [], "created_indexes": []}
    db.dispose()


def test_upgrade_adds_field_and_entity_and_keeps_every_value(db_url):
    s = setup_store(db_url, version=1)
    acc = s.repo.create(s.rep_a, "account", {"name": "Acme", "revenue": 10, "tags": ["vip"]})
    deal = s.repo.create(
        s.rep_a, "deal",
        {"name": "Old", "account": acc["id"], "amount": 1234.5, "lines": [{"product": "p", "unit_price": 2}]},
    )  # fmt: skip
    s.repo.update(s.rep_a, "deal", deal["id"], {"close_date": "2030-01-01"})
    before = s.repo.get(SYSTEM, "deal", deal["id"])
    s.db.dispose()

    runtime2 = make_runtime(db_url, build_model(version=2), schema=False)
    db2 = runtime2.db
    report = db2.create_or_upgrade()
    assert "ent_deal.region" in report["added_columns"]
    assert "ent_contract" in report["created_tables"]
    assert any("region" in name for name in report["created_indexes"])
    repo2 = runtime2.repo
    after = repo2.get(SYSTEM, "deal", deal["id"])
    assert after["region"] is None
    for key, value in before.items():
        assert after[key] == value, key
    assert after["amount"] == Decimal("1234.50") and after["lines"][0]["product"] == "p"
    assert len(repo2.history(SYSTEM, "deal", deal["id"])) == 1
    updated = repo2.update(SYSTEM, "deal", deal["id"], {"region": "east"})
    assert updated["region"] == "east"
    contract = repo2.create(SYSTEM, "contract", {"title": "C", "deal": deal["id"]})
    assert contract["deal"] == deal["id"]
    with db2.engine.connect() as conn:
        versions = (
            conn.execute(select(st.app_versions.c.version).order_by(st.app_versions.c.id))
            .scalars()
            .all()
        )
        roles = set(conn.execute(select(st.roles.c.id)).scalars())
    assert versions == ["1.0.0", "2.0.0"]
    assert roles == {"rep", "manager", "big_deals", "admin"}
    db2.dispose()


def test_long_names_are_shortened_stably():
    name = "ent_" + "x" * 63 + "__" + "y" * 63
    short = safe_identifier(name)
    assert (
        len(short) <= 63 and short == safe_identifier(name) and short != safe_identifier(name + "z")
    )
    assert safe_identifier("ent_deal") == "ent_deal"


def test_feature_system_fields_get_their_types_columns():
    """The stage fields become columns from their field types, as the tables always had
    them (so create_or_upgrade finds nothing to change on an existing database)."""
    from sqlalchemy import String

    from runtime.definition.reserved import BASE_SYSTEM_COLUMNS

    db = Database("sqlite://", build_model())
    table = db.tables["deal"]
    names = [c.name for c in table.columns]
    assert names[:9] == [*BASE_SYSTEM_COLUMNS, "stage", "stage_entered_at"]
    assert isinstance(table.c.stage.type, String) and table.c.stage.type.length == 63
    assert isinstance(table.c.stage_entered_at.type, st.UtcDateTime)
    assert table.c.stage.nullable and table.c.stage_entered_at.nullable
    assert {i.name for i in table.indexes} >= {"ix_ent_deal_stage"}
    assert "ix_ent_deal_stage_entered_at" not in {i.name for i in table.indexes}
    assert "stage" not in db.tables["account"].c
    db.dispose()
