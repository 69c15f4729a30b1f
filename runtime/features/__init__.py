"""Features: how a capability plugs into the runtime without the runtime knowing it.

A feature is an object (usually a ``Feature`` subclass) that contributes what its
capability needs through the hooks below; every hook has an empty default, so a
feature overrides only what it uses. The runtime asks a ``FeatureSet`` - the features
one runtime was built with, in order - and never imports a feature's modules itself:
pipelines and follow-ups are registered exactly as an outside extension would be, by
naming them (``runtime.features.pipelines``, or ``my_package.feature:FEATURE``) in the
list given to ``runtime.wiring.build_runtime`` or in ``TRELLIS_FEATURES``.

Nothing here holds state between runtimes: a ``FeatureSet`` belongs to the runtime
built with it, and two runtimes in one process (tests do this) never share one.
See docs/internals.md for the worked example (pipelines).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from runtime.definition.model import AppModel, Entity

# The features every runtime has unless told otherwise, by the name an outside
# extension would use. Order matters where two features insert steps at one place.
DEFAULT_FEATURES: tuple[str, ...] = (
    "runtime.features.pipelines",
    "runtime.features.follow_ups",
    "runtime.features.reports",
)


class Feature:
    """One capability. Subclass it and override the hooks the capability needs.

    ``name`` is the feature's id (in check codes' docs, the jobs log, /admin);
    ``docs`` is the path of its page under ``docs/`` (a docs test requires one).
    """

    name: str = ""
    docs: str = ""

    # ---------------------------------------------------------------- definition

    def compile_steps(self) -> Mapping[str, Callable[..., Any]]:
        """Compile steps: extension key -> ``step(context, documents)``.

        The step reads the documents of kind ``getattr(step, "kind", key)`` and returns
        what goes into ``AppModel.extensions[key]``; it reports problems through
        ``context.report``.
        """
        return {}

    def check_codes(self) -> Sequence[Any]:
        """The ``runtime.definition.codes.Code`` objects this feature reports (its own
        only; a code must be unique across the core and every feature)."""
        return ()

    def kinds(self) -> Sequence[Any]:
        """The metadata kinds this feature reads: ``runtime.definition.loader.Kind``
        objects, each naming its folder and JSON Schema (``schema_dir`` is where the
        feature keeps the schema file; ``schemas/`` may override it)."""
        return ()

    def entity_system_fields(self, documents: Sequence[Any], entity_id: str) -> Sequence[Any]:
        """The system fields (``FieldDef``: id, type, label...) this feature adds to
        entity ``entity_id``, judged from the app's parsed ``documents`` (every kind);
        compiled into ``Entity.system_fields``, so tables, queries and the API treat
        them generically and expressions and views may name them."""
        return ()

    def reserved_field_ids(self) -> Sequence[str]:
        """Ids no entity field may take because this feature may add a system field of
        that name (to any entity, once the app uses the feature for it)."""
        return ()

    def view_filter_terms(self) -> Mapping[str, Callable[..., Any]]:
        """Named terms a view's ``filters`` may use in place of a field (pipelines:
        ``stage_kind``): name -> ``check(filter_check)`` returning a list of problems
        (``runtime.definition.checks.base.FilterCheck`` says what is checked)."""
        return {}

    def view_filter_value_checks(self) -> Sequence[Callable[..., Any]]:
        """Checks of a view filter's values once its field and operator are known good:
        ``check(filter_check)`` returns the list of problems, or None when the filter
        is not this feature's business (pipelines: a filter on ``stage``)."""
        return ()

    def field_types(self) -> Sequence[Any]:
        """Field types this feature adds (``runtime.fieldtypes.FieldType`` subclasses).

        They are registered beside the built-in ones in the registry of each model
        compiled with the feature; each needs a section in docs/field-types.md.
        """
        return ()

    # ---------------------------------------------------------------- storage

    def define_tables(self, metadata: Any) -> None:
        """Add this feature's ``sys_`` tables to ``metadata``: one Database's own
        ``MetaData``, so ``create_or_upgrade`` creates and extends them. Add fresh
        tables or copies (``Table.to_metadata``), never alter a table another Database
        may hold; a runtime without the feature has none of them."""

    def write_steps(self, model: AppModel) -> Sequence[Any]:
        """Steps this feature adds to the write path: ``runtime.store.write_steps.WriteStep``
        objects, each placed ``before``/``after`` a core step for the operations it names
        (objects with ``before_write``/``after_write`` are accepted too)."""
        return ()

    def value_sets(self, model: AppModel) -> Mapping[str, frozenset[str]]:
        """Closed sets of values this feature defines for its system fields
        (``"entity.field"`` -> the values a record may hold), so the migration planner
        treats a value that disappears like a removed option: refused while records
        hold it, unless the change maps it to another."""
        return {}

    def record_value_moves(
        self, conn: Any, entity_id: str, field_id: str, moves: Sequence[Any]
    ) -> None:
        """Write this feature's own history of a migration's moves of ``field_id``
        (``moves``: ``(record_id, old, new, at)`` tuples, done by the system, no user),
        in the migration's transaction."""

    def query_clauses(self, model: AppModel) -> Mapping[str, Any]:
        """Named filter terms of ``repo.list`` / ``repo.count`` (pipelines: ``idle``,
        ``stage_kind``): name -> ``runtime.store.query_clauses.QueryClause``, whose
        ``build(context)`` returns one SQLAlchemy expression of the entity's table,
        compiled inside the repository's filter translation with the row scope (never a
        list of ids). A column of that name wins; ``applies`` picks the entities."""
        return {}

    def sort_orders(self, model: AppModel) -> Mapping[str, Callable[..., Any]]:
        """How the repository sorts by a column this feature knows better than the
        alphabet (pipelines: ``stage`` in pipeline order): column -> ``order(db, entity,
        table)`` returning an ORDER BY expression that is never NULL, or None to sort by
        the column itself on that entity. Built once per entity."""
        return {}

    # ---------------------------------------------------------------- screens and API

    def blueprints(self) -> Sequence[Any]:
        """Flask blueprints (or objects with ``register(app)``) this feature serves."""
        return ()

    # The screens' hooks return the small records of ``runtime.features.screens``.

    def list_columns(self, model: AppModel, entity: Entity) -> Sequence[Any]:
        """How the generic list shows this feature's columns of ``entity`` and what it
        marks on rows: ``ListColumn`` (a cell per record) and ``ListBadges`` objects."""
        return ()

    def list_filters(self, model: AppModel, entity: Entity) -> Sequence[Any]:
        """What the lists of ``entity`` (the screen, its exports, the API) filter on
        besides fields: ``ListFilter`` (a field's control), ``QueryTerm`` (a named
        query-string term) and ``ListSwitch`` (a ``?<param>=1`` switch) objects."""
        return ()

    def record_panels(self, model: AppModel, entity: Entity) -> Sequence[Any]:
        """``RecordPanel`` objects: panels above the record page's highlights."""
        return ()

    def timeline_entries(self, model: AppModel, entity: Entity) -> Sequence[Any]:
        """``TimelineSource`` objects: entries of the record page's timeline."""
        return ()

    def nav_items(self, model: AppModel) -> Sequence[Any]:
        """``NavItem`` objects: this feature's screens the app's navigation may name."""
        return ()

    def home_sections(self, model: AppModel) -> Sequence[Any]:
        """``HomeSection`` objects: sections of the home page."""
        return ()

    def openapi_paths(self, model: AppModel) -> Mapping[str, Any]:
        """OpenAPI path items (``/path`` -> item) this feature's API routes add to the
        generated document (relative to ``/api/v1``)."""
        return {}

    def cli_commands(self) -> Sequence[Any]:
        """``click`` commands added to ``trellis`` (looked up when the command line is
        read, so ``TRELLIS_FEATURES`` decides them; a built-in's name is refused).
        ``builder.cli.runtime_for(app, database)`` gives a command its runtime, and
        ``builder.cli.app_option``/``db_option`` its ``--app``/``--database``."""
        return ()

    # ---------------------------------------------------------------- events and jobs

    def subscribers(self, runtime: Any) -> Sequence[tuple[str, Callable[..., Any]]]:
        """Durable event subscribers: ``(event name or "*", handler(event))``, or
        ``(name, handler, entity ids)`` to hear only those entities' events."""
        return ()

    def event_labels(self) -> Mapping[str, Any]:
        """The events this feature emits, named in words for people (the jobs page):
        event name -> label (``runtime.web.i18n.lazy_gettext``, translated when shown)."""
        return {}

    def schedules(self, runtime: Any) -> Sequence[Any]:
        """Periodic jobs (each run once per period however many workers run)."""
        return ()

    def __repr__(self) -> str:
        return f"<feature {self.name or type(self).__name__}>"


class FeatureError(Exception):
    """A feature named in the configuration could not be loaded."""


class FeatureSet(Sequence[Feature]):
    """The features of one runtime, in order; asks each of them a hook and gathers."""

    def __init__(self, features: Iterable[Feature] = ()):
        self._features: tuple[Feature, ...] = tuple(features)
        names = [f.name for f in self._features if f.name]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise FeatureError(f"feature {twice[0]!r} is listed twice")

    def __getitem__(self, index):  # type: ignore[override]
        return self._features[index]

    def __len__(self) -> int:
        return len(self._features)

    def __iter__(self) -> Iterator[Feature]:
        return iter(self._features)

    def __repr__(self) -> str:
        return f"FeatureSet({[f.name for f in self._features]})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self._features)

    def get(self, name: str) -> Feature | None:
        return next((f for f in self._features if f.name == name), None)

    def gather(self, hook: str, *args: Any) -> list[Any]:
        """Every feature's answer to a sequence hook, concatenated in feature order."""
        items: list[Any] = []
        for feature in self._features:
            method = getattr(feature, hook, None)
            if method is not None:
                items.extend(method(*args) or ())
        return items

    def merge(self, hook: str, *args: Any) -> dict[str, Any]:
        """Every feature's answer to a mapping hook; a key given twice is an error."""
        merged: dict[str, Any] = {}
        for feature in self._features:
            method = getattr(feature, hook, None)
            for key, value in ((method(*args) if method else None) or {}).items():
                if key in merged:
                    raise FeatureError(f"{hook}: {key!r} is contributed by two features")
                merged[key] = value
        return merged


def load_features(spec: Iterable[str | Feature] | str | None = None) -> FeatureSet:
    """The features named by ``spec``: Feature objects, or names ``package.module``
    (its ``FEATURE`` attribute) or ``package.module:ATTRIBUTE``; a comma-separated
    string is split. ``None`` gives ``DEFAULT_FEATURES``."""
    if spec is None:
        spec = DEFAULT_FEATURES
    if isinstance(spec, str):
        spec = [part.strip() for part in spec.split(",") if part.strip()]
    return FeatureSet(_resolve(item) for item in spec)


def _resolve(item: str | Feature) -> Feature:
    if not isinstance(item, str):
        return item
    module_name, _, attribute = item.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise FeatureError(f"feature {item!r}: no module {exc.name!r}") from exc
    feature = getattr(module, attribute or "FEATURE", None)
    if feature is None:
        raise FeatureError(
            f"feature {item!r}: module {module_name!r} has no {attribute or 'FEATURE'!r}"
        )
    if isinstance(feature, type):
        feature = feature()
    return feature


__all__ = ["DEFAULT_FEATURES", "Feature", "FeatureError", "FeatureSet", "load_features"]
