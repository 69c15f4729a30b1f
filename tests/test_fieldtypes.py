"""The field-type registry: coercion, bounds, storage round trips, display, API schemas."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import BigInteger, Column, MetaData, String, Table, create_engine, insert, select

from runtime.definition.model import FieldDef, Label, Option
from runtime.errors import FieldMessage
from runtime.fieldtypes import (
    TYPES,
    CoerceContext,
    FieldInvalid,
    FieldType,
    UnknownFieldType,
    builtin_registry,
    currency_key,
    format_autonumber,
    format_field,
    get_type,
    period_key,
    type_of,
)
from runtime.messages import MESSAGES

DOCS = Path(__file__).resolve().parent.parent / "docs" / "field-types.md"
CTX = CoerceContext()
BUILTIN = {
    "text", "long_text", "rich_text", "integer", "decimal", "money", "percent", "boolean",
    "date", "datetime", "select", "multi_select", "link", "user", "email", "phone", "url",
    "autonumber", "formula", "child_table", "lookup", "rollup",
}  # fmt: skip

STAGES = (
    Option("new", Label.of({"en": "New", "zh": "新建"})),
    Option("won", Label.of({"en": "Won", "zh": "赢单"})),
    Option("lost", Label.of({"en": "Lost", "zh": "丢单"})),
)


def fd(type_: str, id_: str = "f", **kw) -> FieldDef:
    return FieldDef(id=id_, type=type_, label=Label.of(id_), **kw)


def coerce(field: FieldDef, raw, ctx: CoerceContext = CTX):
    return type_of(field).coerce(field, raw, ctx)


def refused_code(field: FieldDef, raw, ctx: CoerceContext = CTX) -> str:
    with pytest.raises(FieldInvalid) as info:
        coerce(field, raw, ctx)
    assert info.value.message.code in MESSAGES
    return info.value.message.code


def bound_codes(field: FieldDef, value) -> list[str]:
    return [m.code for m in type_of(field).check_bounds(field, value)]


# --------------------------------------------------------------------------- registry


def test_every_builtin_type_is_registered_by_name():
    assert set(TYPES) == BUILTIN
    for name, ftype in TYPES.items():
        assert ftype.name == name
        assert get_type(name) is ftype
        assert {"id", "type", "label"} <= ftype.props


def test_unknown_type_raises_a_keyerror_naming_it():
    with pytest.raises(UnknownFieldType, match="monney"):
        get_type("monney")


def test_registry_is_read_only_and_refuses_a_second_registration_of_a_name():
    with pytest.raises(TypeError):
        TYPES["x"] = None  # type: ignore[index]

    class Duplicate(FieldType):
        name = "text"

    with pytest.raises(ValueError, match="already registered"):
        builtin_registry().register(Duplicate)


def test_the_shared_builtin_registry_is_frozen():
    class Later(FieldType):
        name = "test_later"

    with pytest.raises(TypeError, match="frozen"):
        TYPES.register(Later)
    assert "test_later" not in TYPES


def test_an_extension_registers_a_type_the_same_way_builtins_do():
    class Color(FieldType):
        name = "test_color"
        input_kind = "text"

        def column_type(self, field):
            return String(7)

        def parse(self, field, raw, ctx):
            if not re.fullmatch(r"#[0-9a-f]{6}", raw.strip().lower()):
                raise FieldInvalid(FieldMessage("invalid"))
            return raw.strip().lower()

    registry = builtin_registry()  # the test's own registry: nothing shared is changed
    registry.register(Color)
    color = fd("test_color")
    ftype = registry.type_of(color)
    assert ftype.coerce(color, " #FFAA00 ", CTX) == "#ffaa00"
    assert [c.name for c in ftype.columns(color)] == ["f"]
    assert "test_color" not in TYPES


def test_property_sets_follow_the_metadata_table():
    assert "max_length" in get_type("text").props
    assert "max_length" not in get_type("integer").props
    assert {"currency", "currencies", "precision"} <= get_type("money").props
    assert "currency" not in get_type("decimal").props
    assert "options" in get_type("multi_select").props
    assert "target" in get_type("link").props and "target" not in get_type("user").props
    assert "region" in get_type("phone").props
    assert "pattern" in get_type("autonumber").props
    assert {"expression", "result_type", "stored"} <= get_type("formula").props
    assert "fields" in get_type("child_table").props
    # JSON and large-text columns cannot carry a plain index or UNIQUE on PostgreSQL.
    assert "unique" not in get_type("multi_select").props
    assert "index" not in get_type("long_text").props


# --------------------------------------------------------------------------- columns


def _columns(field):
    return {c.name: c for c in type_of(field).columns(field)}


def test_money_adds_a_three_letter_currency_column():
    cols = _columns(fd("money", "amount"))
    assert list(cols) == ["amount", "amount_currency"]
    assert cols["amount"].type.precision == 18 and cols["amount"].type.scale == 2
    assert cols["amount_currency"].type.length == 3


def test_text_column_width_follows_max_length():
    assert _columns(fd("text"))["f"].type.length == 255
    assert _columns(fd("text", max_length=1000))["f"].type.length == 1000


def test_reference_select_and_date_columns_are_indexed_by_default():
    for type_ in ("link", "user", "select", "date"):
        assert _columns(fd(type_, target="account", options=STAGES))["f"].index
    assert not _columns(fd("integer"))["f"].index
    assert _columns(fd("integer", index=True))["f"].index


def test_autonumber_column_is_unique():
    assert _columns(fd("autonumber"))["f"].unique


def test_formula_has_a_column_only_when_stored():
    stored = fd("formula", result_type="money", stored=True)
    assert list(_columns(stored)) == ["f"]  # no currency column for a computed amount
    assert _columns(fd("formula", result_type="integer", stored=False)) == {}
    assert not get_type("formula").is_stored(fd("formula", stored=False))


def test_child_table_has_no_column_on_the_entity_table():
    assert _columns(fd("child_table", fields=(fd("integer", "qty"),))) == {}
    assert get_type("child_table").stored is False


def test_every_stored_column_is_nullable_so_required_fields_can_be_added_later():
    for name in BUILTIN - {"child_table"}:
        field = fd(name, target="x", options=STAGES, result_type="decimal")
        for column in type_of(field).columns(field):
            assert column.nullable, name


# --------------------------------------------------------------------------- empty input


@pytest.mark.parametrize("name", sorted(BUILTIN - {"child_table", "formula"}))
def test_empty_input_is_none(name):
    field = fd(name, options=STAGES, target="x")
    assert coerce(field, "") is None
    assert coerce(field, "   ") is None
    assert coerce(field, None) is None


# --------------------------------------------------------------------------- text


def test_text_is_stripped_and_line_breaks_become_spaces():
    assert coerce(fd("text"), "  Acme \r\n deal ") == "Acme deal"
    assert coerce(fd("text"), 42) == "42"


def test_text_refuses_structures_booleans_and_nul():
    for raw in ({"a": 1}, ["a"], True, "a\x00b"):
        assert refused_code(fd("text"), raw) == "invalid"


def test_text_length_bounds():
    field = fd("text", min_length=3, max_length=5)
    assert bound_codes(field, "ab") == ["min_length"]
    assert bound_codes(field, "abcdef") == ["max_length"]
    assert bound_codes(field, "abcd") == []
    assert bound_codes(fd("text"), "x" * 256) == ["max_length"]  # the column's 255


def test_long_text_keeps_line_breaks():
    assert coerce(fd("long_text"), " line 1\r\nline 2 ") == "line 1\nline 2"


def test_rich_text_strips_script_and_event_handlers_but_keeps_formatting():
    raw = (
        '<p onclick="steal()">Hello <strong>big</strong> <em>deal</em></p>'
        "<script>alert(1)</script><ul><li>one</li></ul>"
        '<a href="javascript:alert(1)">bad</a> <a href="https://example.com">good</a>'
    )
    value = coerce(fd("rich_text"), raw)
    assert "script" not in value and "alert" not in value and "onclick" not in value
    assert "<strong>big</strong>" in value and "<li>one</li>" in value
    assert '<a href="https://example.com" rel="noopener noreferrer">good</a>' in value
    assert "javascript" not in value


def test_rich_text_of_only_empty_markup_is_none():
    assert coerce(fd("rich_text"), "<p><br></p>") is None
    assert coerce(fd("rich_text"), "<script>x()</script>") is None


def test_rich_text_displays_as_plain_text():
    assert get_type("rich_text").format(fd("rich_text"), "<p>A &amp; <b>B</b></p>") == "A & B"


# --------------------------------------------------------------------------- numbers


def test_integer_accepts_numbers_and_numeric_strings():
    field = fd("integer")
    assert coerce(field, "42") == 42
    assert coerce(field, " -7 ") == -7
    assert coerce(field, "1,234") == 1234
    assert coerce(field, 3.0) == 3
    assert isinstance(coerce(field, Decimal("5")), int)


def test_integer_refuses_fractions_booleans_and_words():
    field = fd("integer")
    assert refused_code(field, "1.5") == "not_an_integer"
    assert refused_code(field, 1.5) == "not_an_integer"
    assert refused_code(field, True) == "not_an_integer"
    assert refused_code(field, "abc") == "not_an_integer"
    assert refused_code(field, "NaN") == "not_an_integer"
    assert refused_code(field, "1e400") == "number_too_large"
    assert refused_code(field, str(2**63)) == "number_too_large"


def test_integer_bounds():
    field = fd("integer", min=1, max=10)
    assert bound_codes(field, 0) == ["min_value"]
    assert bound_codes(field, 11) == ["max_value"]
    assert bound_codes(field, 5) == []
    assert type_of(field).check_bounds(field, 0)[0].text() == "Must be at least 1."


def test_decimal_is_quantized_to_its_precision():
    assert coerce(fd("decimal"), "1.005") == Decimal("1.01")
    assert coerce(fd("decimal", precision=4), 0.1) == Decimal("0.1000")
    assert coerce(fd("decimal", precision=0), "2.5") == Decimal("3")
    assert coerce(fd("decimal"), 12) == Decimal("12.00")


def test_decimal_refuses_non_numbers_and_numbers_too_large_for_the_column():
    assert refused_code(fd("decimal"), "12abc") == "not_a_number"
    assert refused_code(fd("decimal"), False) == "not_a_number"
    assert refused_code(fd("decimal"), "Infinity") == "not_a_number"
    assert refused_code(fd("decimal"), [1]) == "not_a_number"
    assert refused_code(fd("decimal"), "1" + "0" * 16) == "number_too_large"
    assert coerce(fd("decimal"), "9" * 16) == Decimal("9" * 16 + ".00")


def test_percent_accepts_a_percent_sign_and_defaults_to_0_to_100():
    field = fd("percent")
    assert coerce(field, "45.5%") == Decimal("45.50")
    assert bound_codes(field, Decimal("100.01")) == ["max_value"]
    assert bound_codes(field, Decimal("-1")) == ["min_value"]
    assert bound_codes(fd("percent", max=200), Decimal("150")) == []


def _money_into(field, raw, current=None, ctx=CTX):
    out: dict = {}
    type_of(field).coerce_into(field, raw, out, ctx, current)
    return out


def test_money_takes_the_field_default_currency_when_none_is_given():
    field = fd("money", "amount", currency="USD")
    assert _money_into(field, {"amount": "1,000.5"}) == {
        "amount": Decimal("1000.50"),
        "amount_currency": "USD",
    }
    assert _money_into(fd("money", "amount"), {"amount": 5})["amount_currency"] == "CNY"
    eur = CoerceContext(default_currency="EUR")
    assert _money_into(fd("money", "amount"), {"amount": 5}, ctx=eur)["amount_currency"] == "EUR"


def test_money_accepts_an_amount_currency_object_or_a_separate_currency_key():
    field = fd("money", "amount", currencies=("CNY", "USD"))
    assert _money_into(field, {"amount": {"amount": 10, "currency": "usd"}}) == {
        "amount": Decimal("10.00"),
        "amount_currency": "USD",
    }
    assert (
        _money_into(field, {"amount": "10", "amount_currency": "USD"})["amount_currency"] == "USD"
    )


def test_money_refuses_a_currency_outside_its_list_or_malformed():
    field = fd("money", "amount", currencies=("CNY", "USD"))
    for bad in ("EUR", "dollars", 12):
        with pytest.raises(FieldInvalid) as info:
            _money_into(field, {"amount": 1, "amount_currency": bad})
        assert info.value.message.code == "invalid_currency"


def test_money_update_of_the_amount_keeps_the_records_currency():
    field = fd("money", "amount")
    out = _money_into(field, {"amount": 7}, current={"amount": 1, "amount_currency": "USD"})
    assert out["amount_currency"] == "USD"


def test_money_cleared_amount_clears_the_currency_and_absent_keys_are_left_alone():
    field = fd("money", "amount")
    assert _money_into(field, {"amount": ""}) == {"amount": None, "amount_currency": None}
    assert _money_into(field, {"name": "x"}) == {}
    assert _money_into(field, {"amount_currency": "usd"}) == {"amount_currency": "USD"}


def test_money_bounds_apply_to_the_amount():
    assert bound_codes(fd("money", min=0), Decimal("-1.00")) == ["min_value"]


# --------------------------------------------------------------------------- boolean


def test_boolean_accepts_form_words():
    field = fd("boolean")
    for raw in (True, "true", "1", "yes", "on", "Y", 1, "是"):
        assert coerce(field, raw) is True, raw
    for raw in (False, "false", "0", "no", "off", 0, "否"):
        assert coerce(field, raw) is False, raw
    assert refused_code(field, "maybe") == "not_a_boolean"
    assert refused_code(field, 2) == "not_a_boolean"


# --------------------------------------------------------------------------- dates


def test_date_accepts_iso_and_slashed_dates():
    field = fd("date")
    assert coerce(field, "2024-05-01") == date(2024, 5, 1)
    assert coerce(field, "2024/5/1") == date(2024, 5, 1)
    assert coerce(field, date(2024, 5, 1)) == date(2024, 5, 1)
    assert coerce(field, datetime(2024, 5, 1, 10)) == date(2024, 5, 1)
    assert refused_code(field, "2024-02-30") == "not_a_date"
    assert refused_code(field, "tomorrow") == "not_a_date"
    assert refused_code(field, 20240501) == "not_a_date"


def test_date_bounds_are_iso_dates():
    field = fd("date", min="2024-01-01", max="2024-12-31")
    assert bound_codes(field, date(2023, 12, 31)) == ["min_value"]
    assert type_of(field).check_bounds(field, date(2025, 1, 1))[0].params == {"max": "2024-12-31"}
    assert bound_codes(field, date(2024, 6, 1)) == []


def test_datetime_with_offset_is_converted_to_utc():
    value = coerce(fd("datetime"), "2024-05-01T18:30:00+08:00")
    assert value == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert value.utcoffset() == timedelta(0)
    assert coerce(fd("datetime"), "2024-05-01T10:30:00Z") == value


def test_naive_datetime_is_utc_unless_the_context_names_a_zone():
    assert coerce(fd("datetime"), "2024-05-01T10:30") == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert coerce(fd("datetime"), "2024-05-01 10:30") == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    shanghai = CoerceContext(timezone=ZoneInfo("Asia/Shanghai"))
    assert coerce(fd("datetime"), "2024-05-01T18:30", shanghai) == datetime(
        2024, 5, 1, 10, 30, tzinfo=UTC
    )


def test_datetime_refuses_garbage():
    assert refused_code(fd("datetime"), "2024-13-01T00:00") == "not_a_datetime"
    assert refused_code(fd("datetime"), 1714550000) == "not_a_datetime"


# --------------------------------------------------------------------------- choices


def test_select_accepts_option_ids_and_labels_and_refuses_others():
    field = fd("select", options=STAGES)
    assert coerce(field, "won") == "won"
    assert coerce(field, "赢单") == "won"  # imports carry labels
    assert coerce(field, "LOST") == "lost"
    assert refused_code(field, "maybe") == "unknown_option"
    with pytest.raises(FieldInvalid) as info:
        coerce(field, "maybe")
    assert info.value.message.text("en") == "'maybe' is not one of the choices."


def test_multi_select_is_unique_and_in_option_order():
    field = fd("multi_select", options=STAGES)
    assert coerce(field, ["lost", "new", "lost"]) == ["new", "lost"]
    assert coerce(field, "lost, won") == ["won", "lost"]
    assert coerce(field, "丢单，新建") == ["new", "lost"]
    assert coerce(field, []) is None
    assert refused_code(field, ["new", "nope"]) == "unknown_option"
    assert refused_code(field, 5) == "invalid"


# --------------------------------------------------------------------------- references


def test_link_and_user_take_positive_integer_ids():
    for name in ("link", "user"):
        field = fd(name, target="account")
        assert coerce(field, "42") == 42
        assert coerce(field, 42) == 42
        assert coerce(field, {"id": 7, "title": "Acme"}) == 7
        for bad in ("abc", 0, -3, 1.5, True, "4.0", [1]):
            assert refused_code(field, bad) == "invalid_record_id", (name, bad)


# --------------------------------------------------------------------------- contact data


def test_email_lowercases_the_domain_only():
    assert coerce(fd("email"), " John.Doe@Example.COM ") == "John.Doe@example.com"
    assert coerce(fd("email"), "a+tag@sub.example.cn") == "a+tag@sub.example.cn"


@pytest.mark.parametrize(
    "raw",
    ["plainaddress", "a@b", "a@@b.com", "a b@c.com", ".a@b.com", "a..b@c.com", "a@-b.com",
     "a@b_c.com", "a@b.123", "x" * 65 + "@b.com"],
)  # fmt: skip
def test_email_refuses_malformed_addresses(raw):
    assert refused_code(fd("email"), raw) == "invalid_email"


def test_phone_is_normalised_to_e164_with_the_default_region():
    assert coerce(fd("phone"), "138 0013 8000") == "+8613800138000"
    assert coerce(fd("phone"), "+1 (650) 253-0000") == "+16502530000"
    assert coerce(fd("phone", region="US"), "650-253-0000") == "+16502530000"
    us = CoerceContext(default_region="US")
    assert coerce(fd("phone"), "(650) 253-0000", us) == "+16502530000"


def test_phone_refuses_numbers_that_cannot_exist():
    assert refused_code(fd("phone"), "12345") == "invalid_phone"
    assert refused_code(fd("phone"), "call me") == "invalid_phone"


def test_phone_displays_in_international_format():
    assert get_type("phone").format(fd("phone"), "+8613800138000") == "+86 138 0013 8000"


def test_url_accepts_http_and_https_and_adds_https_to_a_bare_host():
    assert coerce(fd("url"), "https://Example.com/Path?q=1") == "https://example.com/Path?q=1"
    assert coerce(fd("url"), "HTTP://example.com:8080/") == "http://example.com:8080/"
    assert coerce(fd("url"), "www.example.com/about") == "https://www.example.com/about"
    assert coerce(fd("url"), "example.com:8080") == "https://example.com:8080"


@pytest.mark.parametrize(
    "raw",
    ["javascript:alert(1)", " JaVaScRiPt:alert(1)", "javascript://%0aalert(1)",
     "data:text/html,<script>x</script>", "ftp://example.com/f", "mailto:a@b.com",
     "http://", "http:///path", "https://exa mple.com", "https://user:pw@example.com",
     "https://example.com:99999", "https://-bad-.com"],
)  # fmt: skip
def test_url_refuses_other_schemes_and_malformed_hosts(raw):
    assert refused_code(fd("url"), raw) == "invalid_url"


# --------------------------------------------------------------------------- autonumber


def test_autonumber_formats_date_parts_and_a_zero_padded_counter():
    when = date(2024, 5, 1)
    assert format_autonumber("OPP-{YYYY}-{0000}", 7, when) == "OPP-2024-0007"
    assert format_autonumber("Q{YY}{MM}{DD}-{000}", 12, when) == "Q240501-012"
    assert format_autonumber("{00}", 123, when) == "123"  # outgrows the width, never truncated
    assert format_autonumber(None, 1, when) == "00001"


def test_autonumber_period_key_changes_exactly_when_the_date_part_does():
    may1, may2, jun1, next_year = (
        date(2024, 5, 1),
        date(2024, 5, 2),
        date(2024, 6, 1),
        date(2025, 5, 1),
    )
    yearly = "OPP-{YYYY}-{0000}"
    assert period_key(yearly, may1) == period_key(yearly, jun1) == "2024"
    assert period_key(yearly, next_year) == "2025"
    assert period_key("{YY}{MM}-{000}", may1) == period_key("{YY}{MM}-{000}", may2) == "2024-05"
    assert period_key("{MM}-{000}", may1) != period_key("{MM}-{000}", next_year)
    assert period_key("{YYYY}{MM}{DD}{000}", may1) != period_key("{YYYY}{MM}{DD}{000}", may2)
    assert period_key("INV-{00000}", may1) == period_key("INV-{00000}", next_year) == ""


def test_autonumber_pattern_problems_are_reported_for_the_compiler():
    autonumber = get_type("autonumber")
    assert autonumber.problems(fd("autonumber", pattern="OPP-{YYYY}-{0000}")) == []
    assert autonumber.problems(fd("autonumber", pattern="OPP-{YYYY}"))  # no counter
    assert autonumber.problems(fd("autonumber", pattern="OPP-{year}-{000}"))
    assert autonumber.problems(fd("autonumber", pattern="{000}-{000}"))


def test_autonumber_is_readonly_and_searchable():
    assert get_type("autonumber").always_readonly and get_type("autonumber").search
    assert get_type("autonumber").input_kind == "readonly"


# --------------------------------------------------------------------------- formula & child


def test_formula_canonicalises_its_result_like_its_result_type():
    money = fd("formula", result_type="money", precision=2)
    assert coerce(money, 1234.5 * 0.3) == Decimal("370.35")
    assert coerce(fd("formula", result_type="integer"), 4.0) == 4
    assert coerce(fd("formula", result_type="decimal"), float("nan")) is None


def test_formula_and_autonumber_and_child_table_report_definition_problems():
    assert get_type("formula").problems(fd("formula", result_type="blob", expression="x"))
    assert get_type("child_table").problems(fd("child_table"))
    nested = fd("child_table", fields=(fd("child_table", "inner"),))
    assert get_type("child_table").problems(nested)
    assert get_type("select").problems(fd("select"))
    assert get_type("link").problems(fd("link"))
    assert get_type("money").problems(fd("money", currency="EUR", currencies=("CNY",)))
    assert get_type("date").problems(fd("date", min="not a date"))


def test_child_table_takes_a_list_of_row_mappings():
    field = fd("child_table", fields=(fd("integer", "qty"),))
    assert coerce(field, [{"qty": "2"}]) == [{"qty": "2"}]
    assert coerce(field, '[{"qty": 1}]') == [{"qty": 1}]
    assert coerce(field, None) == []
    assert refused_code(field, "nope") == "invalid_rows"
    assert refused_code(field, [1, 2]) == "invalid_rows"


# --------------------------------------------------------------------------- database round trip


def _roundtrip_fields():
    return [
        fd("text", "name"),
        fd("rich_text", "notes"),
        fd("integer", "qty"),
        fd("money", "amount"),
        fd("percent", "probability", precision=1),
        fd("boolean", "hot"),
        fd("date", "close_date"),
        fd("datetime", "met_at"),
        fd("select", "stage", options=STAGES),
        fd("multi_select", "tags", options=STAGES),
        fd("link", "account", target="account"),
        fd("email", "email"),
        fd("phone", "phone"),
        fd("url", "site"),
        fd("autonumber", "number"),
        fd("formula", "expected", result_type="money", stored=True),
        fd("formula", "live", result_type="money", stored=False),
        fd("child_table", "lines", fields=(fd("integer", "qty"),)),
    ]


def test_values_survive_a_round_trip_through_the_database(db_url):
    fields = _roundtrip_fields()
    metadata = MetaData()
    columns = [c for f in fields for c in type_of(f).columns(f)]
    table = Table("ent_deal", metadata, Column("id", BigInteger, primary_key=True), *columns)
    raw = {
        "name": "Acme",
        "notes": "<p>Hi <b>there</b></p>",
        "qty": "3",
        "amount": {"amount": "1200.5", "currency": "USD"},
        "probability": "45.5",
        "hot": "on",
        "close_date": "2024-06-30",
        "met_at": "2024-05-01T18:30:00+08:00",
        "stage": "won",
        "tags": ["lost", "new"],
        "account": "9",
        "email": "A@B.COM",
        "phone": "138 0013 8000",
        "site": "example.com",
        "number": "OPP-2024-0001",
        "expected": 540.225,
    }
    values: dict = {}
    for f in fields:
        type_of(f).coerce_into(f, raw, values, CTX)
    row_values: dict = {}
    for f in fields:
        row_values.update(type_of(f).to_db(f, values))
    assert "live" not in row_values and "lines" not in row_values

    engine = create_engine(db_url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, **row_values))
        row = conn.execute(select(table)).mappings().one()
    engine.dispose()

    loaded: dict = {}
    for f in fields:
        loaded.update(type_of(f).from_db(f, row))
    assert loaded == {k: v for k, v in values.items() if k not in ("live", "lines")}
    assert loaded["met_at"].tzinfo is not None
    assert loaded["met_at"] == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert loaded["amount_currency"] == "USD"
    assert loaded["tags"] == ["new", "lost"]
    assert loaded["expected"] == Decimal("540.23")


def test_from_db_makes_naive_datetimes_aware_utc():
    field = fd("datetime")
    loaded = type_of(field).from_db(field, {"f": datetime(2024, 5, 1, 10, 30)})
    assert loaded == {"f": datetime(2024, 5, 1, 10, 30, tzinfo=UTC)}


# --------------------------------------------------------------------------- display


def test_numbers_money_and_percent_are_formatted_per_locale():
    money = fd("money", "amount")
    record = {"amount": Decimal("1234.50"), "amount_currency": "CNY"}
    assert format_field(money, record, "zh") == "¥1,234.50"
    assert format_field(money, record, "en") == "CN¥1,234.50"
    assert format_field(money, {"amount": Decimal("5"), "amount_currency": "USD"}, "en") == "$5.00"
    assert get_type("integer").format(fd("integer"), 1234567, "en") == "1,234,567"
    assert get_type("decimal").format(fd("decimal"), Decimal("1234.5"), "en") == "1,234.50"
    assert get_type("percent").format(fd("percent"), Decimal("45.50"), "zh") == "45.5%"


def test_dates_and_datetimes_are_formatted_per_locale_and_zone():
    assert get_type("date").format(fd("date"), date(2024, 5, 1), "en") == "May 1, 2024"
    assert get_type("date").format(fd("date"), date(2024, 5, 1), "zh") == "2024年5月1日"
    instant = datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    shown = get_type("datetime").format(
        fd("datetime"), instant, "zh", tzinfo=timezone(timedelta(hours=8))
    )
    assert shown.startswith("2024年5月1日") and "18:30" in shown


def test_choices_and_booleans_are_shown_by_label():
    stage = fd("select", options=STAGES)
    assert get_type("select").format(stage, "won", "zh") == "赢单"
    assert get_type("select").format(stage, "won", "en") == "Won"
    tags = fd("multi_select", options=STAGES)
    assert get_type("multi_select").format(tags, ["new", "lost"], "en") == "New, Lost"
    assert get_type("multi_select").format(tags, ["new", "lost"], "zh") == "新建、丢单"
    assert get_type("boolean").format(fd("boolean"), True, "en") == "Yes"
    assert get_type("boolean").format(fd("boolean"), False, "zh") == "否"
    assert get_type("text").format(fd("text"), None, "en") == ""


# --------------------------------------------------------------------------- API schemas


def _sample_field(name: str) -> FieldDef:
    return fd(
        name,
        options=STAGES,
        target="account",
        result_type="money",
        min=0,
        max=100,
        max_length=50,
        fields=(fd("integer", "qty"), fd("money", "price", currencies=("CNY", "USD"))),
    )


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_json_schema_is_a_valid_2020_12_schema(name):
    field = _sample_field(name)
    for schema in type_of(field).json_properties(field).values():
        Draft202012Validator.check_schema(schema)


def test_json_schemas_describe_the_api_values():
    def validates(name, value, **kw):
        field = replace(_sample_field(name), **kw)
        return Draft202012Validator(type_of(field).json_schema(field)).is_valid(value)

    assert validates("date", "2024-05-01") and not validates("date", 5)
    assert validates("select", "won") and not validates("select", "maybe")
    assert validates("select", None)
    assert validates("multi_select", ["new", "won"]) and not validates("multi_select", ["x"])
    assert validates("money", 10.5) and validates("money", None) and not validates("money", "x")
    assert validates("integer", 5) and not validates("integer", 5.5)
    assert validates("phone", "+8613800138000") and not validates("phone", "138")
    assert validates("child_table", [{"qty": 1, "price": 2.5, "price_currency": "USD"}])
    money = fd("money", "amount", currencies=("CNY",))
    props = type_of(money).json_properties(money)
    assert set(props) == {"amount", currency_key(money)}
    assert props["amount_currency"]["enum"] == ["CNY", None]
    assert type_of(fd("autonumber")).json_properties(fd("autonumber"))["f"]["readOnly"]


# --------------------------------------------------------------------------- hints


def test_input_kinds_and_default_search():
    kinds = {name: t.input_kind for name, t in TYPES.items()}
    assert kinds["money"] == "money" and kinds["boolean"] == "checkbox"
    assert kinds["datetime"] == "datetime-local" and kinds["link"] == "link-picker"
    assert kinds["phone"] == "tel" and kinds["child_table"] == "child-table"
    searched = {name for name, t in TYPES.items() if t.search}
    assert searched == {"text", "long_text", "email", "phone", "autonumber"}


def test_sort_and_filter_hints():
    assert get_type("multi_select").sort_column(fd("multi_select")) is None
    assert get_type("money").sort_column(fd("money", "amount")) == "amount"
    live = fd("formula", result_type="decimal", stored=False)
    assert get_type("formula").sort_column(live) is None
    assert get_type("formula").filter_operators(live) == ()
    stored = fd("formula", result_type="decimal")
    assert "between" in get_type("formula").filter_operators(stored)
    assert "contains" in get_type("text").filter_operators(fd("text"))


# --------------------------------------------------------------------------- docs


def test_every_registered_type_has_a_docs_heading_and_every_heading_a_type():
    # Type sections are headed by the bare type name; other sections use several words.
    headings = set(re.findall(r"^## ([a-z_]+)\s*$", DOCS.read_text(encoding="utf-8"), re.M))
    assert headings == set(TYPES)


# --------------------------------------------------------------------------- settings


class Swatch(FieldType):
    """An extension type with a setting of its own (not a built-in field property)."""

    name = "test_swatch"
    settings = {"palette": {"type": "array", "items": {"type": "string"}, "minItems": 1}}

    def column_type(self, field):
        return String(7)

    def parse(self, field, raw, ctx):
        return str(raw)


def test_every_builtin_setting_is_a_property_of_its_type_with_a_schema():
    for ftype in TYPES.values():
        assert set(ftype.settings) <= ftype.props, ftype.name
        for key, schema in ftype.settings.items():
            Draft202012Validator.check_schema(dict(schema))
            assert schema, (ftype.name, key)


def test_an_extension_types_own_setting_is_kept_and_checked_against_its_schema():
    registry = builtin_registry()
    registry.register(Swatch)
    swatch = registry.get_type("test_swatch")

    kept, problems = swatch.read_settings({"settings": {"palette": ["#ff0000"]}})
    assert kept == {"palette": ["#ff0000"]} and problems == []

    _kept, problems = swatch.read_settings({"settings": {"palette": "red"}})
    assert [(p.key, p.kind) for p in problems] == [("palette", "invalid")]
    assert "'red' is not of type 'array'" in problems[0].message

    _kept, problems = swatch.read_settings({"settings": {"colour": ["red"]}})
    assert [(p.key, p.kind) for p in problems] == [("colour", "unknown")]
    assert problems[0].hint == "settings a test_swatch field accepts: palette"


# --------------------------------------------------------------------------- type attributes


def test_reads_skip_from_db_only_where_the_driver_value_is_canonical():
    skipped = {name for name, t in TYPES.items() if t.db_value_is_canonical}
    assert skipped == BUILTIN - {"datetime", "formula", "child_table", "lookup", "rollup"}

    class Upper(get_type("text").__class__):
        name = "test_upper"

        def value_from_db(self, field, value):
            return value.upper()

    assert Upper.db_value_is_canonical is False  # its own conversion must run


def test_attributes_replace_type_name_switches():
    assert {n for n, t in TYPES.items() if t.numeric} == {"integer", "decimal", "money", "percent"}
    assert {n for n, t in TYPES.items() if t.temporal} == {"date", "datetime"}
    assert {n: t.references for n, t in TYPES.items() if t.references} == {
        "link": "record",
        "user": "user",
    }
    assert {n for n, t in TYPES.items() if t.holds_rows} == {"child_table"}
    money_formula = fd("formula", result_type="money", expression=None)
    assert get_type("formula").is_numeric(money_formula)
    assert get_type("money").extra_keys(fd("money", "amount")) == ("amount_currency",)
    assert get_type("integer").input_step(fd("integer")) == "1"
    assert get_type("decimal").input_step(fd("decimal", precision=3)) == "0.001"


def test_screens_and_store_never_switch_on_type_names():
    """Adding a type is one class: the web, store, flow, job, definition and feature
    modules read the type's attributes instead of comparing ``field.type`` (or a raw
    field's ``"type"``) with names or keeping lists of type names."""
    root = Path(__file__).resolve().parent.parent / "runtime"
    names = "|".join(sorted(TYPES, key=len, reverse=True))
    switch = re.compile(
        r'\.(type|result_type)\s*(==|!=)\s*"'  # field.type == "money"
        r"|\.type == kind"
        r"|\.(type|result_type)\s+(not\s+)?in\s+[(\[{A-Z]"  # .type in ("a", "b") / in NAMES
        rf'|(\["type"\]|\.get\("type"\))\s*(==|!=)\s*"({names})"'  # raw["type"] == "money"
        rf'|_(TYPES|PARTS)\b.*=\s*(frozenset\()?[(\[{{]\s*"({names})"'  # DATE_TYPES = ("date", ...
    )
    found = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for folder in ("web", "store", "flows", "features", "definition", "jobs")
        for path in sorted((root / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if switch.search(line)
    ]
    assert found == [], "ask the field type instead:\n" + "\n".join(found)
    assert switch.search('SUMMABLE_TYPES = frozenset({"money", "decimal"})')
    assert switch.search('if f["type"] == "money":')
    assert switch.search("found.type not in DATE_TYPES")


def test_read_plans_convert_only_values_the_driver_does_not_give_canonically():
    from runtime.store.plan import rows_plan

    fields = (
        fd("text", "a"),
        fd("money", "m"),
        fd("datetime", "d"),
        fd("formula", "x", result_type="decimal"),
        fd("formula", "t", result_type="datetime"),
    )

    converted = [f.id for f, _ftype in rows_plan(fields).converters]

    assert converted == ["d", "t"]
