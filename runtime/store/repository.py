"""The record repository: the one door through which every layer reads and writes records.

Every write runs the same steps in the same order: permissions (entity, row scope,
field), coercion (field types), defaults, formulas, validation (all failing fields at
once), autonumbers, optimistic locking, the write itself, field history / audit, and
the features' steps in between (``write_steps``); domain events go to the outbox in the
same transaction and to the in-process bus after the commit only.

The class is assembled from its jobs: ``reads`` (get, list, count, filters, sort,
keyset), ``aggregates`` (grouped measures), ``writes`` (create, update, archive,
restore and their steps), ``child_rows``
and ``validation``, on ``repository_base`` (the services they share).
"""

from __future__ import annotations

from .aggregates import AggregateResult, Dimension, Measure, RecordAggregates
from .child_rows import ChildRows
from .reads import FILTER_OPERATORS, MAX_PAGE_SIZE, Page, RecordReads
from .repository_base import Errors, RepositoryBase
from .validation import RecordValidation
from .writes import RecordWrites


class Repository(
    RecordReads, RecordAggregates, RecordWrites, RecordValidation, ChildRows, RepositoryBase
):
    """Create, read, list, update, archive and restore records of ``db``'s model."""


__all__ = [
    "AggregateResult",
    "Dimension",
    "Measure",
    "FILTER_OPERATORS",
    "MAX_PAGE_SIZE",
    "Errors",
    "Page",
    "Repository",
    "RepositoryBase",
]
