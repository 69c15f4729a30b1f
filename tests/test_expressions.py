"""The expression engine: evaluation, refusal of unsafe constructs, budgets and SQL scopes."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from runtime.errors import ExpressionError
from runtime.expressions import FUNCTIONS, CompiledExpression, compile_expression, use_clock

DOCS = Path(__file__).resolve().parent.parent / "docs" / "expressions.md"
FIELDS = [
    "name", "amount", "probability", "quantity", "close_date", "start_date", "created_at",
    "tags", "lines", "stage", "owner_id", "team_id", "region", "is_public", "email",
]  # fmt: skip
FROZEN_NOW = datetime(2024, 3, 10, 9, 30)


def run(source: str, values: dict | None = None, **kwargs):
    return compile_expression(source, FIELDS).evaluate(values or {}, **kwargs)


def refusal(source: str, names=FIELDS) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        compile_expression(source, names)
    return info.value


# --------------------------------------------------------------------------- compiling


def test_compiled_expression_reports_what_it_reads():
    expr = compile_expression(
        "amount > old.amount and user.id == owner_id and days_since(close_date) > 3", FIELDS
    )
    assert isinstance(expr, CompiledExpression)
    assert expr.source.startswith("amount > old.amount")
    assert expr.names == {"amount", "owner_id", "close_date"}
    assert expr.old_names == {"amount"}
    assert expr.user_attrs == {"id"}
    assert expr.functions == {"days_since"}


def test_same_source_and_names_reuse_one_parsed_tree():
    first = compile_expression("amount > 1", ["amount"])
    second = compile_expression("amount > 1", ("amount",), where="rule 'x'")
    assert first.tree is second.tree
    assert second.where == "rule 'x'"


def test_names_given_as_one_string_is_a_programming_error():
    with pytest.raises(TypeError):
        compile_expression("amount > 1", "amount")


def test_where_prefixes_compile_errors():
    with pytest.raises(ExpressionError) as info:
        compile_expression("amout > 0", ["amount"], where="field 'x' visible_if")
    assert info.value.message.startswith("field 'x' visible_if: unknown name 'amout'")


# --------------------------------------------------------------------------- functions


FUNCTION_CASES = [
        ("today()", {}, date(2024, 3, 10)),
        ("now()", {}, FROZEN_NOW),
        ("days_since(close_date)", {"close_date": date(2024, 3, 1)}, 9),
        ("days_since(created_at)", {"created_at": datetime(2024, 3, 9, 23, 0)}, 1),
        ("days_since(close_date)", {}, None),
        ("days_between(start_date, close_date)", {"start_date": date(2024, 1, 1), "close_date": date(2024, 2, 1)}, 31),
        ("days_between(start_date, close_date)", {"start_date": date(2024, 1, 1)}, None),
        ("len(name)", {"name": "Acme"}, 4),
        ("len(tags)", {"tags": ["a", "b"]}, 2),
        ("len(name)", {}, 0),
        ("lower(name)", {"name": "AcMe"}, "acme"),
        ("lower(name)", {}, None),
        ("upper(name)", {"name": "acme"}, "ACME"),
        ("contains(name, 'cm')", {"name": "Acme"}, True),
        ("contains(tags, 'vip')", {"tags": ["new", "vip"]}, True),
        ("contains(tags, 'vip')", {"tags": ["new"]}, False),
        ("contains(tags, 'vip')", {}, False),
        ("contains(amount, 1)", {"amount": None}, False),
        ("startswith(name, 'Ac')", {"name": "Acme"}, True),
        ("startswith(name, 'Ac')", {}, False),
        ("round(2.5)", {}, 3),
        ("round(amount, 1)", {"amount": Decimal("2.25")}, Decimal("2.3")),
        ("round(1234, -2)", {}, 1200),
        ("round(amount)", {}, None),
        ("abs(amount)", {"amount": Decimal("-5")}, Decimal("5")),
        ("min(3, none, 1)", {}, 1),
        ("min(tags)", {"tags": [5, 2, 9]}, 2),
        ("max(amount, 2.5)", {"amount": Decimal("2")}, Decimal("2.5")),
        ("max(none, none)", {}, None),
        ("coalesce(amount, probability, 0)", {"probability": 7}, 7),
        ("int('12')", {}, 12),
        ("int(amount)", {"amount": Decimal("9.99")}, 9),
        ("int(name)", {}, None),
        ("float('1.5')", {}, 1.5),
        ("str(quantity)", {"quantity": 3}, "3"),
        ("str(quantity)", {}, ""),
        ("sum_of(lines, 'total')", {"lines": [{"total": Decimal("1.50")}, {"total": 2.25}, {"total": None}]}, Decimal("3.75")),
        ("sum_of(lines, 'total')", {}, 0),
        ("count_of(lines)", {"lines": [{}, {}]}, 2),
        ("count_of(lines)", {}, 0),
        ("is_blank(name)", {"name": "  "}, True),
        ("is_blank(tags)", {"tags": []}, True),
        ("is_blank(name)", {"name": "x"}, False),
        ("year(close_date)", {"close_date": date(2023, 7, 4)}, 2023),
        ("month(close_date)", {"close_date": date(2023, 7, 4)}, 7),
        ("add_days(close_date, 30)", {"close_date": date(2024, 1, 15)}, date(2024, 2, 14)),
        ("add_days(close_date, -1)", {"close_date": date(2024, 3, 1)}, date(2024, 2, 29)),
]  # fmt: skip


@pytest.mark.parametrize(("source", "values", "expected"), FUNCTION_CASES)
def test_function_evaluates(source, values, expected):
    result = run(source, values, clock=lambda: FROZEN_NOW)
    assert result == expected
    assert type(result) is type(expected)


def test_every_function_is_exercised_by_a_test():
    sources = " ".join(source for source, _, _ in FUNCTION_CASES)
    missing = [name for name in FUNCTIONS if f"{name}(" not in sources]
    assert not missing


def test_use_clock_replaces_today_for_a_block():
    expr = compile_expression("close_date < today()", FIELDS)
    record = {"close_date": date(2024, 3, 9)}
    with use_clock(lambda: datetime(2024, 3, 10, 12, 0, tzinfo=UTC)):
        assert expr.evaluate(record) is True
    with use_clock(lambda: datetime(2024, 3, 1, 12, 0, tzinfo=UTC)):
        assert expr.evaluate(record) is False


def test_date_compares_with_datetime_by_calendar_day():
    values = {"close_date": date(2024, 3, 10)}
    assert run("close_date < now()", values, clock=lambda: FROZEN_NOW) is False
    assert run("close_date <= now()", values, clock=lambda: FROZEN_NOW) is True


def test_naive_and_aware_datetimes_compare():
    aware_now = datetime(2024, 3, 10, 9, 30, tzinfo=UTC)
    assert run(
        "created_at < now()", {"created_at": datetime(2024, 3, 10, 9, 0)}, clock=lambda: aware_now
    )


# --------------------------------------------------------------------------- values


def test_decimal_arithmetic_with_float_literals_stays_exact():
    assert run("amount * 0.1", {"amount": Decimal("10.00")}) == Decimal("1.000")
    assert run("amount + 0.1 + 0.2", {"amount": Decimal("0")}) == Decimal("0.3")
    assert run("amount == 0.1", {"amount": Decimal("0.1")}) is True
    assert run("amount in [0.1, 0.2]", {"amount": Decimal("0.2")}) is True


def test_formula_over_money_and_percent_gives_decimal():
    result = run("amount * probability / 100", {"amount": Decimal("1000.50"), "probability": 30})
    assert result == Decimal("300.15")
    assert isinstance(result, Decimal)


def test_true_false_none_spellings():
    assert run("true and not false") is True
    assert run("True and not False") is True
    assert run("name is none and name is None") is True


def test_old_reads_the_values_before_the_update():
    expr = compile_expression("stage != old.stage and amount > old.amount", FIELDS)
    assert expr.evaluate({"stage": "won", "amount": 5}, old={"stage": "open", "amount": 3}) is True
    assert expr.evaluate({"stage": "won", "amount": 5}, old={"stage": "won", "amount": 3}) is False


def test_old_is_none_on_create():
    assert run("old.stage is none", {"stage": "new"}) is True


def test_user_attributes_from_mapping_or_object():
    class Principal:
        id, team_id, email, name, roles, locale = 7, 3, "a@b.cn", "Ann", ("manager",), "zh"

    expr = compile_expression("owner_id == user.id and 'manager' in user.roles", FIELDS)
    assert expr.evaluate({"owner_id": 7}, user=Principal()) is True
    assert expr.evaluate({"owner_id": 7}, user={"id": 7, "roles": ["sales_rep"]}) is False
    assert run("user.locale == 'zh'", user=Principal()) is True


def test_missing_field_reads_as_none():
    assert run("stage == 'won'", {}) is False


# --------------------------------------------------------------------------- none handling


def test_ordering_comparison_with_none_raises_and_names_the_field():
    with pytest.raises(ExpressionError) as info:
        run("amount > 0", {"amount": None})
    assert "`amount` is empty" in info.value.message
    assert "amount > 0" in info.value.message
    assert "amount and" in info.value.hint


def test_guarded_comparison_with_none_is_falsy():
    assert not run("amount and amount > 0", {"amount": None})
    assert run("coalesce(amount, 0) > -1", {})


def test_arithmetic_with_none_raises():
    with pytest.raises(ExpressionError, match="empty"):
        run("amount + 1", {})


def test_membership_in_empty_list_field_is_false():
    assert run("'vip' in tags", {}) is False
    assert run("'vip' not in tags", {}) is True


# --------------------------------------------------------------------------- runtime errors


@pytest.mark.parametrize(
    ("source", "values", "fragment"),
    [
        ("amount / quantity", {"amount": 1, "quantity": 0}, "division by zero"),
        ("amount / quantity", {"amount": Decimal(1), "quantity": 0}, "division by zero"),
        ("name > 3", {"name": "a"}, "cannot compare text with number"),
        ("name - 1", {"name": "a"}, "cannot combine text with number"),
        ("int(name)", {"name": "abc"}, "cannot turn 'abc' into a whole number"),
        ("name * quantity", {"name": "ab", "quantity": 10**9}, "long"),
    ],
)
def test_runtime_failure_becomes_expression_error_naming_the_expression(source, values, fragment):
    with pytest.raises(ExpressionError) as info:
        run(source, values)
    assert fragment in info.value.message
    assert f"`{source}`" in info.value.message
    assert info.value.source == source


def test_step_budget_stops_long_evaluations():
    expr = compile_expression(" + ".join(["quantity"] * 20), FIELDS)
    assert expr.evaluate({"quantity": 1}) == 20
    with pytest.raises(ExpressionError, match="too many steps"):
        expr.evaluate({"quantity": 1}, max_steps=10)


def test_time_budget_stops_slow_evaluations():
    expr = compile_expression("quantity + 1", FIELDS)
    with pytest.raises(ExpressionError, match="took too long"):
        expr.evaluate({"quantity": 1}, time_budget=-1)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("().__class__", "'__class__' is not allowed"),
        ("name.__class__", "'__class__' is not allowed"),
        ("name.__class__.__subclasses__()", "not allowed"),
        ("__import__('os')", "starting with '_'"),
        ("_secret", "starting with '_'"),
        ("name.upper", "attribute access is only allowed"),
        ("name.lower()", "attribute access is only allowed"),
        ("2 ** 10", "** operator"),
        ("'a' * 10**9", "cannot be multiplied"),
        ("'a' * 1000000000", "cannot be multiplied"),
        ("[1] * quantity", "cannot be multiplied"),
        ("'%999999999d' % 1", "% cannot be used on text"),
        ("lambda: 1", "lambdas"),
        ("(lambda x: x)(1)", "only functions can be called"),
        ("[x for x in lines]", "comprehensions"),
        ("sum(x for x in tags)", "unknown function"),
        ("f'{name}'", "f-strings"),
        ("(x := 1)", ":="),
        ("tags[0]", "indexing"),
        ("tags[1:2]", "indexing"),
        ("{'a': 1}", "dict literals"),
        ("{1, 2}", "set literals"),
        ("len(*tags)", "starred"),
        ("round(amount, ndigits=2)", "named arguments"),
        ("quantity & 1", "bitwise"),
        ("~quantity", "~"),
        ("10000000000000000", "too large"),
        ("b'x'", "bytes literals"),
        ("1j", "complex literals"),
        ("name is 'x'", "'is' only compares with none"),
        ("eval('1')", "unknown function 'eval()'"),
        ("open('x')", "unknown function 'open()'"),
        ("old", "write old.<name>"),
        ("user", "write user.<name>"),
        ("user.password", "unknown user attribute"),
        ("old.passwrd", "unknown field 'old.passwrd'"),
        ("today", "'today' is a function"),
        ("amount(1)", "is a field, not a function"),
        ("round(1, 2, 3)", "takes 1 to 2 argument(s), got 3"),
        ("today(1)", "takes 0 argument(s)"),
        ("sum_of(lines, total)", "quoted text"),
        ("", "empty"),
    ],
)
def test_dangerous_or_unknown_construct_is_refused_at_compile_time(source, fragment):
    assert fragment in refusal(source).message


def test_long_source_is_refused():
    error = refusal("amount + " * 200 + "1")
    assert "longer than 1000 characters" in error.message


def test_deep_nesting_is_refused():
    error = refusal("-(" * 40 + "1" + ")" * 40)
    assert "nested more than 30 levels" in error.message


def test_unknown_name_suggests_the_closest_field():
    error = refusal("amout > 0")
    assert error.message == "unknown name 'amout' at column 1"
    assert error.hint == "did you mean 'amount'?"
    assert error.source == "amout > 0"


def test_unknown_function_suggests_the_closest_function():
    assert refusal("day_since(close_date)").hint == "did you mean 'days_since'?"


def test_null_suggests_none():
    assert refusal("name == null").hint == "did you mean 'none'?"


def test_syntax_error_reports_the_column_and_a_hint():
    error = refusal("amount > 0 && stage == 'won'")
    assert re.match(r"syntax error at column \d+", error.message)
    assert "and" in error.hint
    assert "==" in refusal("amount = 1").hint


def test_method_call_hint_points_at_the_function():
    assert refusal("name.lower()").hint == "write lower(...)"


# --------------------------------------------------------------------------- row scopes as SQL


@pytest.fixture
def deals():
    engine = sa.create_engine("sqlite://")
    metadata = sa.MetaData()
    table = sa.Table(
        "deals",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner_id", sa.Integer),
        sa.Column("team_id", sa.Integer),
        sa.Column("region", sa.String),
        sa.Column("amount", sa.Numeric(12, 2)),
        sa.Column("is_public", sa.Boolean),
        sa.Column("email", sa.String),
    )
    metadata.create_all(engine)
    rows = [
        {"id": 1, "owner_id": 7, "team_id": 1, "region": "east", "amount": 100, "is_public": False, "email": "a@x.cn"},
        {"id": 2, "owner_id": 8, "team_id": 2, "region": "west", "amount": 5000, "is_public": True, "email": "b@x.cn"},
        {"id": 3, "owner_id": 9, "team_id": 2, "region": None, "amount": None, "is_public": None, "email": None},
        {"id": 4, "owner_id": None, "team_id": None, "region": "north", "amount": 50, "is_public": False, "email": "c@x.cn"},
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    yield engine, table, rows
    engine.dispose()


USER = {"id": 7, "team_id": 2, "email": "b@x.cn"}


def _selected_ids(deals, source: str, user=USER) -> set[int]:
    engine, table, _ = deals
    clause = compile_expression(source, FIELDS + ["id"]).to_sql(lambda name: table.c[name], user)
    with engine.connect() as conn:
        return set(conn.execute(sa.select(table.c.id).where(clause)).scalars())


def _python_ids(deals, source: str, user=USER) -> set[int]:
    """Rows Python selects; a row Python cannot evaluate (none ordered) is not selected."""
    _, _, rows = deals
    expr = compile_expression(source, FIELDS + ["id"])
    selected = set()
    for row in rows:
        try:
            if expr.evaluate(row, user=user):
                selected.add(row["id"])
        except ExpressionError:
            pass
    return selected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("owner_id == user.id", {1}),
        ("owner_id == user.id or team_id == user.team_id", {1, 2, 3}),
        ("region == 'east' and amount >= 100", {1}),
        ("region != 'east'", {2, 3, 4}),
        ("not (region == 'east')", {2, 3, 4}),
        ("region in ['east', 'west']", {1, 2}),
        ("region not in ['east', 'west']", {3, 4}),
        ("region in ['east', none]", {1, 3}),
        ("not (region in ('north',))", {1, 2, 3}),
        ("region is none", {3}),
        ("region is not none and owner_id is not none", {1, 2}),
        ("region == none", {3}),
        ("is_public", {2}),
        ("not is_public", {1, 3, 4}),
        ("email == user.email", {2}),
        ("100 <= amount < 5000", {1}),
        ("not (amount > 60 and region != 'west')", {2, 4}),
        ("true", {1, 2, 3, 4}),
        ("owner_id == team_id", {4}),
        ("owner_id != team_id", {1, 2, 3}),
        ("user.team_id and team_id == user.team_id", {2, 3}),
    ],
)
def test_row_scope_selects_the_same_rows_as_python(deals, source, expected):
    assert _selected_ids(deals, source) == expected
    assert _python_ids(deals, source) == expected


def test_row_scope_with_user_without_team_selects_nothing_when_guarded(deals):
    source = "user.team_id and team_id == user.team_id"
    assert _selected_ids(deals, source, user={"id": 1, "team_id": None}) == set()


def test_row_scope_uses_bound_parameters():
    table = sa.table("deals", sa.column("region"))
    clause = compile_expression("region == 'x''; drop table deals; --'", ["region"]).to_sql(
        lambda name: table.c[name], {}
    )
    sql = str(clause.compile(dialect=sa.create_engine("sqlite://").dialect))
    assert "drop" not in sql
    assert "?" in sql


@pytest.mark.parametrize(
    "source",
    [
        "amount + 1 > 2",
        "contains(region, 'x')",
        "old.region == region",
        "'manager' in user.roles",
        "region in tags",
        "'a' if is_public else 'b'",
        "region in [owner_id]",
    ],
)
def test_row_scope_outside_the_sql_subset_is_refused(source):
    expr = compile_expression(source, FIELDS)
    with pytest.raises(ExpressionError, match="cannot be used as a row scope"):
        expr.to_sql(sa.column, USER)
    with pytest.raises(ExpressionError, match="cannot be used as a row scope"):
        expr.check_row_scope()


def test_row_scope_check_accepts_the_subset():
    compile_expression("owner_id == user.id or region in ['a', 'b']", FIELDS).check_row_scope()


# --------------------------------------------------------------------------- documentation


def test_every_function_has_a_heading_in_the_docs():
    headings = set(re.findall(r"^### (\w+)\(\)$", DOCS.read_text(encoding="utf-8"), re.M))
    assert set(FUNCTIONS) <= headings, sorted(set(FUNCTIONS) - headings)
