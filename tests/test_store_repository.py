"""The record repository on SQLite and PostgreSQL: CRUD, validation, permissions, history."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from runtime.errors import ConflictError, NotFound, PermissionDenied, ValidationError
from runtime.events import Event
from runtime.features.pipelines.stage_history import table as stage_table
from runtime.store import SYSTEM
from runtime.store import system_tables as st
from tests.store_fixtures import setup_store


@pytest.fixture
def store(db_url):
    s = setup_store(db_url)
    yield s
    s.db.dispose()


def make_account(store, user=None, **values):
    return store.repo.create(user or store.rep_a, "account", {"name": "Acme", **values})


def make_deal(store, user=None, account=None, **values):
    user = user or store.rep_a
    if account is None:
        account = make_account(store, user)["id"]
    return store.repo.create(user, "deal", {"name": "Deal", "account": account, **values})


def count_rows(store, table):
    with store.db.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


# ---------------------------------------------------------------- CRUD round trip


def test_every_field_type_round_trips(store):
    acc = store.repo.create(
        store.admin,
        "account",
        {
            "name": "  Acme Ltd ",
            "code": "AC-1",
            "industry": "retail",
            "tags": ["partner", "vip"],
            "website": "example.com/about",
            "email": "Info@Example.COM",
            "phone": "13800138000",
            "employees": "1,200",
            "revenue": "1234.5",
            "revenue_currency": "usd",
            "rating": 4.25,
            "active": "no",
            "founded": "2001-02-03",
            "last_contact": "2024-05-06T07:08:09+02:00",
            "notes": "line one\r\nline two",
            "description": "<p>Hello <script>x()</script><b>world</b></p>",
        },
    )
    got = store.repo.get(store.admin, "account", acc["id"])
    expected = {
        "name": "Acme Ltd",
        "code": "AC-1",
        "industry": "retail",
        "tags": ["vip", "partner"],
        "website": "https://example.com/about",
        "email": "Info@example.com",
        "phone": "+8613800138000",
        "employees": 1200,
        "revenue": Decimal("1234.50"),
        "revenue_currency": "USD",
        "rating": Decimal("4.3"),
        "active": False,
        "founded": date(2001, 2, 3),
        "last_contact": datetime(2024, 5, 6, 5, 8, 9, tzinfo=UTC),
        "notes": "line one\nline two",
        "number": "ACC-0001",
    }
    for key, value in expected.items():
        assert got[key] == value, key
        assert acc[key] == value, key
    assert "<script>" not in got["description"] and "<b>world</b>" in got["description"]
    assert got["row_version"] == 1 and got["archived_at"] is None
    assert got["owner_id"] == store.admin.id and got["created_by"] == store.admin.id
    assert got["created_at"].tzinfo is not None


def test_deal_with_link_child_rows_formulas_and_defaults(store):
    deal = make_deal(
        store,
        amount=1000,
        probability=None,
        lines=[
            {"product": "Widget", "quantity": 3, "unit_price": "10"},
            {"product": "Gadget", "unit_price": 5},
        ],
    )
    assert deal["number"].startswith("D-") and deal["number"].endswith("-0001")
    assert deal["source"] == "web"  # literal default
    assert (
        deal["quote_date"] == date.today() or deal["quote_date"] is not None
    )  # expression default
    assert [r["line_total"] for r in deal["lines"]] == [Decimal("30.00"), Decimal("5.00")]
    assert deal["lines"][1]["quantity"] == 1  # child default
    assert deal["total"] == Decimal("35.00")
    assert deal["name_upper"] == "DEAL"
    got = store.repo.get(store.rep_a, "deal", deal["id"])
    assert got["total"] == Decimal("35.00")
    assert [r["product"] for r in got["lines"]] == ["Widget", "Gadget"]
    assert [r["position"] for r in got["lines"]] == [0, 1]
    # Replace a row, keep another by id: ids survive, totals recompute.
    keep = got["lines"][0]
    updated = store.repo.update(
        store.rep_a,
        "deal",
        deal["id"],
        {"lines": [{"id": keep["id"], "product": "Widget", "quantity": 4, "unit_price": 10}]},
        row_version=got["row_version"],
    )
    assert [r["id"] for r in updated["lines"]] == [keep["id"]]
    assert updated["total"] == Decimal("40.00")
    assert updated["row_version"] == 2
    assert count_rows(store, store.db.child_tables[("deal", "lines")]) == 1


def test_stored_formula_is_queryable_column(store):
    deal = make_deal(store, amount=2000)
    store.repo.update(store.manager_a, "deal", deal["id"], {"probability": 25})
    with store.db.engine.connect() as conn:
        t = store.db.tables["deal"]
        value = conn.execute(select(t.c.expected_revenue).where(t.c.id == deal["id"])).scalar()
    assert Decimal(value) == Decimal("500.00")


def test_update_without_changes_writes_nothing(store):
    deal = make_deal(store, amount=10)
    same = store.repo.update(store.rep_a, "deal", deal["id"], {"amount": "10.00"})
    assert same["row_version"] == 1
    assert store.repo.history(store.rep_a, "deal", deal["id"]) == []


# ---------------------------------------------------------------- validation


def test_validation_error_lists_every_failing_field_and_writes_nothing(store):
    before = count_rows(store, store.db.tables["deal"])
    with pytest.raises(ValidationError) as caught:
        store.repo.create(
            store.rep_a,
            "deal",
            {
                "amount": "-5",
                "start_date": "abc",
                "source": "nowhere",
                "account": 99999,
                "reviewer": 424242,
                "lines": [{"quantity": 0}],
                "bogus": 1,
            },
        )
    errors = caught.value.errors
    for key in ("name", "amount", "start_date", "source", "account", "reviewer", "bogus"):
        assert key in errors, key
    assert "lines.0.product" in errors and "lines.0.quantity" in errors
    codes = {k: [m.code for m in v] for k, v in errors.items()}
    assert codes["name"] == ["required"]
    assert codes["amount"] == ["min_value"]
    assert codes["account"] == ["unknown_record"]
    assert codes["reviewer"] == ["unknown_user"]
    assert codes["bogus"] == ["unknown_field"]
    assert count_rows(store, store.db.tables["deal"]) == before
    assert count_rows(store, st.sequences) == 0  # no number was taken


def test_required_if_and_rules(store):
    acc = make_account(store)
    with pytest.raises(ValidationError) as caught:
        store.repo.create(
            store.rep_a,
            "deal",
            {
                "name": "X",
                "account": acc["id"],
                "loss_reason": "competitor",
                "start_date": "2024-05-01",
                "close_date": "2024-04-01",
            },
        )
    errors = caught.value.errors
    assert [m.code for m in errors["competitor"]] == ["required"]
    assert [m.code for m in errors["close_date"]] == ["rule_failed"]
    assert "must not be before" in caught.value.as_dict()["close_date"][0]
    assert "不能早于" in caught.value.as_dict("zh")["close_date"][0]
    deal = make_deal(store, account=acc["id"], loss_reason="competitor", competitor="Rival")
    # Changing the condition on update re-checks the dependent field.
    with pytest.raises(ValidationError) as caught:
        store.repo.update(store.rep_a, "deal", deal["id"], {"competitor": None})
    assert list(caught.value.errors) == ["competitor"]


def test_unique_field_names_the_record_it_duplicates(store):
    first = make_account(store, name="Acme Holdings", code="U-1")
    with pytest.raises(ValidationError) as caught:
        make_account(store, code="U-1")
    [message] = caught.value.errors["code"]
    assert message.code == "duplicate_of"
    assert message.params["record_id"] == first["id"] and message.params["entity_id"] == "account"
    assert caught.value.as_dict("en")["code"] == ["Account “Acme Holdings” already has this value."]
    assert "“Acme Holdings”" in caught.value.as_dict("zh")["code"][0]


def test_unique_field_held_by_an_unreadable_record_is_not_named(store):
    make_account(store, name="West Secret", code="U-2")
    with pytest.raises(ValidationError) as caught:
        make_account(store, user=store.rep_b, code="U-2")  # another team: cannot read it
    assert [m.code for m in caught.value.errors["code"]] == ["not_unique"]
    assert "West Secret" not in str(caught.value.as_dict("en"))


def test_blank_owner_on_create_means_the_creator(store):
    for blank in ("", None):
        account = store.repo.create(
            store.rep_a, "account", {"name": f"Blank {blank!r}", "owner_id": blank}
        )
        assert account["owner_id"] == store.rep_a.id


def test_clearing_the_owner_is_refused(store):
    account = make_account(store)
    with pytest.raises(ValidationError) as caught:
        store.repo.update(store.rep_a, "account", account["id"], {"owner_id": None})
    assert [m.code for m in caught.value.errors["owner_id"]] == ["owner_required"]
    assert store.repo.get(store.rep_a, "account", account["id"])["owner_id"] == store.rep_a.id


def test_readonly_field_refused_for_users_but_written_by_system(store):
    acc = make_account(store)
    with pytest.raises(ValidationError) as caught:
        store.repo.create(
            store.rep_a, "deal", {"name": "X", "account": acc["id"], "lead_ref": "L-1"}
        )
    assert [m.code for m in caught.value.errors["lead_ref"]] == ["readonly"]
    deal = store.repo.create(SYSTEM, "deal", {"name": "X", "account": acc["id"], "lead_ref": "L-1"})
    assert deal["lead_ref"] == "L-1"
    assert deal["owner_id"] is None and deal["created_by"] is None


def test_linking_a_record_outside_the_read_scope_is_refused(store):
    other = make_account(store, store.rep_b)
    with pytest.raises(ValidationError) as caught:
        store.repo.create(store.rep_a, "deal", {"name": "X", "account": other["id"]})
    assert [m.code for m in caught.value.errors["account"]] == ["unknown_record"]


# ---------------------------------------------------------------- permissions


def test_rep_cannot_read_or_update_a_deal_of_another_team(store):
    deal = make_deal(store, store.rep_b)
    with pytest.raises(NotFound):
        store.repo.get(store.rep_a, "deal", deal["id"])
    with pytest.raises(NotFound):
        store.repo.update(store.rep_a, "deal", deal["id"], {"name": "Mine"})
    with pytest.raises(NotFound):
        store.repo.archive(store.rep_a, "deal", deal["id"])
    assert store.repo.get(store.rep_b, "deal", deal["id"])["name"] == "Deal"


def test_rep_reads_teammates_deal_but_updates_only_own(store):
    deal = make_deal(store, store.rep_a2)
    assert store.repo.get(store.rep_a, "deal", deal["id"])["id"] == deal["id"]
    with pytest.raises(PermissionDenied):
        store.repo.update(store.rep_a, "deal", deal["id"], {"name": "Mine"})


def test_rep_cannot_write_a_read_only_field(store):
    deal = make_deal(store)
    assert "probability" in deal  # readable
    with pytest.raises(PermissionDenied) as caught:
        store.repo.update(store.rep_a, "deal", deal["id"], {"probability": 90})
    assert caught.value.fields == ["probability"]
    assert "probability" in str(caught.value)
    # Sending back the unchanged value is fine.
    store.repo.update(store.rep_a, "deal", deal["id"], {"probability": None, "name": "Renamed"})
    with pytest.raises(PermissionDenied):
        make_deal(store, probability=10)


def test_rep_cannot_see_a_hidden_field(store):
    deal = make_deal(store, store.admin, secret_note="psst")
    store.repo.update(store.admin, "deal", deal["id"], {"owner_id": store.rep_a.id})
    got = store.repo.get(store.rep_a, "deal", deal["id"])
    assert "secret_note" not in got
    assert all("secret_note" not in row for row in store.repo.list(store.rep_a, "deal").rows)
    assert all(
        h["field"] != "secret_note" for h in store.repo.history(store.rep_a, "deal", deal["id"])
    )
    with pytest.raises(PermissionDenied):
        store.repo.update(store.rep_a, "deal", deal["id"], {"secret_note": "mine"})
    with pytest.raises(ValidationError):
        store.repo.list(store.rep_a, "deal", filters=[("secret_note", "eq", "psst")])
    assert store.repo.get(store.admin, "deal", deal["id"])["secret_note"] == "psst"


def test_manager_sees_the_teams_they_manage(store):
    a = make_deal(store, store.rep_a)
    b = make_deal(store, store.rep_b)
    rows = store.repo.list(store.manager_a, "deal").rows
    ids = {r["id"] for r in rows}
    assert a["id"] in ids and b["id"] not in ids
    store.repo.update(store.manager_a, "deal", a["id"], {"probability": 50})
    with pytest.raises(NotFound):
        store.repo.get(store.manager_a, "deal", b["id"])
    assert store.manager_a.managed_team_ids == frozenset({store.team_a})


def test_expression_scope_in_sql(store):
    acc = make_account(store, store.admin)["id"]
    small = make_deal(store, store.admin, account=acc, amount=500)
    big = make_deal(store, store.admin, account=acc, amount=50000)
    auditor_id = store.users.create_user("aud@example.com", "Auditor", "pw", ["big_deals"])
    auditor = store.users.principal(auditor_id)
    assert [r["id"] for r in store.repo.list(auditor, "deal").rows] == [big["id"]]
    with pytest.raises(NotFound):
        store.repo.get(auditor, "deal", small["id"])
    with pytest.raises(PermissionDenied):
        store.repo.create(auditor, "deal", {"name": "X", "account": acc})
    with pytest.raises(PermissionDenied):
        store.repo.update(auditor, "deal", big["id"], {"name": "Y"})


def test_roles_union_widens_access(store):
    uid = store.users.create_user(
        "two@example.com", "Two hats", "pw", ["rep", "manager"], store.team_a
    )
    both = store.users.principal(uid)
    deal = make_deal(store, store.rep_a2)
    updated = store.repo.update(both, "deal", deal["id"], {"probability": 40, "secret_note": "ok"})
    assert updated["probability"] == Decimal("40") and updated["secret_note"] == "ok"


# ---------------------------------------------------------------- list


def test_list_filters_sorts_searches_and_paginates_within_scope(store):
    acc_a = make_account(store, store.rep_a)["id"]
    acc_b = make_account(store, store.rep_b)["id"]
    for i in range(7):
        store.repo.create(
            store.rep_a, "deal", {"name": f"Alpha {i}", "account": acc_a, "amount": i * 100}
        )
    store.repo.create(store.rep_a2, "deal", {"name": "Beta_1", "account": acc_a, "amount": 1})
    store.repo.create(
        store.rep_b, "deal", {"name": "Alpha other team", "account": acc_b, "amount": 999}
    )
    repo = store.repo
    page1 = repo.list(store.rep_a, "deal", sort=["-amount"], page_size=3)
    assert [r["amount"] for r in page1.rows] == [Decimal(600), Decimal(500), Decimal(400)]
    assert page1.has_next
    page3 = repo.list(store.rep_a, "deal", sort=["-amount"], page=3, page_size=3)
    assert [r["name"] for r in page3.rows] == ["Beta_1", "Alpha 0"]
    assert not page3.has_next
    found = repo.list(store.rep_a, "deal", search="alpha", page_size=50).rows
    assert len(found) == 7  # the other team's Alpha is out of scope
    # LIKE wildcards in the search text are literal.
    assert [r["name"] for r in repo.list(store.rep_a, "deal", search="a_1").rows] == ["Beta_1"]
    filtered = repo.list(
        store.rep_a,
        "deal",
        filters=[("amount", "gte", "300"), ("amount", "lt", 600)],
        sort=["amount"],
    ).rows
    assert [r["amount"] for r in filtered] == [Decimal(300), Decimal(400), Decimal(500)]
    assert repo.count(store.rep_a, "deal", filters=[("amount", "between", [100, 200])]) == 2
    assert (
        len(repo.list(store.rep_a, "deal", filters=[("owner_id", "eq", store.rep_a2.id)]).rows) == 1
    )
    assert repo.list(store.rep_a, "deal", page_size=10_000).page_size == 200
    limited = repo.list(store.rep_a, "deal", fields=["name"], page_size=1).rows[0]
    assert "name" in limited and "amount" not in limited and "lines" not in limited
    with pytest.raises(ValidationError):
        repo.list(store.rep_a, "deal", sort=["nope"])


def test_list_sort_ties_are_broken_by_id(store):
    acc = make_account(store)["id"]
    ids = [make_deal(store, account=acc, amount=5)["id"] for _ in range(4)]
    rows = store.repo.list(store.rep_a, "deal", sort=["amount"], page_size=2).rows
    rows += store.repo.list(store.rep_a, "deal", sort=["amount"], page=2, page_size=2).rows
    assert [r["id"] for r in rows] == sorted(ids)


def test_list_multi_select_and_isnull_filters(store):
    make_account(store, name="A", tags=["vip"])
    make_account(store, name="B", tags=["partner", "reseller"])
    make_account(store, name="C")
    repo = store.repo
    names = lambda rows: sorted(r["name"] for r in rows)  # noqa: E731
    assert names(repo.list(store.rep_a, "account", filters=[("tags", "contains", "vip")]).rows) == [
        "A"
    ]
    assert names(repo.list(store.rep_a, "account", filters=[("tags", "isnull", True)]).rows) == [
        "C"
    ]
    assert names(repo.list(store.rep_a, "account", filters=[("tags", "isnull", False)]).rows) == [
        "A",
        "B",
    ]


# ---------------------------------------------------------------- history and conflicts


def test_field_history_records_who_when_old_new(store):
    deal = make_deal(store, amount=100)
    store.repo.update(store.rep_a, "deal", deal["id"], {"amount": 150, "name": "Bigger"})
    store.repo.update(store.manager_a, "deal", deal["id"], {"amount": 200})
    entries = store.repo.history(store.rep_a, "deal", deal["id"])
    amount = [e for e in entries if e["field"] == "amount"]
    assert [(e["old_value"], e["new_value"]) for e in amount] == [
        (Decimal("150.00"), Decimal("200.00")),
        (Decimal("100.00"), Decimal("150.00")),
    ]
    assert [e["changed_by"] for e in amount] == [store.manager_a.id, store.rep_a.id]
    assert all(e["changed_at"].tzinfo is not None for e in entries)
    assert {e["field"] for e in entries} == {"name", "amount"}
    audit = store.repo.audit(store.rep_a, "deal", deal["id"])
    assert [a["action"] for a in audit] == ["create"]


def test_stale_row_version_raises_conflict_naming_changed_fields(store):
    deal = make_deal(store, amount=100)
    store.repo.update(store.manager_a, "deal", deal["id"], {"amount": 300}, row_version=1)
    with pytest.raises(ConflictError) as caught:
        store.repo.update(store.rep_a, "deal", deal["id"], {"name": "Mine"}, row_version=1)
    conflict = caught.value
    assert conflict.current_version == 2
    assert "amount" in conflict.changes
    assert conflict.changes["amount"]["by"] == store.manager_a.id
    assert (
        conflict.changes["amount"]["old"] == "100.00"
        and conflict.changes["amount"]["new"] == "300.00"
    )
    assert "amount" in str(conflict)
    got = store.repo.get(store.rep_a, "deal", deal["id"])
    assert got["amount"] == Decimal("300.00") and got["name"] == "Deal"  # nothing lost
    assert (
        store.repo.update(store.rep_a, "deal", deal["id"], {"name": "Mine"}, row_version=2)["name"]
        == "Mine"
    )


def test_archive_and_restore(store):
    deal = make_deal(store)
    archived = store.repo.archive(store.rep_a, "deal", deal["id"])
    assert archived["archived_at"] is not None and archived["row_version"] == 2
    assert deal["id"] not in {r["id"] for r in store.repo.list(store.rep_a, "deal").rows}
    assert deal["id"] in {r["id"] for r in store.repo.list(store.rep_a, "deal", archived=True).rows}
    with pytest.raises(ValidationError):
        store.repo.update(store.rep_a, "deal", deal["id"], {"name": "X"})
    with pytest.raises(PermissionDenied):
        store.repo.restore(store.rep_a2, "deal", deal["id"])
    restored = store.repo.restore(store.rep_a, "deal", deal["id"])
    assert restored["archived_at"] is None
    actions = [a["action"] for a in store.repo.audit(store.admin, "deal", deal["id"])]
    assert actions == ["restore", "archive", "create"]


# ---------------------------------------------------------------- events


def test_events_are_emitted_after_commit_only(store):
    seen: list[Event] = []
    committed: list[int] = []

    def handler(event: Event) -> None:
        # The write is visible to a fresh connection: the transaction has committed.
        with store.db.engine.connect() as conn:
            t = store.db.tables[event.entity]
            committed.append(
                conn.execute(select(t.c.row_version).where(t.c.id == event.record_id)).scalar()
            )
        seen.append(event)

    store.bus.subscribe("*", handler)
    deal = make_deal(store)
    assert [e.name for e in seen] == ["record.created", "record.created"]
    store.repo.update(store.rep_a, "deal", deal["id"], {"amount": 7, "stage": "qualify"})
    assert [e.name for e in seen[2:]] == ["record.updated", "stage.changed"]
    assert seen[2].changes["amount"] == (None, Decimal("7.00"))
    assert seen[2].user_id == store.rep_a.id and seen[2].record["amount"] == Decimal("7.00")
    assert committed[2] == 2
    before = len(seen)
    with pytest.raises(ValidationError):
        store.repo.update(store.rep_a, "deal", deal["id"], {"amount": -1})
    with pytest.raises(ConflictError):
        store.repo.update(store.rep_a, "deal", deal["id"], {"amount": 8}, row_version=1)
    assert len(seen) == before
    store.repo.archive(store.rep_a, "deal", deal["id"])
    store.repo.restore(store.rep_a, "deal", deal["id"])
    assert [e.name for e in seen[before:]] == ["record.archived", "record.restored"]


def test_conflict_does_not_name_fields_the_user_cannot_read(store):
    deal = make_deal(store, amount=100)
    store.repo.update(
        store.manager_a, "deal", deal["id"], {"amount": 300, "secret_note": "walk away"},
        row_version=1,
    )  # fmt: skip
    with pytest.raises(ConflictError) as caught:
        store.repo.update(store.rep_a, "deal", deal["id"], {"name": "Mine"}, row_version=1)
    assert "amount" in caught.value.changes
    assert "secret_note" not in caught.value.changes
    assert "secret_note" not in str(caught.value)


def test_stage_change_is_recorded(store):
    deal = make_deal(store, stage="new")
    assert deal["stage"] == "new" and deal["stage_entered_at"] is not None
    store.repo.update(store.rep_a, "deal", deal["id"], {"stage": "won"})
    with store.db.engine.connect() as conn:
        rows = conn.execute(
            select(stage_table.c.from_stage, stage_table.c.to_stage).order_by(stage_table.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [(None, "new"), ("new", "won")]


# ---------------------------------------------------------------- autonumber and bulk


def test_autonumber_sequence(store):
    numbers = [make_account(store)["number"] for _ in range(3)]
    assert numbers == ["ACC-0001", "ACC-0002", "ACC-0003"]
    year = datetime.now().year
    deal = make_deal(store)
    assert deal["number"] == f"D-{year}-0001"


def test_autonumber_periods_follow_the_apps_calendar_not_the_servers(store, monkeypatch):
    import runtime.store.writes as writes

    new_year_in_shanghai = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)  # 01:00 on 1 January
    monkeypatch.setattr(writes, "_now", lambda: new_year_in_shanghai)
    monkeypatch.setenv("TZ", "America/New_York")  # the server's own zone plays no part
    monkeypatch.delenv("TRELLIS_TIMEZONE", raising=False)
    assert make_deal(store)["number"] == "D-2026-0001"  # the app's zone: UTC
    monkeypatch.setenv("TRELLIS_TIMEZONE", "Asia/Shanghai")
    assert make_deal(store)["number"] == "D-2027-0001"


def test_readable_rows_give_the_readers_rows_and_columns_only(store):
    from sqlalchemy import select

    own = make_deal(store, store.rep_a, name="Own")
    mate = make_deal(store, store.rep_a2, name="Mate")
    make_deal(store, store.rep_b, name="Other team")
    rows = store.repo.readable_rows(store.rep_a, "deal", update_flag=True)
    assert "secret_note" not in rows.c and "name" in rows.c and "owner_id" in rows.c
    query = select(rows.c.id, rows.c._may_update).order_by(rows.c.id)
    with store.db.engine.connect() as conn:
        seen = {r.id: bool(r._may_update) for r in conn.execute(query)}
    assert seen == {own["id"]: True, mate["id"]: False}  # team read scope, own update scope
    named = store.repo.readable_rows(store.rep_a, "deal", filters=[("name", "eq", "Mate")])
    with store.db.engine.connect() as conn:
        assert list(conn.execute(select(named.c.id)).scalars()) == [mate["id"]]


def test_relative_dates_filter_in_the_apps_calendar(store, monkeypatch):
    from datetime import timedelta

    from runtime.relative_dates import relative_range

    monkeypatch.delenv("TRELLIS_TIMEZONE", raising=False)
    today = datetime.now(UTC).date()
    start, end = relative_range("this_quarter", today)
    days = {
        "today": today,
        "quarter_start": start,
        "last_quarter": start - timedelta(days=1),
        "next_quarter": end,
        "month_ago": today - timedelta(days=30),
    }
    for name, day in days.items():
        make_deal(store, store.manager_a, name=name, close_date=day)
    make_deal(store, store.manager_a, name="undated")

    def names(op, value, field="close_date"):
        page = store.repo.list(store.manager_a, "deal", filters=[(field, op, value)], page_size=50)
        return sorted(r["name"] for r in page.rows)

    def where(test):  # the expected names, from the dates themselves
        return sorted(k for k, d in days.items() if test(d))

    assert names("eq", "today") == where(lambda d: d == today)
    assert names("eq", "this_quarter") == where(lambda d: start <= d < end)
    last_start, _ = relative_range("last_quarter", today)
    assert names("eq", "last_quarter") == where(lambda d: last_start <= d < start)
    assert names("eq", "next_quarter") == where(
        lambda d: end <= d < relative_range("next_quarter", today)[1]
    )
    outside = names("ne", "this_quarter")
    assert outside == sorted([*where(lambda d: not start <= d < end), "undated"])
    assert names("eq", "last_31_days") == where(lambda d: today - timedelta(days=30) <= d <= today)
    assert "month_ago" not in names("eq", "last_30_days")
    assert names("lt", "this_quarter") == where(lambda d: d < start)
    assert names("gt", "this_quarter") == where(lambda d: d >= end)
    assert names("gte", "today") == where(lambda d: d >= today)
    # an instant (created_at) against the days' midnights in the app's zone
    assert (
        len(names("eq", "today", "created_at")) == 6
        and names("eq", "yesterday", "created_at") == []
    )
    with pytest.raises(ValidationError):
        names("eq", "last_quarters")  # neither a date nor a relative one


def test_bulk_create_is_all_or_nothing(store):
    acc = make_account(store)["id"]
    rows = [{"name": f"D{i}", "account": acc} for i in range(5)]
    created = store.repo.bulk_create(store.rep_a, "deal", rows)
    assert [r["name"] for r in created] == [f"D{i}" for i in range(5)]
    assert len({r["number"] for r in created}) == 5
    before = count_rows(store, store.db.tables["deal"])
    with pytest.raises(ValidationError) as caught:
        store.repo.bulk_create(
            store.rep_a, "deal", [{"name": "ok", "account": acc}, {"account": acc}]
        )
    assert list(caught.value.errors) == ["1.name"]
    assert count_rows(store, store.db.tables["deal"]) == before
    with pytest.raises(ValidationError) as caught:
        store.repo.bulk_create(
            store.rep_a, "account", [{"name": "x", "code": "Z"}, {"name": "y", "code": "Z"}]
        )
    assert "1.code" in caught.value.errors


def test_titles_for_link_display(store):
    acc = make_account(store, name="Acme")
    other = make_account(store, store.rep_b, name="Hidden")
    titles = store.repo.titles(store.rep_a, "account", [acc["id"], other["id"]])
    assert titles == {acc["id"]: "Acme"}
