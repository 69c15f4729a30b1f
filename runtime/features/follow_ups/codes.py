"""The check codes of the follow-ups feature (an entity's ``follow_up``), listed by ``FollowUpsFeature.check_codes()``.

Documented with the others in ``docs/check-codes.md``; never reused, like every code.
"""

from __future__ import annotations

from runtime.definition.codes import Code

# Follow-ups (an entity's ``follow_up``)
UNKNOWN_FOLLOW_UP_FIELD = Code(
    "TRL-E060", "a follow-up names an entity or field that does not exist"
)
INVALID_FOLLOW_UP_FIELD = Code(
    "TRL-E061", "a follow-up names a field of the wrong type (date, link back, user, option)"
)
INVALID_FOLLOW_UP_TITLE = Code(
    "TRL-E062", "a follow-up's title names an unknown field, or a copied field does not match"
)


CODES: tuple[Code, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Code)
)
