"""Opaque paging cursors: a repository ``Position`` signed with the app's secret key.

A cursor names the entity, the app version (model digest), which way it points
(``after`` / ``before``), the sort spec and the key values of one row. It is signed
(itsdangerous, salted), so a client cannot forge a position; the values it holds are
those of the sort keys only, which the parser allows only on fields the user may read.
A cursor that is malformed, tampered with, made for another entity, another way or an
older version of the app is a ``QueryError`` naming the parameter (a 400 in the API).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from itsdangerous import BadData, URLSafeSerializer

from runtime.store.keyset import Position
from runtime.web.query import QueryError

SALT = "trellis.list-cursor"
MAX_CURSOR_LENGTH = 4096
DIRECTIONS = {"after": "a", "before": "b"}


def _encode_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return ["d", str(value)]
    if isinstance(value, float):
        return ["f", repr(value)]
    if isinstance(value, datetime):
        return ["T", value.isoformat()]
    if isinstance(value, date):
        return ["D", value.isoformat()]
    return ["s", str(value)]


def _decode_value(raw: Any) -> Any:
    if raw is None or isinstance(raw, bool | int | str):
        return raw
    if not (isinstance(raw, list) and len(raw) == 2 and isinstance(raw[1], str)):
        raise ValueError("bad value")
    tag, text = raw
    if tag == "d":
        return Decimal(text)
    if tag == "f":
        return float(text)
    if tag == "T":
        return datetime.fromisoformat(text)
    if tag == "D":
        return date.fromisoformat(text)
    if tag == "s":
        return text
    raise ValueError("bad tag")


class CursorCodec:
    """Turns positions into cursor strings and back, for one app (secret + digest)."""

    def __init__(self, secret: str | bytes, app_digest: str):
        self.serializer = URLSafeSerializer(secret, salt=SALT)
        self.app_digest = str(app_digest)[:16]

    def encode(self, entity_id: str, direction: str, position: Position) -> str:
        payload = {
            "e": entity_id,
            "m": self.app_digest,
            "k": DIRECTIONS[direction],
            "s": list(position.sort),
            "v": [_encode_value(v) for v in position.values],
        }
        return str(self.serializer.dumps(payload))

    def decode(self, param: str, token: str, entity_id: str) -> Position:
        """The position in ``token`` given as ``param`` (after/before), or QueryError."""
        text = token.strip()
        if not text or len(text) > MAX_CURSOR_LENGTH or not text.isascii():
            raise QueryError(param, "is not a valid cursor (pass next_cursor or prev_cursor)")
        try:
            payload = self.serializer.loads(text)
        except (BadData, ValueError, UnicodeError):
            raise QueryError(
                param, "is not a valid cursor (pass next_cursor or prev_cursor)"
            ) from None
        if (
            not isinstance(payload, dict)
            or payload.get("e") != entity_id
            or payload.get("m") != self.app_digest
            or payload.get("k") != DIRECTIONS[param]
        ):
            raise QueryError(
                param,
                "belongs to another list or an older version of the app; "
                "start again from the first page",
            )
        sort, values = payload.get("s"), payload.get("v")
        if not isinstance(sort, list) or not isinstance(values, list) or len(sort) != len(values):
            raise QueryError(param, "is not a valid cursor (pass next_cursor or prev_cursor)")
        try:
            decoded = tuple(_decode_value(v) for v in values)
        except (ValueError, TypeError, InvalidOperation):
            raise QueryError(
                param, "is not a valid cursor (pass next_cursor or prev_cursor)"
            ) from None
        return Position(tuple(str(s) for s in sort), decoded)


def codec_for(app: Any) -> CursorCodec:
    """The codec of a Flask app (its secret key and its model's digest), made once."""
    codec = app.extensions.get("trellis_cursors")
    model = app.extensions["trellis"].model
    if codec is None or codec.app_digest != str(model.digest)[:16]:
        codec = CursorCodec(app.secret_key, model.digest)
        app.extensions["trellis_cursors"] = codec
    return codec


__all__ = ["MAX_CURSOR_LENGTH", "CursorCodec", "codec_for"]
