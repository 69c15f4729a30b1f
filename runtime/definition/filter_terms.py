"""Words a list filter may use besides field ids and literal values (shared by the checks,
the query parser and the repository, which resolves them for the reader). A feature's
own terms live with it (pipelines: ``runtime.features.pipelines.definition``'s
``STAGE_KIND_FILTER``)."""

from __future__ import annotations

ME = "me"  # a user field's value: the signed-in user
MY_TEAM = "my_team"  # a user field's value: the members of the user's teams (and the user)
USER_FILTER_TOKENS = (ME, MY_TEAM)
USER_TOKEN_OPERATORS = ("eq", "ne", "in")
