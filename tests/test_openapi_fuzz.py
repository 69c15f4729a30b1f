"""Fuzz the REST API against its own OpenAPI document with schemathesis (SQLite only).

Every operation of ``tests/fixtures/api_app`` gets valid (positive) and invalid
(negative) requests generated from the document, sent through the WSGI app as an
admin with a bearer key. A case fails on any 5xx, a status the document does not list,
a body that does not match the documented schema, or an undocumented content type.
Hypothesis is derandomized, so every run sends the same ~300 requests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
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
# Examples per operation and mode: 12 operations x (16 + 9) = 300 requests.
EXAMPLES = {GenerationMode.POSITIVE: 16, GenerationMode.NEGATIVE: 9}


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    from runtime.web.app import create_app

    folder = tmp_path_factory.mktemp("fuzz")
    app = create_app(
        {
            "TRELLIS_DATABASE_URL": f"sqlite:///{folder / 'fuzz.db'}",
            "TRELLIS_APP": str(API_APP),
            "TRELLIS_INSTANCE_PATH": str(folder / "instance"),
            "TRELLIS_SECRET_KEY": "fuzz-secret",
            "TESTING": True,
        }
    )
    services = app.extensions["trellis"]
    services.db.create_or_upgrade()
    admin_id = services.users.create_user("admin@example.com", "Admin", "admin-pass-1", roles=["admin"])
    headers = {"Authorization": f"Bearer {services.users.create_api_key(admin_id)}"}
    # Records with small ids, so generated ids often name one that exists.
    client = app.test_client()
    for n in range(1, 9):
        company = client.post("/api/v1/company", json={"name": f"Company {n}"}, headers=headers)
        assert company.status_code == 201, company.get_json()
        deal = client.post(
            "/api/v1/deal",
            json={"name": f"Deal {n}", "company": company.get_json()["id"], "amount": n * 100},
            headers=headers,
        )
        assert deal.status_code == 201, deal.get_json()
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    yield schema, headers
    services.db.engine.dispose()


def test_every_response_matches_the_openapi_document(fuzz_target):
    schema, headers = fuzz_target
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 12
    for operation in operations:
        for mode, examples in EXAMPLES.items():

            @settings(
                max_examples=examples,
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Exception as exc:  # collect every operation's failure, then report all
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert not failures, "\n\n".join(failures)
