"""Who is acting: the identity, roles and teams every store call is checked against."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """A signed-in user (or the system) as the store sees it; immutable per request.

    ``managed_team_ids`` holds every team the user manages, sub-teams included, so the
    ``team`` row scope needs no recursion at query time. Expressions read the same
    attributes as ``user.id``, ``user.team_id``, ``user.roles``, ...
    """

    id: int
    email: str = ""
    name: str = ""
    roles: frozenset[str] = field(default_factory=frozenset)
    team_id: int | None = None
    managed_team_ids: frozenset[int] = field(default_factory=frozenset)
    locale: str = "en"
    timezone: str = ""  # the user's own zone; "" = the app's
    is_system: bool = False
    session_version: int = 0  # see sys_users.session_version

    @property
    def team_ids(self) -> frozenset[int]:
        """The teams whose members' records the ``team`` scope covers."""
        own = {self.team_id} if self.team_id is not None else set()
        return frozenset(own | set(self.managed_team_ids))

    @property
    def actor_id(self) -> int | None:
        """The user id written to created_by / changed_by (None for the system)."""
        return None if self.is_system else self.id


# Demo data, migrations and automations act as SYSTEM: no permission or read-only checks.
SYSTEM = Principal(id=0, email="system@trellis.invalid", name="System", is_system=True)
