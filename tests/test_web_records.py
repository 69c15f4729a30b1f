"""Record page and record forms through the test client, on SQLite and PostgreSQL.

The app is ``tests/fixtures/records_app`` (owned by these tests): a ``deal`` with every
field type, the ``company`` it links to and ``note`` records that link to deals. Reps
read their team's deals, change their own, may not write ``probability`` and never see
``secret``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import make_web_app

APP_DIR = Path(__file__).resolve().parent / "fixtures" / "records_app"
PASSWORD = "correct horse battery"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def app(db_url, tmp_path):
    app = make_web_app(db_url, tmp_path, APP_DIR)
    users = app.extensions["trellis"].users
    east = users.create_team("East")
    west = users.create_team("West")
    app.config["ids"] = {
        "admin": users.create_user("admin@example.com", "Ada Admin", PASSWORD, roles=["admin"]),
        "rep": users.create_user(
            "rep@example.com", "Rita Rep", PASSWORD, roles=["rep"], team_id=east
        ),
        "mate": users.create_user(
            "mate@example.com", "Max Mate", PASSWORD, roles=["rep"], team_id=east
        ),
        "other": users.create_user(
            "other@example.com", "Olga Other", PASSWORD, roles=["rep"], team_id=west
        ),
        "zh": users.create_user("zh@example.com", "王芳", PASSWORD, roles=["admin"], locale="zh"),
        "viewer": users.create_user("viewer@example.com", "Vic Viewer", PASSWORD, roles=["viewer"]),
    }
    yield app
    app.extensions["trellis"].db.engine.dispose()


def principal(app, who):
    return app.extensions["trellis"].repo.principal(app.config["ids"][who])


def repo(app):
    return app.extensions["trellis"].repo


def client_for(app, who="admin"):
    client = app.test_client()
    page = client.get("/login")
    token = csrf(page.get_data(as_text=True))
    email = {"admin": "admin@example.com", "rep": "rep@example.com", "mate": "mate@example.com",
             "other": "other@example.com", "zh": "zh@example.com", "viewer": "viewer@example.com"}[who]  # fmt: skip
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    return client


def csrf(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match
    return match.group(1)


def token(client, path="/e/deal/new") -> str:
    return csrf(client.get(path).get_data(as_text=True))


def text(response) -> str:
    return response.get_data(as_text=True)


def control(html: str, name: str) -> str:
    """The opening tag of the form control named ``name`` (first match)."""
    match = re.search(
        r'<(input|select|textarea)\b[^>]*\bname="' + re.escape(name) + r'"[^>]*>', html
    )
    assert match, f"no control named {name}"
    return match.group(0)


def field_wrapper(html: str, name: str) -> str:
    start = html.rindex("<div", 0, html.index(f'id="fw-{name}"'))
    end = html.find('class="form-field', start + 10)
    return html[start : end if end > 0 else len(html)]


def new_deal(app, who="admin", **values):
    data = {"name": "Deal", **values}
    return repo(app).create(principal(app, who), "deal", data)


# --------------------------------------------------------------------------- the form


def test_new_form_has_the_right_input_for_every_field_type(app):
    client = client_for(app)
    html = text(client.get("/e/deal/new"))
    assert 'type="text"' in control(html, "name") and 'maxlength="120"' in control(html, "name")
    assert control(html, "notes").startswith("<textarea")
    # grouped while typing (js/number_input.js): text inputs with a numeric keyboard
    quantity, ratio = control(html, "quantity"), control(html, "ratio")
    assert 'data-number-input="integer"' in quantity and 'inputmode="numeric"' in quantity
    assert 'data-number-input="decimal"' in ratio and 'inputmode="decimal"' in ratio
    assert 'data-number-input="decimal"' in control(html, "amount")
    currency = re.search(r'<select[^>]*name="amount_currency".*?</select>', html, re.S).group(0)
    assert ">CNY</option>" in currency and ">USD</option>" in currency
    assert 'max="100"' in control(html, "probability") or "probability" not in html
    assert 'type="date"' in control(html, "close_date")
    assert 'type="datetime-local"' in control(html, "next_call")
    assert control(html, "status").startswith("<select")
    assert re.search(r'type="checkbox" name="tags" value="hot"', html)
    assert 'type="checkbox"' in re.search(
        r'<input type="checkbox" id="f-priority"[^>]*>', html
    ).group(0)
    assert 'type="email"' in control(html, "email")
    assert 'type="tel"' in control(html, "phone")
    assert 'type="url"' in control(html, "link")
    # links and users: a hidden id plus a searchable combobox that asks the lookup endpoint
    company = field_wrapper(html, "company")
    assert 'data-lookup-url="/e/company/lookup"' in company and 'role="combobox"' in company
    manager = field_wrapper(html, "manager")
    assert 'data-lookup-url="/users/lookup"' in manager
    # rich text: an editor writing into a textarea; computed fields are read-only text
    summary = field_wrapper(html, "summary")
    assert 'contenteditable="true"' in summary and '<textarea class="input rte-source"' in summary
    assert 'id="ro-expected"' in html and 'id="ro-number"' in html
    assert 'name="expected"' not in html and 'name="number"' not in html
    # child table: a template row to clone, the marker and an add button
    assert "data-row-template" in html and 'name="lines-present"' in html
    assert 'name="lines-__prefix__-product"' in html
    # required markers and help texts
    assert re.search(r'id="req-name" class="required" aria-hidden="true"', html)
    assert "What the customer buys." in html
    # the form re-evaluates itself on the server as the user types
    assert 'hx-post="/e/deal/form-state"' in html
    assert 'hx-trigger="input changed delay:300ms, change"' in html


def test_create_posts_redirect_to_the_record_page_with_a_message(app):
    client = client_for(app)
    company = repo(app).create(principal(app, "admin"), "company", {"name": "Acme"})
    data = {
        "csrf_token": token(client),
        "name": "Big deal",
        "company": str(company["id"]),
        "amount": "1200.5",
        "amount_currency": "USD",
        "probability": "40",
        "status": "open",
        "tags": ["", "hot"],
        "priority": ["0", "1"],
        "next_call": "2024-05-01T09:30",
        "summary": "<p>Good <b>news</b><script>alert(1)</script></p>",
        "_next": "record",
    }
    response = client.post("/e/deal/new", data=data)
    assert response.status_code == 302
    record_id = int(response.headers["Location"].rsplit("/", 1)[1])
    saved = repo(app).get(principal(app, "admin"), "deal", record_id)
    assert saved["name"] == "Big deal" and saved["company"] == company["id"]
    assert str(saved["amount"]) == "1200.50" and saved["amount_currency"] == "USD"
    assert saved["tags"] == ["hot"] and saved["priority"] is True
    assert "<script>" not in saved["summary"]
    page = text(client.get(response.headers["Location"]))
    assert "was created" in page and "Big deal" in page
    assert f'href="/e/company/{company["id"]}"' in page  # link shown as a link
    assert "$1,200.50" in page  # money formatted in its currency
    assert "<b>news</b>" in page  # sanitised rich text is rendered as HTML


def test_save_and_new_goes_back_to_an_empty_form(app):
    client = client_for(app)
    response = client.post(
        "/e/deal/new", data={"csrf_token": token(client), "name": "One", "_next": "new"}
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/e/deal/new")


def test_validation_errors_keep_typed_values_next_to_the_fields(app):
    client = client_for(app)
    data = {
        "csrf_token": token(client),
        "name": "",
        "email": "not-an-email",
        "quantity": "-3",
        "notes": "typed <notes> stay",
        "status": "won",  # the rule: a won deal needs an amount
    }
    response = client.post("/e/deal/new", data=data)
    assert response.status_code == 422
    html = text(response)
    name = field_wrapper(html, "name")
    assert "has-error" in name and "This field is required." in name
    email = field_wrapper(html, "email")
    assert 'value="not-an-email"' in email and "valid e-mail" in email
    assert 'value="-3"' in field_wrapper(html, "quantity")
    assert "typed &lt;notes&gt; stay</textarea>" in html
    assert "A won deal needs an amount." in html.split('class="form-section')[0]  # on top
    assert 'aria-invalid="true"' in control(html, "email")


def test_form_state_shows_a_field_when_its_condition_becomes_true(app):
    client = client_for(app)
    html = text(client.get("/e/deal/new"))
    assert re.search(r'id="fs-competitor"[^>]*data-visible="0"', html)
    assert re.search(r'id="ss-loss"[^>]*data-visible="0"', html)
    response = client.post(
        "/e/deal/form-state",
        data={
            "csrf_token": csrf(html),
            "name": "x",
            "status": "lost",
            "amount": "100",
            "probability": "abc",
        },
    )
    assert response.status_code == 200
    state = text(response)
    assert re.search(r'id="fs-competitor"[^>]*data-visible="1"[^>]*data-required="1"', state)
    assert re.search(r'id="ss-loss"[^>]*data-visible="1"', state)
    assert re.search(
        r'<span id="req-competitor" class="required" aria-hidden="true" hx-swap-oob="true">', state
    )
    assert 'hx-swap-oob="true"' in state
    # readonly_if: a won deal's discount is frozen
    won = text(client.post("/e/deal/form-state", data={"csrf_token": csrf(html), "status": "won"}))
    assert re.search(r'id="fs-discount"[^>]*data-readonly="1"', won)
    open_ = text(
        client.post("/e/deal/form-state", data={"csrf_token": csrf(html), "status": "open"})
    )
    assert re.search(r'id="fs-competitor"[^>]*data-visible="0"', open_)
    assert re.search(r'id="fs-discount"[^>]*data-readonly="0"', open_)


def test_form_state_previews_formulas_from_what_is_typed(app):
    client = client_for(app)
    state = text(
        client.post(
            "/e/deal/form-state",
            data={"csrf_token": token(client), "amount": "1000", "probability": "25",
                  "lines-present": "1", "lines-7-product": "A", "lines-7-qty": "3", "lines-7-price": "2.5"},
        )
    )  # fmt: skip
    assert re.search(r'id="ro-expected"[^>]*>\s*CN¥250\.00', state)
    assert re.search(r'id="ro-lines-7-total"[^>]*>\s*7\.50', state)


def test_required_if_is_enforced_and_shown_after_submit(app):
    client = client_for(app)
    response = client.post(
        "/e/deal/new", data={"csrf_token": token(client), "name": "Lost one", "status": "lost"}
    )
    assert response.status_code == 422
    html = text(response)
    assert "This field is required." in field_wrapper(html, "competitor")
    assert re.search(r'id="fs-competitor"[^>]*data-visible="1"[^>]*data-required="1"', html)


# --------------------------------------------------------------------------- editing


def test_edit_form_carries_row_version_and_saves(app):
    deal = new_deal(app, amount="10")
    client = client_for(app)
    html = text(client.get(f"/e/deal/{deal['id']}/edit"))
    assert (
        control(html, "row_version")
        == f'<input type="hidden" name="row_version" value="{deal["row_version"]}">'
    )
    assert 'value="Deal"' in control(html, "name")
    response = client.post(
        f"/e/deal/{deal['id']}/edit",
        data={"csrf_token": csrf(html), "row_version": str(deal["row_version"]), "name": "Renamed"},
    )
    assert response.status_code == 302 and response.headers["Location"] == f"/e/deal/{deal['id']}"
    assert repo(app).get(principal(app, "admin"), "deal", deal["id"])["name"] == "Renamed"
    page = text(client.get(f"/e/deal/{deal['id']}"))
    assert "were saved" in page
    # the timeline shows who changed what
    timeline = page[page.index('id="timeline"') :]
    assert "Ada Admin changed 1 field" in timeline and "Deal" in timeline and "Renamed" in timeline


def test_stale_edit_shows_the_other_users_change_and_keeps_the_input(app):
    deal = new_deal(app, "rep", amount="100")
    client = client_for(app, "rep")
    html = text(client.get(f"/e/deal/{deal['id']}/edit"))
    # meanwhile the admin changes the name
    repo(app).update(
        principal(app, "admin"),
        "deal",
        deal["id"],
        {"name": "Changed by admin"},
        row_version=deal["row_version"],
    )
    response = client.post(
        f"/e/deal/{deal['id']}/edit",
        data={
            "csrf_token": csrf(html),
            "row_version": str(deal["row_version"]),
            "name": "My new name",
            "amount": "250",
        },
    )
    assert response.status_code == 409
    page = text(response)
    assert "Someone else changed this record" in page
    conflict = page[page.index('class="alert alert-warning conflict"') : page.index("</table>")]
    assert "Deal name" in conflict and "Changed by admin" in conflict and "Ada Admin" in conflict
    assert "My new name" in conflict
    assert 'value="My new name"' in control(page, "name")  # the input is kept
    current = repo(app).get(principal(app, "admin"), "deal", deal["id"])
    assert f'name="row_version" value="{current["row_version"]}"' in page
    # saving again overwrites knowingly
    again = client.post(
        f"/e/deal/{deal['id']}/edit",
        data={
            "csrf_token": csrf(html),
            "row_version": str(current["row_version"]),
            "name": "My new name",
        },
    )
    assert again.status_code == 302
    assert repo(app).get(principal(app, "admin"), "deal", deal["id"])["name"] == "My new name"


def test_child_rows_can_be_added_and_removed(app):
    client = client_for(app)
    rows = {
        "lines-present": "1",
        "lines-0-id": "", "lines-0-product": "Widget", "lines-0-qty": "2", "lines-0-price": "10",
        "lines-4-id": "", "lines-4-product": "Gadget", "lines-4-qty": "1", "lines-4-price": "3.5",
    }  # fmt: skip
    response = client.post(
        "/e/deal/new", data={"csrf_token": token(client), "name": "Rows", **rows}
    )
    assert response.status_code == 302
    deal_id = int(response.headers["Location"].rsplit("/", 1)[1])
    saved = repo(app).get(principal(app, "admin"), "deal", deal_id)
    assert [(r["product"], r["qty"]) for r in saved["lines"]] == [("Widget", 2), ("Gadget", 1)]
    html = text(client.get(f"/e/deal/{deal_id}/edit"))
    assert 'value="Widget"' in control(html, "lines-0-product")
    first_id, second_id = (r["id"] for r in saved["lines"])
    assert f'name="lines-1-id" value="{second_id}"' in html
    # remove the first row, edit the second, add a third
    data = {
        "csrf_token": csrf(html),
        "row_version": str(saved["row_version"]),
        "name": "Rows",
        "lines-present": "1",
        "lines-1-id": str(second_id), "lines-1-product": "Gadget XL", "lines-1-qty": "3", "lines-1-price": "3.5",
        "lines-9-id": "", "lines-9-product": "Doohickey", "lines-9-qty": "1", "lines-9-price": "1",
    }  # fmt: skip
    assert client.post(f"/e/deal/{deal_id}/edit", data=data).status_code == 302
    saved = repo(app).get(principal(app, "admin"), "deal", deal_id)
    assert [(r["product"], r["qty"]) for r in saved["lines"]] == [
        ("Gadget XL", 3),
        ("Doohickey", 1),
    ]
    assert saved["lines"][0]["id"] == second_id
    page = text(client.get(f"/e/deal/{deal_id}"))
    assert "Gadget XL" in page and "Doohickey" in page and "Widget" not in page


def test_child_row_errors_are_shown_in_their_row(app):
    client = client_for(app)
    data = {"csrf_token": token(client), "name": "Rows", "lines-present": "1",
            "lines-3-id": "", "lines-3-product": "", "lines-3-qty": "0"}  # fmt: skip
    response = client.post("/e/deal/new", data=data)
    assert response.status_code == 422
    html = text(response)
    row = html[
        html.index('name="lines-0-id"') : html.index("</tr>", html.index('name="lines-0-id"'))
    ]
    assert "This field is required." in row and "at least 1" in row


# --------------------------------------------------------------------------- permissions


def test_rep_cannot_open_another_teams_record(app):
    deal = new_deal(app, "other", name="West deal")
    client = client_for(app, "rep")
    assert client.get(f"/e/deal/{deal['id']}").status_code == 404
    assert client.get(f"/e/deal/{deal['id']}/edit").status_code == 404
    response = client.post(f"/e/deal/{deal['id']}/archive", data={"csrf_token": token(client)})
    assert response.status_code == 404


def test_rep_sees_teammates_record_without_edit_or_archive(app):
    deal = new_deal(app, "mate", name="Mate deal")
    client = client_for(app, "rep")
    page = text(client.get(f"/e/deal/{deal['id']}"))
    assert "Mate deal" in page
    assert f"/e/deal/{deal['id']}/edit" not in page and "/archive" not in page
    assert client.get(f"/e/deal/{deal['id']}/edit").status_code == 403


def test_rep_never_sees_hidden_fields_and_cannot_write_read_only_ones(app):
    rep_id = app.config["ids"]["rep"]
    deal = new_deal(app, "admin", owner_id=rep_id, secret="TOP-SECRET-CODE", probability="30")
    client = client_for(app, "rep")
    page = text(client.get(f"/e/deal/{deal['id']}"))
    assert "TOP-SECRET-CODE" not in page and "Internal code" not in page
    form = text(client.get(f"/e/deal/{deal['id']}/edit"))
    assert 'name="secret"' not in form and "Internal code" not in form
    assert 'name="probability"' not in form and 'id="ro-probability"' in form  # read only
    new_form = text(client.get("/e/deal/new"))
    assert 'name="secret"' not in new_form
    response = client.post(
        f"/e/deal/{deal['id']}/edit",
        data={
            "csrf_token": csrf(form),
            "row_version": str(deal["row_version"]),
            "name": "Mine",
            "probability": "99",
        },
    )
    assert response.status_code == 302
    saved = repo(app).get(principal(app, "admin"), "deal", deal["id"])
    assert saved["name"] == "Mine" and str(saved["probability"]) == "30.00"


# --------------------------------------------------------------------------- record page


def test_archive_and_restore(app):
    deal = new_deal(app, name="Archive me")
    client = client_for(app)
    page = text(client.get(f"/e/deal/{deal['id']}"))
    assert 'data-confirm="Archive' in page
    response = client.post(f"/e/deal/{deal['id']}/archive", data={"csrf_token": csrf(page)})
    assert response.status_code == 302
    assert repo(app).get(principal(app, "admin"), "deal", deal["id"])["archived_at"] is not None
    page = text(client.get(f"/e/deal/{deal['id']}"))
    assert "was archived" in page and f"/e/deal/{deal['id']}/restore" in page
    assert f"/e/deal/{deal['id']}/edit" not in page
    assert (
        client.post(f"/e/deal/{deal['id']}/restore", data={"csrf_token": csrf(page)}).status_code
        == 302
    )
    assert repo(app).get(principal(app, "admin"), "deal", deal["id"])["archived_at"] is None
    timeline = text(client.get(f"/e/deal/{deal['id']}/timeline"))
    for line in ("Ada Admin created", "Ada Admin archived", "Ada Admin restored"):
        assert line in timeline


def test_archive_needs_csrf(app):
    deal = new_deal(app)
    client = client_for(app)
    assert client.post(f"/e/deal/{deal['id']}/archive").status_code == 400


def test_related_lists_appear_on_the_parent_with_a_prefilled_new_button(app):
    admin = principal(app, "admin")
    company = repo(app).create(admin, "company", {"name": "Parent Co"})
    repo(app).create(
        admin,
        "deal",
        {"name": "Child deal", "company": company["id"], "status": "won", "amount": "5"},
    )
    repo(app).create(
        admin,
        "note",
        {
            "subject": "Kick-off call",
            "company": company["id"],
            "happened_at": "2024-01-02T03:04:00+00:00",
        },
    )
    client = client_for(app)
    page = text(client.get(f"/e/company/{company['id']}"))
    deals = page[page.index('id="related-deal-company"') :]
    deals = deals[: deals.index("</section>")]
    assert "Child deal" in deals and "Won" in deals
    back = f"/e/company/{company['id']}"  # saving returns to this page
    assert f'href="/e/deal/new?company={company["id"]}&amp;_return={back}"' in deals
    assert 'id="related-note-company"' in page
    # related records with a date appear in the timeline too
    timeline = page[page.index('id="timeline"') :]
    assert "Kick-off call" in timeline
    # the New button's form arrives prefilled with the link
    form = text(client.get(f"/e/deal/new?company={company['id']}"))
    assert f'name="company" value="{company["id"]}"' in form and 'value="Parent Co"' in form


def test_related_lists_of_unreadable_entities_are_omitted(app):
    admin = principal(app, "admin")
    deal = repo(app).create(admin, "deal", {"name": "Noted", "owner_id": app.config["ids"]["rep"]})
    repo(app).create(admin, "note", {"subject": "A note", "deal": deal["id"]})
    page = text(client_for(app, "rep").get(f"/e/deal/{deal['id']}"))
    assert 'id="related-note-deal"' in page and "A note" in page
    page = text(client_for(app, "viewer").get(f"/e/deal/{deal['id']}"))  # may not read notes
    assert "Noted" in page
    assert 'id="related-note-deal"' not in page and "A note" not in page
    assert f"/e/deal/{deal['id']}/edit" not in page and "/archive" not in page


def test_record_page_shows_sections_badges_and_hides_invisible_fields(app):
    deal = new_deal(app, name="Open deal", status="open", tags=["hot", "upsell"], priority=True)
    client = client_for(app)
    page = text(client.get(f"/e/deal/{deal['id']}"))
    assert "Overview" in page and "Buyer" in page
    assert re.search(r'<span class="badge badge-blue"[^>]*>Open</span>', page)
    assert re.search(r'<span class="badge badge-red"[^>]*>Hot</span>', page)
    assert 'data-field="competitor"' not in page  # visible_if is false
    assert "Loss analysis" not in page  # so is the section's
    assert "D-0001" in page  # the autonumber


def test_names_with_script_are_escaped_everywhere(app):
    admin = principal(app, "admin")
    evil = "<script>alert('x')</script>"
    company = repo(app).create(admin, "company", {"name": evil})
    deal = repo(app).create(admin, "deal", {"name": evil, "company": company["id"], "notes": evil})
    client = client_for(app)
    for path in (
        f"/e/deal/{deal['id']}",
        f"/e/deal/{deal['id']}/edit",
        f"/e/company/{company['id']}",
    ):
        html = text(client.get(path))
        assert "<script>alert" not in html, path
        assert "&lt;script&gt;alert(" in html, path


def test_timeline_partial_and_user_lookup(app):
    deal = new_deal(app)
    client = client_for(app)
    partial = text(client.get(f"/e/deal/{deal['id']}/timeline?limit=5"))
    assert "created this record" in partial and "<html" not in partial
    found = client.get("/users/lookup?q=rita").get_json()
    assert [r["title"] for r in found["results"]] == ["Rita Rep"]


def test_chinese_user_gets_a_chinese_form(app):
    client = client_for(app, "zh")
    html = text(client.get("/e/deal/new"))
    assert "新建交易" in html and "交易名称" in html and "保存并新建" in html
    deal = new_deal(app)
    page = text(client.get(f"/e/deal/{deal['id']}"))
    assert "编辑" in page and "动态" in page and "记录信息" in page


def test_unknown_entity_and_record_are_404(app):
    client = client_for(app)
    assert client.get("/e/nope/new").status_code == 404
    assert client.get("/e/deal/999999").status_code == 404
