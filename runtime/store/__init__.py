"""Storage: tables from the model, schema upgrades, and the record repository (the one door to data)."""

from .database import Database, normalise_url
from .keyset import Position, StaleCursor
from .principal import SYSTEM, Principal
from .repository import MAX_PAGE_SIZE, Page, Repository

__all__ = [
    "MAX_PAGE_SIZE",
    "SYSTEM",
    "Database",
    "Page",
    "Position",
    "Principal",
    "Repository",
    "StaleCursor",
    "normalise_url",
]
