"""Words a list filter may use besides field ids and literal values (shared by the checks,
the query parser and the repository, which resolves them for the reader)."""

from __future__ import annotations

STAGE_KIND_FILTER = "stage_kind"  # a pseudo-field: the kind of the record's stage
STAGE_KIND_VALUES = ("open", "won", "lost")  # the kinds a pipeline stage may have
STAGE_KIND_OPERATORS = ("eq", "ne", "in")
ME = "me"  # a user field's value: the signed-in user
MY_TEAM = "my_team"  # a user field's value: the members of the user's teams (and the user)
USER_FILTER_TOKENS = (ME, MY_TEAM)
USER_TOKEN_OPERATORS = ("eq", "ne", "in")
