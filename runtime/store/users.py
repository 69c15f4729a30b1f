"""Accounts, teams and API keys: who may sign in, and the Principal each request acts as.

Every change to an account, a team or a key is written to ``sys_audit`` (entity
``sys_users``, ``sys_teams`` or ``sys_api_keys``) with the acting user (``actor_id``;
``None`` for the command line and the demo loader), so the admin page can list it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import case, delete, func, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from runtime.definition.model import FieldDef, Label
from runtime.errors import FieldMessage, NotFound, ValidationError
from runtime.fieldtypes import CoerceContext, FieldInvalid, get_type
from runtime.timezones import is_zone

from . import system_tables as st
from .database import Database
from .history import write_audit
from .principal import Principal
from .sql_text import contains_pattern

API_KEY_PREFIX = "trl_"
# The audit trail's entity names for account changes (record ids are the rows' ids).
AUDIT_ENTITIES = ("sys_users", "sys_teams", "sys_api_keys")


def _hash_password(password: str) -> str:
    # TRELLIS_PASSWORD_HASH_METHOD exists for test suites (a cheap pbkdf2 round count);
    # production keeps werkzeug's default (scrypt).
    method = os.environ.get("TRELLIS_PASSWORD_HASH_METHOD")
    if method:
        return generate_password_hash(password, method=method)
    return generate_password_hash(password)


_EMAIL_FIELD = FieldDef("email", "email", Label.of("E-mail"))
# Compared against when the e-mail is unknown, so a miss costs as much as a hit.
_DUMMY_HASH = _hash_password(secrets.token_hex(16))


def hash_api_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class UserService:
    def __init__(self, db: Database):
        self.db = db
        self.model = db.model

    def names(self, user_ids: Iterable[int]) -> dict[int, str]:
        """Display names (the name, else the e-mail) of the users by id, in one query."""
        ids = sorted({i for i in user_ids if isinstance(i, int) and not isinstance(i, bool)})
        if not ids:
            return {}
        users = st.users
        query = select(users.c.id, users.c.name, users.c.email).where(users.c.id.in_(ids))
        with self.db.engine.connect() as conn:
            return {row.id: row.name or row.email for row in conn.execute(query)}

    # ------------------------------------------------------------------ teams

    def create_team(
        self,
        name: str,
        manager_id: int | None = None,
        parent_id: int | None = None,
        *,
        actor_id: int | None = None,
    ) -> int:
        name = (name or "").strip()
        if not name:
            raise ValidationError({"name": [FieldMessage("required")]})
        with self.db.engine.begin() as conn:
            if parent_id is not None and not self._team_exists(conn, parent_id):
                raise ValidationError(
                    {"parent_id": [FieldMessage("unknown_team", {"value": parent_id})]}
                )
            if manager_id is not None and not self._user_exists(conn, manager_id):
                raise ValidationError(
                    {"manager_id": [FieldMessage("unknown_user", {"value": manager_id})]}
                )
            team_id = conn.execute(
                st.teams.insert()
                .values(
                    name=name, manager_id=manager_id, parent_id=parent_id, created_at=st.utcnow()
                )
                .returning(st.teams.c.id)
            ).scalar_one()
            _audit(conn, "sys_teams", team_id, "team.created", actor_id, {"name": name})
            return team_id

    def set_team_manager(
        self, team_id: int, manager_id: int | None, *, actor_id: int | None = None
    ) -> None:
        with self.db.engine.begin() as conn:
            if manager_id is not None and not self._user_exists(conn, manager_id):
                raise ValidationError(
                    {"manager_id": [FieldMessage("unknown_user", {"value": manager_id})]}
                )
            conn.execute(
                update(st.teams).where(st.teams.c.id == team_id).values(manager_id=manager_id)
            )
            _audit(conn, "sys_teams", team_id, "team.manager", actor_id, {"manager_id": manager_id})

    def teams(self) -> list[dict[str, Any]]:
        with self.db.engine.connect() as conn:
            return [
                dict(r) for r in conn.execute(select(st.teams).order_by(st.teams.c.name)).mappings()
            ]

    def _team_exists(self, conn, team_id: int) -> bool:
        return (
            conn.execute(select(st.teams.c.id).where(st.teams.c.id == team_id)).first() is not None
        )

    def _user_exists(self, conn, user_id: int) -> bool:
        return (
            conn.execute(select(st.users.c.id).where(st.users.c.id == user_id)).first() is not None
        )

    # ------------------------------------------------------------------ users

    def _normalise_email(self, email: str) -> str:
        try:
            value = get_type("email").coerce(_EMAIL_FIELD, email, CoerceContext())
        except FieldInvalid as exc:
            raise ValidationError({"email": [exc.message]}) from None
        if value is None:
            raise ValidationError({"email": [FieldMessage("required")]})
        return value.lower()  # sign-in is case-insensitive

    def _check_roles(self, roles: Iterable[str]) -> list[str]:
        roles = list(dict.fromkeys(roles))
        unknown = [r for r in roles if r not in self.model.roles]
        if unknown:
            raise ValidationError(
                {"roles": [FieldMessage("unknown_role", {"value": r}) for r in unknown]}
            )
        return roles

    def create_user(
        self,
        email: str,
        name: str,
        password: str | None,
        roles: Iterable[str] = ("sales_rep",),
        team_id: int | None = None,
        locale: str = "en",
        timezone: str | None = None,
        *,
        actor_id: int | None = None,
    ) -> int:
        """A new active user; ``password=None`` makes an account that cannot sign in."""
        errors: dict[str, list[FieldMessage]] = {}
        try:
            email = self._normalise_email(email)
        except ValidationError as exc:
            errors.update(exc.errors)
        try:
            roles = self._check_roles(roles)
        except ValidationError as exc:
            errors.update(exc.errors)
        name = (name or "").strip()
        if not name:
            errors["name"] = [FieldMessage("required")]
        try:
            timezone = self._check_timezone(timezone)
        except ValidationError as exc:
            errors.update(exc.errors)
        with self.db.engine.begin() as conn:
            if "email" not in errors:
                taken = conn.execute(select(st.users.c.id).where(st.users.c.email == email)).first()
                if taken is not None:
                    errors["email"] = [FieldMessage("email_taken")]
            if team_id is not None and not self._team_exists(conn, team_id):
                errors["team_id"] = [FieldMessage("unknown_team", {"value": team_id})]
            if errors:
                raise ValidationError(errors)
            user_id = conn.execute(
                st.users.insert()
                .values(
                    email=email,
                    name=name,
                    password_hash=_hash_password(password) if password else None,
                    locale=locale or "en",
                    timezone=timezone,
                    team_id=team_id,
                    is_active=True,
                    created_at=st.utcnow(),
                )
                .returning(st.users.c.id)
            ).scalar_one()
            if roles:
                conn.execute(
                    st.user_roles.insert(), [{"user_id": user_id, "role_id": r} for r in roles]
                )
            _audit(
                conn,
                "sys_users",
                user_id,
                "user.created",
                actor_id,
                {"email": email, "roles": roles, "team_id": team_id},
            )
        return user_id

    def set_roles(self, user_id: int, roles: Iterable[str], *, actor_id: int | None = None) -> None:
        roles = self._check_roles(roles)
        with self.db.engine.begin() as conn:
            self._require_user(conn, user_id)
            conn.execute(delete(st.user_roles).where(st.user_roles.c.user_id == user_id))
            if roles:
                conn.execute(
                    st.user_roles.insert(), [{"user_id": user_id, "role_id": r} for r in roles]
                )
            _audit(conn, "sys_users", user_id, "user.roles", actor_id, {"roles": roles})

    def set_team(self, user_id: int, team_id: int | None, *, actor_id: int | None = None) -> None:
        with self.db.engine.begin() as conn:
            self._require_user(conn, user_id)
            if team_id is not None and not self._team_exists(conn, team_id):
                raise ValidationError(
                    {"team_id": [FieldMessage("unknown_team", {"value": team_id})]}
                )
            conn.execute(update(st.users).where(st.users.c.id == user_id).values(team_id=team_id))
            _audit(conn, "sys_users", user_id, "user.team", actor_id, {"team_id": team_id})

    def set_access(
        self,
        user_id: int,
        team_id: int | None,
        roles: Iterable[str],
        *,
        actor_id: int | None = None,
    ) -> None:
        """Team and roles in one go: both are checked before either changes."""
        errors: dict[str, list[FieldMessage]] = {}
        try:
            roles = self._check_roles(roles)
        except ValidationError as exc:
            errors.update(exc.errors)
        with self.db.engine.begin() as conn:
            self._require_user(conn, user_id)
            if team_id is not None and not self._team_exists(conn, team_id):
                errors["team_id"] = [FieldMessage("unknown_team", {"value": team_id})]
            if errors:
                raise ValidationError(errors)
            current = conn.execute(
                select(st.users.c.team_id).where(st.users.c.id == user_id)
            ).scalar()
            if current != team_id:
                conn.execute(
                    update(st.users).where(st.users.c.id == user_id).values(team_id=team_id)
                )
                _audit(conn, "sys_users", user_id, "user.team", actor_id, {"team_id": team_id})
            had = set(
                conn.execute(
                    select(st.user_roles.c.role_id).where(st.user_roles.c.user_id == user_id)
                ).scalars()
            )
            if had != set(roles):
                conn.execute(delete(st.user_roles).where(st.user_roles.c.user_id == user_id))
                if roles:
                    conn.execute(
                        st.user_roles.insert(),
                        [{"user_id": user_id, "role_id": r} for r in roles],
                    )
                _audit(conn, "sys_users", user_id, "user.roles", actor_id, {"roles": roles})

    def set_password(
        self, user_id: int, password: str | None, *, actor_id: int | None = None
    ) -> None:
        """A new password (``None``: the account cannot sign in); ends every session."""
        with self.db.engine.begin() as conn:
            self._require_user(conn, user_id)
            conn.execute(
                update(st.users)
                .where(st.users.c.id == user_id)
                .values(
                    password_hash=_hash_password(password) if password else None,
                    session_version=_next_session_version(),
                )
            )
            _audit(conn, "sys_users", user_id, "user.password", actor_id)

    def set_active(self, user_id: int, active: bool, *, actor_id: int | None = None) -> None:
        """Deactivating ends every session; a later activation does not revive them."""
        with self.db.engine.begin() as conn:
            self._require_user(conn, user_id)
            conn.execute(
                update(st.users)
                .where(st.users.c.id == user_id)
                .values(is_active=bool(active), session_version=_next_session_version())
            )
            action = "user.activated" if active else "user.deactivated"
            _audit(conn, "sys_users", user_id, action, actor_id)

    def end_sessions(self, user_id: int) -> None:
        """Sign the user out everywhere: every session and remember cookie stops working."""
        with self.db.engine.begin() as conn:
            conn.execute(
                update(st.users)
                .where(st.users.c.id == user_id)
                .values(session_version=_next_session_version())
            )

    def _require_user(self, conn, user_id: int) -> None:
        if not self._user_exists(conn, user_id):
            raise NotFound(f"no user with id {user_id}")

    def set_locale(self, user_id: int, locale: str) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(
                update(st.users).where(st.users.c.id == user_id).values(locale=locale or "en")
            )

    @staticmethod
    def _check_timezone(timezone: str | None) -> str | None:
        """An IANA zone name, or None for "the app's"; anything else is refused."""
        timezone = (timezone or "").strip()
        if not timezone:
            return None
        if not is_zone(timezone):
            raise ValidationError(
                {"timezone": [FieldMessage("unknown_timezone", {"value": timezone})]}
            )
        return timezone

    def set_timezone(self, user_id: int, timezone: str | None) -> None:
        """The user's own time zone; empty = follow the app's."""
        timezone = self._check_timezone(timezone)
        with self.db.engine.begin() as conn:
            conn.execute(update(st.users).where(st.users.c.id == user_id).values(timezone=timezone))

    def get(self, user_id: int) -> dict[str, Any]:
        """The account row (without the password hash) plus its roles."""
        with self.db.engine.connect() as conn:
            row = conn.execute(select(st.users).where(st.users.c.id == user_id)).mappings().first()
            if row is None:
                raise NotFound(f"no user with id {user_id}")
            roles = conn.execute(
                select(st.user_roles.c.role_id).where(st.user_roles.c.user_id == user_id)
            ).scalars()
            data = {k: v for k, v in row.items() if k != "password_hash"}
            data["roles"] = sorted(roles)
            return data

    def authenticate(self, email: str, password: str) -> Principal | None:
        try:
            email = self._normalise_email(email)
        except ValidationError:
            check_password_hash(_DUMMY_HASH, password or "")
            return None
        with self.db.engine.begin() as conn:
            row = conn.execute(
                select(st.users.c.id, st.users.c.password_hash, st.users.c.is_active).where(
                    st.users.c.email == email
                )
            ).first()
            stored = row.password_hash if row is not None and row.password_hash else _DUMMY_HASH
            ok = check_password_hash(stored, password or "")
            if row is None or not row.password_hash or not row.is_active or not ok:
                return None
            conn.execute(
                update(st.users).where(st.users.c.id == row.id).values(last_login_at=st.utcnow())
            )
            return self._principal(conn, row.id)

    def principal(self, user_id: int) -> Principal | None:
        """The Principal of an active user, or None."""
        with self.db.engine.connect() as conn:
            return self._principal(conn, user_id)

    def _principal(self, conn, user_id: int) -> Principal | None:
        try:
            user_id = int(user_id)
        except (TypeError, ValueError):
            return None
        row = conn.execute(select(st.users).where(st.users.c.id == user_id)).mappings().first()
        if row is None or not row["is_active"]:
            return None
        roles = frozenset(
            conn.execute(
                select(st.user_roles.c.role_id).where(st.user_roles.c.user_id == user_id)
            ).scalars()
        )
        return Principal(
            id=row["id"],
            email=row["email"],
            name=row["name"],
            roles=roles,
            team_id=row["team_id"],
            managed_team_ids=self._managed_teams(conn, user_id),
            locale=row["locale"] or "en",
            timezone=row.get("timezone") or "",
            session_version=int(row["session_version"] or 0),
        )

    def _managed_teams(self, conn, user_id: int) -> frozenset[int]:
        """Teams the user manages, with all their sub-teams."""
        teams = conn.execute(
            select(st.teams.c.id, st.teams.c.manager_id, st.teams.c.parent_id)
        ).all()
        children: dict[int, list[int]] = {}
        for team in teams:
            if team.parent_id is not None:
                children.setdefault(team.parent_id, []).append(team.id)
        found: set[int] = set()
        pending = [t.id for t in teams if t.manager_id == user_id]
        while pending:
            team_id = pending.pop()
            if team_id in found:
                continue
            found.add(team_id)
            pending.extend(children.get(team_id, ()))
        return frozenset(found)

    def find(
        self, query: str, limit: int = 20, *, team_ids: Iterable[int] = ()
    ) -> list[dict[str, Any]]:
        """Active users whose name or e-mail contains ``query`` (for user pickers).

        Members of ``team_ids`` (the asking user's teams) come first, so the people a
        user picks most are at the top before anything is typed."""
        t = st.users
        stmt = select(t.c.id, t.c.name, t.c.email).where(t.c.is_active.is_(True))
        text = (query or "").strip()
        if text:
            pattern = contains_pattern(text)
            stmt = stmt.where(
                or_(t.c.name.ilike(pattern, escape="\\"), t.c.email.ilike(pattern, escape="\\"))
            )
        order = [func.lower(t.c.name), t.c.id]
        teams = sorted({int(i) for i in team_ids})
        if teams:
            order.insert(0, case((t.c.team_id.in_(teams), 0), else_=1))
        stmt = stmt.order_by(*order).limit(max(1, min(int(limit), 200)))
        with self.db.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    # ------------------------------------------------------------------ API keys

    def create_api_key(self, user_id: int, name: str = "", *, actor_id: int | None = None) -> str:
        """A new key; the token is returned once and only its sha256 is stored."""
        token = API_KEY_PREFIX + secrets.token_urlsafe(32)
        with self.db.engine.begin() as conn:
            if not self._user_exists(conn, user_id):
                raise NotFound(f"no user with id {user_id}")
            key_id = conn.execute(
                st.api_keys.insert()
                .values(
                    user_id=user_id,
                    name=name or "",
                    key_hash=hash_api_key(token),
                    created_at=st.utcnow(),
                )
                .returning(st.api_keys.c.id)
            ).scalar_one()
            _audit(
                conn,
                "sys_api_keys",
                key_id,
                "apikey.created",
                actor_id,
                {"user_id": user_id, "name": name or ""},
            )
        return token

    def principal_for_api_key(self, token: str) -> Principal | None:
        if not token or not isinstance(token, str) or not token.startswith(API_KEY_PREFIX):
            return None
        digest = hash_api_key(token)
        t = st.api_keys
        with self.db.engine.begin() as conn:
            row = conn.execute(
                select(t.c.id, t.c.user_id, t.c.key_hash).where(
                    t.c.key_hash == digest, t.c.revoked_at.is_(None)
                )
            ).first()
            if row is None or not hmac.compare_digest(row.key_hash, digest):
                return None
            conn.execute(update(t).where(t.c.id == row.id).values(last_used_at=st.utcnow()))
            return self._principal(conn, row.user_id)

    def api_keys(self, user_id: int | None = None) -> list[dict[str, Any]]:
        """Keys (never their hashes) of one user, or of everybody, with the owner's e-mail."""
        t = st.api_keys
        stmt = (
            select(
                t.c.id,
                t.c.user_id,
                st.users.c.email,
                t.c.name,
                t.c.created_at,
                t.c.last_used_at,
                t.c.revoked_at,
            )
            .join(st.users, st.users.c.id == t.c.user_id)
            .order_by(t.c.id)
        )
        if user_id is not None:
            stmt = stmt.where(t.c.user_id == user_id)
        with self.db.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def revoke_api_key(
        self, key_id: int, user_id: int | None = None, *, actor_id: int | None = None
    ) -> bool:
        """True when the key was live and is now revoked."""
        t = st.api_keys
        stmt = update(t).where(t.c.id == key_id, t.c.revoked_at.is_(None))
        if user_id is not None:
            stmt = stmt.where(t.c.user_id == user_id)
        with self.db.engine.begin() as conn:
            revoked = conn.execute(stmt.values(revoked_at=st.utcnow())).rowcount == 1
            if revoked:
                _audit(conn, "sys_api_keys", key_id, "apikey.revoked", actor_id)
            return revoked

    # ------------------------------------------------------------------ the admin page

    def users_overview(self) -> list[dict[str, Any]]:
        """Every account (no hashes) with its roles and team name, by name."""
        t = st.users
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(
                    t.c.id,
                    t.c.email,
                    t.c.name,
                    t.c.locale,
                    t.c.team_id,
                    st.teams.c.name.label("team_name"),
                    t.c.is_active,
                    t.c.created_at,
                    t.c.last_login_at,
                )
                .outerjoin(st.teams, st.teams.c.id == t.c.team_id)
                .order_by(func.lower(t.c.name), t.c.id)
            ).mappings()
            users = [dict(r) for r in rows]
            roles: dict[int, list[str]] = {}
            for user_id, role_id in conn.execute(
                select(st.user_roles.c.user_id, st.user_roles.c.role_id)
            ):
                roles.setdefault(user_id, []).append(role_id)
        for user in users:
            user["roles"] = sorted(roles.get(user["id"], ()))
        return users

    def account_activity(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest changes to accounts, teams and keys, with who made them."""
        t = st.audit
        actor = st.users.alias("actor")
        stmt = (
            select(t, actor.c.name.label("actor_name"))
            .outerjoin(actor, actor.c.id == t.c.user_id)
            .where(t.c.entity.in_(AUDIT_ENTITIES))
            .order_by(t.c.id.desc())
            .limit(max(1, min(int(limit), 500)))
        )
        with self.db.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    # ------------------------------------------------------------------ lookups for the CLI

    def count(self) -> int:
        with self.db.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(st.users)).scalar_one())

    def id_for_email(self, email: str) -> int | None:
        wanted = (email or "").strip().lower()
        with self.db.engine.connect() as conn:
            return conn.execute(
                select(st.users.c.id).where(func.lower(st.users.c.email) == wanted)
            ).scalar()

    def ensure_team(self, name: str) -> int:
        """The id of the team called ``name``, created (without a manager) if missing."""
        with self.db.engine.connect() as conn:
            found = conn.execute(
                select(st.teams.c.id).where(st.teams.c.name == name.strip())
            ).scalar()
        return found if found is not None else self.create_team(name)


def _next_session_version() -> Any:
    # Computed in SQL so that two concurrent changes never land on the same version.
    return st.users.c.session_version + 1


def _audit(
    conn, entity: str, record_id: int, action: str, actor_id: int | None, data: Any = None
) -> None:
    write_audit(conn, entity, record_id, action, user_id=actor_id, at=st.utcnow(), data=data)
