"""Safe schema evolution: plan the change from one compiled model to the next, show its
data impact, and apply it in one transaction (docs/migrations.md).

```python
plan = plan_migration(old_model, new_model, renames=None, db=db, choices=None)
plan.operations  # Operation(kind, entity, field, detail, impact)
plan.blockers    # what refuses the plan until the user chooses (TRL-E10x lines)
plan.is_empty, plan.fingerprint, plan.plan_id, plan.describe("zh")
plan.to_json(); MigrationPlan.from_json(doc)
apply_plan(db, plan, new_model)  # -> {"applied", "plan_id", "operations"}
```

Operation kinds: add_field, rename_field, retype_field, retire_field, restore_field,
add_entity, rename_entity, retire_entity, restore_entity, add_child, rename_child,
retire_child, restore_child, add_option, remove_option, add_stage, remove_stage,
retarget_link. Choices: ``{"maps": {"entity.field": {"old": "new"}}, "conversions":
{"entity.field": {"mode": "default", "value": ...} | {"mode": "archive"}}}``.
A retired field or entity keeps its column or table (listed in sys_retired_columns);
when the model names it again, the plan restores it with its data.
"""

from .apply import MigrationRefused, apply_plan, retired_columns
from .plan import MigrationPlan, Operation, fingerprint, plan_migration

__all__ = [
    "MigrationPlan",
    "MigrationRefused",
    "Operation",
    "apply_plan",
    "fingerprint",
    "plan_migration",
    "retired_columns",
]
