"""Contact-data field types: e-mail addresses, phone numbers and URLs."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import phonenumbers
from sqlalchemy import String

from runtime.fieldtypes.base import (
    LENGTH_SETTINGS,
    FieldType,
    _invalid,
    _settings_of,
)
from runtime.fieldtypes.text import TEXT_OPERATORS, _clean_text, _length_messages

# --------------------------------------------------------------------------- contact data

EMAIL_LOCAL_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
HOST_LABEL_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _valid_hostname(host: str, need_dot: bool = True) -> bool:
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return False
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or (need_dot and len(labels) < 2):
        return False
    if not all(HOST_LABEL_RE.fullmatch(label) for label in labels):
        return False
    return not need_dot or not labels[-1].isdigit()


class EmailType(FieldType):
    """An address checked by syntax only (no DNS); the domain is lower-cased."""

    name = "email"
    title_candidate = True
    db_value_is_canonical = True
    display_kind = "email"
    settings = LENGTH_SETTINGS
    input_kind = "email"
    search = True
    operators = TEXT_OPERATORS

    def column_type(self, field):
        return String(254)

    def parse(self, field, raw, ctx):
        text = _clean_text(raw)
        local, sep, domain = text.rpartition("@")
        if (
            not sep
            or len(text) > 254
            or len(local) > 64
            or not EMAIL_LOCAL_RE.fullmatch(local)
            or not _valid_hostname(domain)
        ):
            raise _invalid("invalid_email")
        return f"{local}@{domain.lower()}"

    def check_bounds(self, field, value):
        return [] if value is None else _length_messages(field, value, None)

    def display_href(self, field, value):
        return f"mailto:{value}"

    def json_schema(self, field):
        return {"type": ["string", "null"], "format": "email", "maxLength": 254}


class PhoneType(FieldType):
    """Normalised to E.164; numbers without a country code use field.region or the app's."""

    name = "phone"
    db_value_is_canonical = True
    display_kind = "phone"
    settings = _settings_of(
        LENGTH_SETTINGS, {"region": {"type": "string", "pattern": "^[A-Z]{2}$"}}
    )
    input_kind = "tel"
    search = True
    operators = TEXT_OPERATORS

    def column_type(self, field):
        return String(32)

    def parse(self, field, raw, ctx):
        text = _clean_text(raw)
        region = (field.region or ctx.default_region or "").upper() or None
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            raise _invalid("invalid_phone") from None
        if not phonenumbers.is_valid_number(number):
            raise _invalid("invalid_phone")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def check_bounds(self, field, value):
        return [] if value is None else _length_messages(field, value, None)

    def format_value(self, field, value, locale, *, currency=None, tzinfo=None):
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            return value
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)

    def display_href(self, field, value):
        return f"tel:{value}"

    def export_value(self, field, value, ctx):
        return self.format(field, value, ctx.locale)  # as displayed; imports parse it

    def json_schema(self, field):
        return {"type": ["string", "null"], "pattern": r"^\+[1-9][0-9]{1,14}$"}

    def problems(self, field):
        if field.region and field.region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            return [f"unknown phone region '{field.region}'"]
        return []


URL_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(?!\d)")
URL_MAX = 2048


class UrlType(FieldType):
    """An http(s) URL with a host; "example.com/x" gets https:// in front."""

    name = "url"
    db_value_is_canonical = True
    display_kind = "url"
    settings = LENGTH_SETTINGS
    input_kind = "url"
    operators = TEXT_OPERATORS

    def column_type(self, field):
        return String(URL_MAX)

    def parse(self, field, raw, ctx):
        text = _clean_text(raw)
        if any(ch.isspace() or ord(ch) < 32 for ch in text) or len(text) > URL_MAX:
            raise _invalid("invalid_url")
        if "://" not in text and not URL_SCHEME_RE.match(text):
            text = "https://" + text
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 -- raises ValueError for a bad port
        except ValueError:
            raise _invalid("invalid_url") from None
        host = parts.hostname or ""
        if parts.scheme.lower() not in ("http", "https") or not host or parts.username:
            raise _invalid("invalid_url")
        if not (_valid_hostname(host, need_dot=False) or _is_ip_literal(host)):
            raise _invalid("invalid_url")
        netloc = f"[{host}]" if ":" in host else host.lower()
        if parts.port is not None:
            netloc += f":{parts.port}"
        value = urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, parts.fragment))
        if len(value) > URL_MAX:
            raise _invalid("invalid_url")
        return value

    def check_bounds(self, field, value):
        return [] if value is None else _length_messages(field, value, None)

    def display_href(self, field, value):
        return str(value)

    def json_schema(self, field):
        return {"type": ["string", "null"], "format": "uri", "maxLength": URL_MAX}


def _is_ip_literal(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
