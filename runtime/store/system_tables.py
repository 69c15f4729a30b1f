"""The ``sys_`` tables: users, teams, roles, API keys, history, audit, saved views,
sequences, versions, the outbox and jobs, mail.

They are defined once here, on a module ``metadata`` that nothing alters: their shape
does not depend on the app model. Each ``Database`` copies them onto its own metadata;
a feature's own tables come through ``Feature.define_tables`` onto that copy, never
onto this one. Statements use the Table objects here (they compile by name).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}


class UtcDateTime(TypeDecorator):
    """An instant stored in UTC and always read back timezone-aware (SQLite reads naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


# SQLite autoincrements only an INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer, "sqlite")

metadata = MetaData(naming_convention=NAMING_CONVENTION)

teams = Table(
    "sys_teams",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("manager_id", BigInteger, nullable=True, index=True),
    Column("parent_id", BigInteger, ForeignKey("sys_teams.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False, default=utcnow),
)

users = Table(
    "sys_users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("password_hash", String(255), nullable=True),
    Column("locale", String(16), nullable=False, default="en"),
    # The user's own IANA zone; NULL = the app's (TRELLIS_TIMEZONE, then app.yaml).
    Column("timezone", String(64), nullable=True),
    Column("team_id", BigInteger, ForeignKey("sys_teams.id"), nullable=True, index=True),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime, nullable=False, default=utcnow),
    Column("last_login_at", UtcDateTime, nullable=True),
    # Part of every session and remember cookie: raising it (sign-out, a new password,
    # deactivation) ends all of them at once. API keys do not depend on it.
    Column("session_version", Integer, nullable=False, default=1),
)

roles = Table(
    "sys_roles",
    metadata,
    Column("id", String(63), primary_key=True),
    Column("label", JSON, nullable=False),
)

user_roles = Table(
    "sys_user_roles",
    metadata,
    Column("user_id", BigInteger, ForeignKey("sys_users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", String(63), primary_key=True),
)

api_keys = Table(
    "sys_api_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "user_id",
        BigInteger,
        ForeignKey("sys_users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("name", String(200), nullable=False, default=""),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False, default=utcnow),
    Column("last_used_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
)

field_history = Table(
    "sys_field_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("entity", String(63), nullable=False),
    Column("record_id", BigInteger, nullable=False),
    Column("field", String(63), nullable=False),
    Column("old_value", JSON, nullable=True),
    Column("new_value", JSON, nullable=True),
    Column("changed_by", BigInteger, nullable=True),
    Column("changed_at", UtcDateTime, nullable=False),
    Column("change_id", String(32), nullable=False),
    # The row_version the change produced: a stale writer's conflict lists the entries
    # after the version it read.
    Column("row_version", Integer, nullable=False, default=0),
    Index("ix_sys_field_history_record", "entity", "record_id", "row_version"),
)

audit = Table(
    "sys_audit",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("entity", String(63), nullable=False),
    Column("record_id", BigInteger, nullable=False),
    Column("action", String(32), nullable=False),
    Column("user_id", BigInteger, nullable=True),
    Column("at", UtcDateTime, nullable=False),
    Column("data", JSON, nullable=True),
    Index("ix_sys_audit_record", "entity", "record_id"),
)

MAX_VIEW_NAME_LENGTH = 80

# A user's saved list views (runtime.store.saved_views).
saved_views = Table(
    "sys_saved_views",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, nullable=False),
    Column("entity", String(63), nullable=False),
    Column("name", String(MAX_VIEW_NAME_LENGTH), nullable=False),
    Column("base_view", String(63), nullable=True),  # the metadata view it started from
    Column("filters", JSON, nullable=False),  # [[param, value], ...] incl. q, archived
    Column("sort", JSON, nullable=False),  # ["-amount", "name"]
    Column("columns", JSON, nullable=False),  # ["name", "amount"]; [] = the view's
    Column("created_at", UtcDateTime, nullable=False, default=utcnow),
    Index("ix_sys_saved_views_owner", "user_id", "entity"),
)

sequences = Table(
    "sys_sequences",
    metadata,
    Column("entity", String(63), primary_key=True),
    Column("field", String(63), primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("value", BigInteger, nullable=False, default=0),
)

app_versions = Table(
    "sys_app_versions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("app_id", String(63), nullable=False),
    Column("version", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("model", JSON, nullable=True),
    Column("applied_at", UtcDateTime, nullable=False, default=utcnow),
    # What a rollback and a reload need (runtime.store.versions): the app folder's files
    # (path -> text), the version's number, who applied it and why, and the applied plan.
    Column("number", Integer, nullable=True),
    Column("files", JSON, nullable=True),
    Column("author", String(255), nullable=True),
    Column("message", String(2000), nullable=True),
    Column("plan", JSON, nullable=True),
    Index("ix_sys_app_versions_app", "app_id", "id"),
)

# Domain events, written in the transaction of the change they report and delivered by
# the job queue (runtime.jobs): state pending -> done, or failed with the last error.
outbox = Table(
    "sys_outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False),
    Column("entity", String(63), nullable=False),
    Column("record_id", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=True),
    Column("changes", JSON, nullable=True),
    Column("created_at", UtcDateTime, nullable=False, default=utcnow),
    Column("state", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_until", UtcDateTime, nullable=True),
    Column("last_error", String(2000), nullable=True),
    Column("done_at", UtcDateTime, nullable=True),
    Index("ix_sys_outbox_state", "state", "id"),
)

# What each subscriber has done with each event: a redelivered event skips them.
outbox_deliveries = Table(
    "sys_outbox_deliveries",
    metadata,
    Column("event_id", BigInteger, primary_key=True),
    Column("subscriber", String(127), primary_key=True),
    Column("done_at", UtcDateTime, nullable=False, default=utcnow),
)

# One row per periodic job and period: the first worker to insert it runs the job.
job_runs = Table(
    "sys_job_runs",
    metadata,
    Column("job", String(127), primary_key=True),
    Column("period", String(32), primary_key=True),
    Column("started_at", UtcDateTime, nullable=False, default=utcnow),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("state", String(16), nullable=False, default="running"),
    Column("error", String(2000), nullable=True),
)

# E-mail: kept here and shown at /admin/mail in development, sent by SMTP when set.
mail_outbox = Table(
    "sys_mail_outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("to_address", String(320), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("body", String(20000), nullable=False),
    Column("created_at", UtcDateTime, nullable=False, default=utcnow),
    Column("state", String(16), nullable=False, default="queued"),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("error", String(2000), nullable=True),
    Index("ix_sys_mail_outbox_created", "created_at"),
)

__all__ = [
    "NAMING_CONVENTION",
    "Id",
    "UtcDateTime",
    "api_keys",
    "app_versions",
    "audit",
    "field_history",
    "job_runs",
    "mail_outbox",
    "metadata",
    "outbox",
    "outbox_deliveries",
    "roles",
    "saved_views",
    "sequences",
    "teams",
    "user_roles",
    "users",
    "utcnow",
]
