"""Fuzz the REST API against its own OpenAPI document with schemathesis (SQLite only).

Every operation of ``tests/fixtures/api_app`` gets valid (positive) and invalid
(negative) requests generated from the document, sent through the WSGI app as an
admin with a bearer key. A case fails on any 5xx, a status the document does not list,
a body or header that does not match the document, or an undocumented content type.
Half the positive cases on ``/{id}`` paths aim at records that exist, and half of the
PATCHes among those carry the record's current ETag, so updates really run.
Hypothesis is derandomized: every run sends the same 300 requests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

API_APP = Path(__file__).resolve().parent / "fixtures" / "api_app"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Examples per operation and mode: 14 operations x (16 + 9) = 350 requests.
EXAMPLES = {GenerationMode.POSITIVE: 16, GenerationMode.NEGATIVE: 9}
SEEDED = 8  # records per entity created before fuzzing


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    from tests.conftest import make_web_app

    folder = tmp_path_factory.mktemp("fuzz")
    app = make_web_app(f"sqlite:///{folder / 'fuzz.db'}", folder, API_APP)
    services = app.extensions["trellis"]
    admin_id = services.users.create_user(
        "admin@example.com", "Admin", "admin-pass-1", roles=["admin"]
    )
    headers = {"Authorization": f"Bearer {services.users.create_api_key(admin_id)}"}
    client = app.test_client()
    ids: dict[str, list[int]] = {"company": [], "deal": []}
    for n in range(1, SEEDED + 1):
        company = client.post("/api/v1/company", json={"name": f"Company {n}"}, headers=headers)
        assert company.status_code == 201, company.get_json()
        ids["company"].append(company.get_json()["id"])
        deal = client.post(
            "/api/v1/deal",
            json={"name": f"Deal {n}", "company": ids["company"][-1], "amount": n * 100},
            headers=headers,
        )
        assert deal.status_code == 201, deal.get_json()
        ids["deal"].append(deal.get_json()["id"])
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    yield schema, client, headers, ids
    services.db.engine.dispose()


def case_strategy(operation, mode: GenerationMode, ids: dict[str, list[int]]):
    """Generated cases; on /{id} paths half of the positive ones name a seeded record."""
    generated = operation.as_strategy(generation_mode=mode)
    if mode is not GenerationMode.POSITIVE or "{id}" not in operation.path:
        return generated
    entity = operation.path.strip("/").split("/")[0]
    seeded = [
        operation.as_strategy(generation_mode=mode, path_parameters={"id": record_id})
        for record_id in ids[entity]
    ]
    return st.one_of(st.one_of(*seeded), generated)


def with_current_etag(case, client, headers) -> None:
    """Make a PATCH current: If-Match from a fresh read, no row_version in the body."""
    read = client.get(f"/api/v1{case.formatted_path}", headers=headers)
    if read.status_code != 200:
        return
    case.headers["If-Match"] = read.headers["ETag"]
    if isinstance(case.body, dict):
        case.body.pop("row_version", None)


def fuzz_operation(operation, mode: GenerationMode, target) -> int:
    """Send ``EXAMPLES[mode]`` generated requests to one operation; returns how many got a 2xx."""
    _schema, client, headers, ids = target
    is_patch = operation.method.upper() == "PATCH" and mode is GenerationMode.POSITIVE
    succeeded = 0

    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    @given(case=case_strategy(operation, mode, ids), current=st.booleans())
    def run(case, current):
        nonlocal succeeded
        if is_patch and current:
            with_current_etag(case, client, headers)
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        succeeded += response.status_code < 300

    run()
    return succeeded


def test_every_response_matches_the_openapi_document(fuzz_target):
    schema = fuzz_target[0]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 14
    failures: list[str] = []
    succeeded: dict[str, int] = {}
    for operation in operations:
        for mode in EXAMPLES:
            try:
                ok = fuzz_operation(operation, mode, fuzz_target)
            except Exception as exc:  # collect every operation's failure, then report all
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
            else:
                succeeded[operation.label] = succeeded.get(operation.label, 0) + ok
    assert not failures, "\n\n".join(failures)
    # A fuzz run that only ever met 401 or 404 would prove nothing.
    missed = [op.label for op in operations if not succeeded.get(op.label)]
    assert not missed, f"no 2xx answer for: {missed}"
