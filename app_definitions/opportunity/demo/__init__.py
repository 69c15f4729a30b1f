"""The opportunity app's demo data generator, which `trellis demo` runs: teams and users
who can log in, and a year of sales history (``generator``, ``stage_histories``).

An app folder's ``demo/`` package is its generator: ``load_demo(db, repo, users, model,
*, scale=1.0)`` fills an empty database and returns at least ``{"logins": [...]}``.
"""

from .generator import DEMO_PASSWORD, format_logins, load_demo

__all__ = ["DEMO_PASSWORD", "format_logins", "load_demo"]
