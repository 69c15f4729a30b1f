"""What the benchmarks share: medians, and the runtime, app and signed-in client on a
database, built by the one wiring (``runtime.wiring.build_runtime``) as production is."""

from __future__ import annotations

import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from runtime.wiring import Runtime, build_runtime  # noqa: E402

APP = ROOT / "app_definitions" / "opportunity"


def median_ms(fn, repeat: int) -> float:
    """The median time of ``repeat`` calls of ``fn``, in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def runtime_on(url: str, instance: Path | str, queue: str = "sqlite") -> Runtime:
    """The reference app's runtime on ``url`` with the default features, its job queue
    (``sqlite``: the outbox and queue file in ``instance``, as ``trellis serve`` runs)."""
    return build_runtime(APP, url, queue=queue, instance_path=instance)


def create_tables(url: str, instance: Path | str) -> None:
    """``trellis init``: the reference app's tables in ``url`` (kept when they exist)."""
    runtime = runtime_on(url, instance, queue="immediate")
    runtime.db.create_or_upgrade()
    runtime.db.dispose()


def make_app(url: str, instance: Path | str, secret: str = "bench"):
    """The Flask app on ``url`` (``create_app``, which wires through ``build_runtime``)."""
    from runtime.web.app import create_app

    return create_app(
        {
            "TRELLIS_DATABASE_URL": url,
            "TRELLIS_APP": str(APP),
            "TRELLIS_INSTANCE_PATH": str(instance),
            "TRELLIS_SECRET_KEY": secret,
        }
    )


def signed_in_client(app, email: str, password: str):
    """A test client signed in through the login form (its CSRF token included)."""
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    answer = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:300]
    return client
