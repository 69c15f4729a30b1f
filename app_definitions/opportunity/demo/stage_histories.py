"""Demo stage histories: put every demo opportunity in its pipeline's stage and give it a
believable path there over the past year (forward steps, the odd step back, lost
deals with the stage they were lost at, some reopened), written to sys_stage_history.

``add_stage_histories(demo, opportunities)`` is called by ``generator`` after the
opportunities exist (they carry ``meta["state"]``: an open stage key, "won" or "lost").
It writes with plain SQL, like the demo's other fix-ups: these are past events.

Given the demo's activities too, it makes the idle ("rotting") flag tell a true story:
most open deals had a completed activity within their stage's ``idle_days``, about
``IDLE_SHARE`` of them genuinely went quiet (nothing since well before the threshold).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam

from runtime.features.pipelines import stage_history
from runtime.features.pipelines.definition import Pipeline, Stage, pipeline_for_record
from runtime.features.pipelines.system_fields import has_stage

SEED = 4242
OPEN_KEYS = ("qualification", "discovery", "solutioning", "quotation", "negotiation")
REOPEN_SHARE = 0.06  # of closed deals: lost (or won), reopened, then closed again or still open
BACKSTEP_SHARE = 0.12  # of deals that went back one stage for a while
IDLE_SHARE = 0.15  # of open deals with an idle threshold: nothing done for longer than it


def _open_index(pipeline: Pipeline, meta: dict[str, Any]) -> int:
    """The demo's open-stage index (0..4) scaled onto this pipeline's open stages."""
    stages = pipeline.open_stages
    index = meta.get("stage_index")
    if index is None:
        index = OPEN_KEYS.index(meta["state"]) if meta.get("state") in OPEN_KEYS else 0
    return min(len(stages) - 1, round(index * (len(stages) - 1) / 4))


def _path(pipeline: Pipeline, meta: dict[str, Any], rng: random.Random) -> list[Stage]:
    """The stages a deal went through, in order (re-entries included)."""
    opens = list(pipeline.open_stages)
    state = meta.get("state")
    if state == "won":
        last_open = len(opens) - 1 if rng.random() < 0.8 else max(0, len(opens) - 2)
        path = opens[: last_open + 1] + [pipeline.first_of_kind("won")]
    elif state == "lost":
        lost_at = min(len(opens) - 1, round(meta.get("lost_stage", 0) * (len(opens) - 1) / 4))
        path = opens[: lost_at + 1] + [pipeline.first_of_kind("lost")]
    else:
        path = opens[: _open_index(pipeline, meta) + 1]
    path = [s for s in path if s is not None]
    open_part = [i for i, s in enumerate(path) if s.is_open]
    if len(open_part) >= 3 and rng.random() < BACKSTEP_SHARE:
        k = rng.choice(open_part[2:])  # went back a stage, then forward again
        path = path[: k + 1] + [path[k - 1], path[k]] + path[k + 1 :]
    if path and path[-1].is_closed and rng.random() < REOPEN_SHARE:
        closed = path[-1]
        back = rng.choice([s for s in path if s.is_open])
        ending = rng.choice(("same", "open", "other"))
        if ending == "same":
            path = path + [back, closed]
        elif ending == "open":
            path = path + [back]
        else:
            other = pipeline.first_of_kind("won" if closed.kind == "lost" else "lost")
            path = path + [back] + ([other] if other else [])
    return path


def _times(start: datetime, end: datetime, steps: int, rng: random.Random) -> list[datetime]:
    """``steps`` increasing moments from ``start`` up to ``end`` (the first is ``start``)."""
    if steps <= 1:
        return [start]
    span = max((end - start).total_seconds(), 3600.0 * steps)
    weights = [rng.uniform(0.6, 1.6) for _ in range(steps - 1)]
    total = sum(weights)
    out, at = [start], start
    for w in weights:
        at = at + timedelta(seconds=span * w / total * rng.uniform(0.85, 1.0))
        out.append(min(at, end) if at > end else at)
    return out


def plan_history(
    pipeline: Pipeline, plan: Any, rng: random.Random, now: datetime
) -> tuple[list[tuple[Stage, datetime]], datetime]:
    """(stage, entered at) pairs for one demo opportunity, and when it was last touched."""
    path = _path(pipeline, plan.meta, rng)
    created = plan.created if plan.created.tzinfo else plan.created.replace(tzinfo=UTC)
    closed_day = plan.fixups.get("closed_date")
    if path[-1].is_closed and closed_day is not None:
        end = datetime(closed_day.year, closed_day.month, closed_day.day, 16, tzinfo=UTC)
    else:
        updated = plan.updated or now
        end = updated if updated.tzinfo else updated.replace(tzinfo=UTC)
    end = max(min(end, now), created + timedelta(hours=1))
    # nothing lies after now (a deal created in the last hour entered its stages by now)
    times = [min(t, now) for t in _times(created, end, len(path), rng)]
    return list(zip(path, times, strict=True)), min(end, now)


def add_stage_histories(
    demo: Any, opportunities: Sequence[Any], activities: list[Any] | None = None
) -> int:
    """Set stage columns and write the stage history of every demo opportunity; with
    ``activities`` (inserted plans), also line their dates up with the idle story."""
    db, model = demo.db, demo.model
    entity = model.entities.get("opportunity")
    table = db.tables.get("opportunity")
    if entity is None or not has_stage(entity) or table is None or "stage" not in table.c:
        return 0
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    updates: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    finals: list[tuple[Any, Stage, datetime]] = []
    for opp in opportunities:
        if opp.id is None:
            continue
        pipeline = pipeline_for_record(model, "opportunity", opp.values)
        if pipeline is None:
            continue
        steps, _end = plan_history(pipeline, opp, rng, now)
        previous: tuple[Stage, datetime] | None = None
        for stage, at in steps:
            probability = previous[0].probability if previous else stage.probability
            history.append(
                stage_history.history_row(
                    entity="opportunity",
                    record_id=opp.id,
                    pipeline=pipeline.id,
                    from_stage=previous[0].id if previous else None,
                    to_stage=stage.id,
                    changed_by=opp.owner,
                    changed_at=at,
                    seconds_in_previous=int((at - previous[1]).total_seconds())
                    if previous
                    else None,
                    amount=opp.values.get("amount"),
                    close_date=opp.values.get("close_date"),
                    probability=probability,
                )
            )
            previous = (stage, at)
        final, entered = steps[-1]
        finals.append((opp, final, entered))
        row = {"_id": opp.id, "stage": final.id, "stage_entered_at": entered}
        fields = pipeline.fields
        if fields.probability and final.probability is not None:
            row["_probability"] = final.probability
        else:
            row["_probability"] = opp.values.get("probability")
        if fields.forecast_category and final.forecast_category:
            row["_forecast"] = final.forecast_category
        else:
            row["_forecast"] = opp.values.get("forecast_category")
        row["_closed"] = entered.date() if final.is_closed else None
        updates.append(row)
    if not updates:
        return 0
    fields = pipeline_for_record(model, "opportunity", {}).fields  # the same in every pipeline
    values = {"stage": bindparam("stage"), "stage_entered_at": bindparam("stage_entered_at")}
    for column, key in (
        (fields.probability, "_probability"),
        (fields.forecast_category, "_forecast"),
        (fields.closed_date, "_closed"),
    ):
        if column and column in table.c:
            values[column] = bindparam(key)
    stmt = table.update().where(table.c.id == bindparam("_id")).values(**values)
    with db.engine.begin() as conn:
        stage_history.delete_stage_history(conn, "opportunity", [u["_id"] for u in updates])
        for start in range(0, len(updates), 1000):
            conn.execute(stmt, updates[start : start + 1000])
        for start in range(0, len(history), 2000):
            stage_history.write_stage_history(conn, history[start : start + 2000])
    if activities is not None:
        today = getattr(demo, "today", None) or now.date()
        freshen_activities(demo, finals, activities, today, random.Random(SEED + 1))
    return len(history)


def _day(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def freshen_activities(
    demo: Any,
    finals: Sequence[tuple[Any, Stage, datetime]],
    activities: list[Any],
    today: date,
    rng: random.Random,
) -> None:
    """Open deals: most get a completed activity inside their stage's idle window (their
    latest completed one moves there, else a planned one is done, else one is added);
    ``IDLE_SHARE`` of them, picked among those that entered their stage before the
    window, have every completed activity moved before it, so they are truly idle."""
    by_opp: dict[int, list[Any]] = defaultdict(list)
    for act in activities:
        opp = act.meta.get("links", {}).get("opportunity")
        if opp is not None and act.id is not None:
            by_opp[id(opp)].append(act)
    watched = [
        (opp, stage, entered)
        for opp, stage, entered in finals
        if stage.is_open and stage.idle_days is not None
    ]
    cutoffs = {id(opp): today - timedelta(days=stage.idle_days + 1) for opp, stage, _ in watched}
    pool = [w for w in watched if _day(w[2]) <= cutoffs[id(w[0])]]
    wanted = min(len(pool), round(IDLE_SHARE * len(watched)))
    idle = {id(opp) for opp, _stage, _entered in rng.sample(pool, wanted)}
    changed: list[Any] = []
    added: list[Any] = []
    for opp, stage, _entered in watched:
        cutoff = cutoffs[id(opp)]
        created = _day(opp.created)
        acts = by_opp.get(id(opp), [])
        done = [a for a in acts if a.values.get("completed") and a.values["activity_date"] <= today]
        if id(opp) in idle:
            for act in done:
                if act.values["activity_date"] > cutoff:
                    day = max(created, cutoff - timedelta(days=rng.randint(0, 30)))
                    changed.append(_redate(act, min(day, cutoff), completed=True))
            continue
        if any(a.values["activity_date"] > cutoff for a in done):
            continue
        span = max(0, min(stage.idle_days, (today - created).days))
        day = today - timedelta(days=rng.randint(0, span))
        planned = [a for a in acts if not a.values.get("completed")]
        if done:
            latest = max(done, key=lambda a: (a.values["activity_date"], a.id))
            changed.append(_redate(latest, day, completed=True))
        elif planned:
            changed.append(_redate(planned[0], day, completed=True))
        else:
            account = opp.meta["account"]
            contacts = account.meta.get("contacts") or [None]
            links = {"opportunity": opp, "account": account, "contact": rng.choice(contacts)}
            kind = rng.choice(("call", "call", "email", "meeting", "visit"))
            plan = demo._activity(kind, day, False, opp.meta.get("chinese", True), opp.owner, links)
            for key, target in links.items():
                plan.values[key] = target.id if target is not None else None
            added.append(plan)
    if changed:
        demo.fix("activity", changed)
    if added:
        demo.insert("activity", added)
        activities.extend(added)


def _redate(act: Any, day: date, *, completed: bool) -> Any:
    """Move an inserted activity plan to ``day`` (the SQL fix-up writes it)."""
    act.values["activity_date"] = day
    act.values["completed"] = completed
    at = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
    act.created, act.updated = at, at
    act.fixups.update(activity_date=day, completed=completed)
    return act


__all__ = ["add_stage_histories", "plan_history"]
