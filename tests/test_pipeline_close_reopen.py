"""Closing, reopening, the stage checklist and stage-kind wording, through the Flask
client (SQLite and PostgreSQL): a reopened record forgets why it was lost, checklist
ticks live on the record for every user and can be required by a gate, and runtime
text names stage kinds in the app's own words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runtime.definition import load_app
from runtime.features.pipelines.definition import pipelines_of
from tests.conftest import make_web_app

FIXTURES = Path(__file__).parent / "fixtures"
PASSWORD = "correct horse battery"


def _token(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html)[1]


def signed_in(app, email: str):
    client = app.test_client()
    token = _token(client.get("/login").get_data(True))
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, email
    return client, _token(client.get("/").get_data(True))


def post(client, token, url, **data):
    return client.post(url, data=data, headers={"Accept": "application/json", "X-CSRFToken": token})


# --------------------------------------------------------------- reopening (deals)


@pytest.fixture
def deals(pipeline_web_app):
    return pipeline_web_app


def _new_deal(client, token) -> int:
    services = client.application.extensions["trellis"]
    rep = services.users.principal(services.users.id_for_email("rep@example.com"))
    return services.repo.create(rep, "deal", {"name": "Globex", "amount": 5000})["id"]


def _record(app, record_id):
    from runtime.store import SYSTEM

    return app.extensions["trellis"].repo.get(SYSTEM, "deal", record_id)


def test_reopening_clears_the_loss_reason_and_a_later_close_asks_again(deals):
    client, token = signed_in(deals, "rep@example.com")
    deal = _new_deal(client, token)
    lost = post(
        client, token, "/p/sales/move",
        record_id=deal, to_stage="lost", loss_reason="competitor", competitor="Initech",
    )  # fmt: skip
    assert lost.status_code == 200, lost.get_json()
    reopened = post(client, token, "/p/sales/move", record_id=deal, to_stage="lead")
    assert reopened.status_code == 200
    record = _record(deals, deal)
    assert record["stage"] == "lead"
    assert record["loss_reason"] is None and record["competitor"] is None
    # "Lost" lists (loss reason set) no longer show the reopened, open deal
    users = deals.extensions["trellis"].users
    rep_id = users.id_for_email("rep@example.com")
    key = users.create_api_key(rep_id, name="t")
    listed = deals.test_client().get(
        "/api/v1/deal?loss_reason__isnull=false", headers={"Authorization": f"Bearer {key}"}
    )
    assert listed.status_code == 200 and listed.get_json()["data"] == []
    # the old values stay in the history
    history = deals.extensions["trellis"].repo.history(users.principal(rep_id), "deal", deal)
    old = {(h["field"], h["old_value"]) for h in history}
    assert ("loss_reason", "competitor") in old and ("competitor", "Initech") in old
    # closing again does not pass on the stale reason: the gate asks for it
    again = post(client, token, "/p/sales/move", record_id=deal, to_stage="lost")
    assert again.status_code == 422
    assert again.get_json()["missing"] == ["loss_reason"]


def test_reopen_clears_default_is_what_the_closing_gate_asked_for():
    model = load_app(FIXTURES / "pipeline_app")
    sales = pipelines_of(model)["sales"]
    assert sales.reopen_clears is None
    assert sales.cleared_on_reopen(sales.stage("lost")) == ("loss_reason", "competitor")
    assert sales.cleared_on_reopen(sales.stage("won")) == ()  # its gate asks for nothing
    reference = pipelines_of(
        load_app(Path(__file__).parent.parent / "app_definitions" / "opportunity")
    )
    nb = reference["new_business"]
    assert nb.cleared_on_reopen(nb.stage("lost")) == ("loss_reason", "loss_detail")
    assert nb.cleared_on_reopen(nb.stage("won")) == ("loss_reason", "loss_detail")


# --------------------------------------------------------------- checklist (recruiting)


@pytest.fixture
def hiring(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, FIXTURES / "recruiting_app")
    services = app.extensions["trellis"]
    users = services.users
    hr = users.principal(
        users.create_user("hr@example.com", "Hana HR", PASSWORD, roles=["recruiter"])
    )
    users.create_user("lead@example.com", "Lee Lead", PASSWORD, roles=["recruiter"])
    users.create_user("view@example.com", "Vera Viewer", PASSWORD, roles=["viewer"])
    candidate = services.repo.create(hr, "candidate", {"name": "Ada"})["id"]
    services.repo.update(hr, "candidate", candidate, {"stage": "interview"})
    app.config["candidate"] = candidate
    yield app
    services.db.engine.dispose()


def _box(html: str, item: str) -> str:
    return re.search(rf'<input type="checkbox"[^>]*data-checklist-item="{item}"[^>]*>', html)[0]


def test_checklist_tick_is_seen_by_another_user_and_in_the_timeline(hiring):
    candidate = hiring.config["candidate"]
    hr, token = signed_in(hiring, "hr@example.com")
    answer = post(
        hr,
        token,
        f"/p/checklist/candidate/{candidate}",
        stage="interview",
        item="phone",
        checked="1",
    )
    assert answer.status_code == 200 and answer.get_json()["checked"] is True
    lead, _ = signed_in(hiring, "lead@example.com")
    page = lead.get(f"/e/candidate/{candidate}").get_data(True)
    assert "checked" in _box(page, "phone") and "checked" not in _box(page, "onsite")
    assert "Hana HR ticked off “Phone screen done”" in page
    # unticking is kept too, newest wins
    post(
        hr,
        token,
        f"/p/checklist/candidate/{candidate}",
        stage="interview",
        item="phone",
        checked="0",
    )
    page = lead.get(f"/e/candidate/{candidate}").get_data(True)
    assert "checked" not in _box(page, "phone")
    assert "Hana HR unticked “Phone screen done”" in page


def test_checklist_refuses_unknown_items_and_users_who_may_not_update(hiring):
    candidate = hiring.config["candidate"]
    hr, token = signed_in(hiring, "hr@example.com")
    unknown = post(hr, token, f"/p/checklist/candidate/{candidate}", stage="interview", item="nope")
    assert unknown.status_code == 422 and "item" in unknown.get_json()["fields"]
    viewer, vtoken = signed_in(hiring, "view@example.com")
    refused = post(
        viewer,
        vtoken,
        f"/p/checklist/candidate/{candidate}",
        stage="interview",
        item="phone",
        checked="1",
    )
    assert refused.status_code == 403
    assert "disabled" in _box(viewer.get(f"/e/candidate/{candidate}").get_data(True), "phone")
    no_csrf = hr.post(
        f"/p/checklist/candidate/{candidate}", data={"stage": "interview", "item": "phone"}
    )
    assert no_csrf.status_code in (400, 403)


def test_gate_requires_checklist_items(hiring):
    candidate = hiring.config["candidate"]
    hr, token = signed_in(hiring, "hr@example.com")
    blocked = post(hr, token, "/p/hiring/move", record_id=candidate, to_stage="offer")
    assert blocked.status_code == 422
    body = blocked.get_json()
    assert "Phone screen done" in body["message"] and "Onsite scheduled" in body["message"]
    assert 'name="checklist" value="interview.phone"' in body["form"]
    post(
        hr,
        token,
        f"/p/checklist/candidate/{candidate}",
        stage="interview",
        item="phone",
        checked="1",
    )
    still = post(hr, token, "/p/hiring/move", record_id=candidate, to_stage="offer")
    assert still.status_code == 422 and "Phone screen" not in still.get_json()["message"]
    # ticking the rest in the move dialog itself moves the record
    moved = post(
        hr,
        token,
        "/p/hiring/move",
        record_id=candidate,
        to_stage="offer",
        checklist="interview.onsite",
    )
    assert moved.status_code == 200 and moved.get_json()["stage"] == "offer"


# --------------------------------------------------------------- stage-kind wording


def test_board_help_names_stage_kinds_in_the_apps_words(hiring):
    hr, _ = signed_in(hiring, "hr@example.com")
    html = hr.get("/p/hiring").get_data(True)
    assert "close it as Hired or Not hired" in html and "won or lost" not in html
    hr.post("/locale", data={"locale": "zh", "csrf_token": _token(html)})
    zh = hr.get("/p/hiring").get_data(True)
    assert "“录用”或“未录用”" in zh and "赢单" not in zh


def test_board_help_is_neutral_without_kind_labels(deals):
    client, _ = signed_in(deals, "rep@example.com")
    html = client.get("/p/sales").get_data(True)
    assert "close it as Successful or Unsuccessful" in html and "won or lost" not in html


def test_unused_kind_label_is_reported(tmp_path):
    import shutil

    from runtime.definition import DefinitionError

    app_dir = tmp_path / "app"
    shutil.copytree(FIXTURES / "recruiting_app", app_dir)
    path = app_dir / "pipelines" / "hiring.yaml"
    text = path.read_text().replace(
        "  won: {en: Hired, zh: 录用}\n", "  won: {en: Hired, zh: 录用}\n  open: Active\n"
    )
    text = text.replace("  - {id: hired, kind: won, label: {en: Hired, zh: 已录用}}\n", "")
    path.write_text(text)
    with pytest.raises(DefinitionError) as caught:
        load_app(app_dir)
    assert "TRL-E049" in str(caught.value)


def _broken(tmp_path, old: str, new: str) -> str:
    import shutil

    from runtime.definition import DefinitionError

    app_dir = tmp_path / "app"
    shutil.copytree(FIXTURES / "recruiting_app", app_dir)
    path = app_dir / "pipelines" / "hiring.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    with pytest.raises(DefinitionError) as caught:
        load_app(app_dir)
    return str(caught.value)


def test_reopen_clears_must_name_optional_fields(tmp_path):
    text = _broken(
        tmp_path, "kind_labels:\n", "reopen_clears: [name, rejection_resaon]\nkind_labels:\n"
    )
    assert text.count("TRL-E048") == 2
    assert "'name', which is required" in text and "did you mean 'rejection_reason'?" in text


def test_gate_checklist_must_name_an_existing_item(tmp_path):
    text = _broken(
        tmp_path, "checklist: [phone, interview.onsite]", "checklist: [phnoe, offer.onsite]"
    )
    assert text.count("TRL-E050") == 2 and "did you mean 'phone'?" in text


def test_checklist_item_ids_are_unique_in_a_stage(tmp_path):
    text = _broken(
        tmp_path,
        "{id: onsite, label: {en: Onsite scheduled, zh: 已安排现场面试}}",
        "{id: phone, label: {en: Onsite scheduled, zh: 已安排现场面试}}",
    )
    assert "TRL-E051" in text


def test_gate_state_brings_the_field_a_choice_needs_into_the_same_dialog(deals):
    client, token = signed_in(deals, "rep@example.com")
    deal = _new_deal(client, token)
    blocked = post(client, token, "/p/sales/move", record_id=deal, to_stage="lost")
    assert blocked.status_code == 422
    form = blocked.get_json()["form"]
    assert 'name="loss_reason"' in form and 'name="competitor"' not in form
    assert 'hx-post="/p/sales/gate-state"' in form
    state = post(
        client, token, "/p/sales/gate-state",
        record_id=deal, to_stage="lost", ask="loss_reason", loss_reason="competitor",
    )  # fmt: skip
    html = state.get_data(True)
    assert state.status_code == 200
    assert 'name="competitor"' in html and 'value="competitor" selected' in html
    # a value typed for a field a later choice hides is kept for when it comes back
    hidden = post(
        client, token, "/p/sales/gate-state",
        record_id=deal, to_stage="lost", ask="loss_reason", loss_reason="price", competitor="SAP",
    ).get_data(True)  # fmt: skip
    assert 'name="competitor"' not in hidden and 'name="keep-competitor" value="SAP"' in hidden
    back = post(
        client, token, "/p/sales/gate-state",
        record_id=deal, to_stage="lost", ask="loss_reason", loss_reason="competitor",
        **{"keep-competitor": "SAP"},
    ).get_data(True)  # fmt: skip
    assert re.search(r'name="competitor"[^>]*value="SAP"', back)
    moved = post(
        client, token, "/p/sales/move",
        record_id=deal, to_stage="lost", ask="loss_reason", loss_reason="competitor", competitor="SAP",
    )  # fmt: skip
    assert moved.status_code == 200 and _record(deals, deal)["loss_reason"] == "competitor"


def test_list_stage_kind_filter_uses_the_apps_words(hiring):
    hr, _ = signed_in(hiring, "hr@example.com")
    html = hr.get("/e/candidate?stage_kind=won").get_data(True)
    assert "Hired" in html and "Not hired" in html
    assert ">Won<" not in html and ">Lost<" not in html
