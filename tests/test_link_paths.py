"""Link paths (``application.position.department``) in filters and sorts: one and two
hops, semi-joins inside the reader's scope on every hop, refused like an unknown field
when a hop is not readable; keyset paging on a path sort. The hiring fixture app."""

from __future__ import annotations

import pytest

from runtime.errors import ValidationError


def _world(rt):
    repo, rosa = rt.repo, rt.people["recruiter"]
    mia = rt.people["manager"]
    eng = repo.create(rosa, "position", {"title": "Backend", "department": "engineering",
                                          "salary_min": 30000})  # fmt: skip
    sales = repo.create(rosa, "position", {"title": "AE", "department": "sales"})
    ada = repo.create(rosa, "application", {"candidate": "Ada", "position": eng["id"]})
    bob = repo.create(rosa, "application", {"candidate": "Bob", "position": sales["id"]})
    cy = repo.create(rosa, "application", {"candidate": "Cy", "position": eng["id"],
                                            "owner_id": mia.id})  # fmt: skip
    offers = {}
    for app, title in ((ada, "A"), (bob, "B"), (cy, "C")):
        offers[title] = repo.create(rosa, "offer", {"title": title, "application": app["id"],
                                                     "owner_id": mia.id})  # fmt: skip
    return offers


def titles(page):
    return [r["title"] for r in page.rows]


def test_offers_filter_and_sort_through_two_hops(hiring_runtime):
    _world(hiring_runtime)
    repo, rosa = hiring_runtime.repo, hiring_runtime.people["recruiter"]
    eng = [("application.position.department", "eq", "engineering")]
    assert titles(repo.list(rosa, "offer", filters=eng, sort=["title"])) == ["A", "C"]
    other = [("application.position.department", "ne", "engineering")]
    assert titles(repo.list(rosa, "offer", filters=other)) == ["B"]
    one_hop = [("application.candidate", "in", ["Bob", "Cy"])]
    assert titles(repo.list(rosa, "offer", filters=one_hop, sort=["title"])) == ["B", "C"]
    ordered = repo.list(rosa, "offer", sort=["-application.candidate"])
    assert titles(ordered) == ["C", "B", "A"]
    assert repo.count(rosa, "offer", filters=eng) == 2
    no_band = [("application.position.salary_min", "isnull", True)]
    assert titles(repo.list(rosa, "offer", filters=no_band)) == ["B"]


def test_keyset_paging_follows_a_path_sort(hiring_runtime):
    _world(hiring_runtime)
    repo, rosa = hiring_runtime.repo, hiring_runtime.people["recruiter"]
    sort = ["application.position.department", "title"]
    first = repo.list(rosa, "offer", sort=sort, page_size=2)
    assert titles(first) == ["A", "C"] and first.has_next
    second = repo.list(rosa, "offer", sort=sort, page_size=2, after=first.next_key)
    assert titles(second) == ["B"] and not second.has_next
    back = repo.list(rosa, "offer", sort=sort, page_size=2, before=second.prev_key)
    assert titles(back) == ["A", "C"]


def test_linked_records_outside_the_readers_scope_never_match(hiring_runtime):
    _world(hiring_runtime)
    repo, mia = hiring_runtime.repo, hiring_runtime.people["manager"]
    # Mia reads her own offers (all three) but only her own application (Cy's).
    assert len(repo.list(mia, "offer").rows) == 3
    by_candidate = [("application.candidate", "in", ["Ada", "Bob", "Cy"])]
    assert titles(repo.list(mia, "offer", filters=by_candidate)) == ["C"]
    empty = [("application.candidate", "isnull", True)]
    assert sorted(titles(repo.list(mia, "offer", filters=empty))) == ["A", "B"]
    ranked = repo.list(mia, "offer", sort=["application.candidate", "title"])
    assert titles(ranked) == ["C", "A", "B"]  # the unreadable ones sort as empty


def test_a_hidden_or_unknown_hop_is_refused_as_an_unknown_field(hiring_runtime):
    _world(hiring_runtime)
    repo = hiring_runtime.repo
    mia, rosa = hiring_runtime.people["manager"], hiring_runtime.people["recruiter"]
    cases = [
        (mia, "offer", [("salary", "gte", 1)], ()),  # hidden on the entity itself
        (rosa, "offer", [("application.nothing", "eq", "x")], ()),
        (rosa, "offer", [("title.candidate", "eq", "x")], ()),  # not a link
        (rosa, "offer", [("application.position.hiring_manager.team.x", "eq", 1)], ()),
        (rosa, "offer", (), ["application.nope"]),
    ]
    for user, entity, filters, sort in cases:
        with pytest.raises(ValidationError) as refused:
            repo.list(user, entity, filters=filters, sort=sort)
        assert "unknown_field" in str(refused.value.errors)


def test_an_interviewer_cannot_learn_a_hidden_band_through_a_path(hiring_runtime):
    _world(hiring_runtime)
    repo, ivan = hiring_runtime.repo, hiring_runtime.people["interviewer"]
    # Ivan reads applications and positions, but not the salary band.
    assert len(repo.list(ivan, "application").rows) == 3
    dept = [("position.department", "eq", "engineering")]
    assert sorted(r["candidate"] for r in repo.list(ivan, "application", filters=dept).rows) == [
        "Ada",
        "Cy",
    ]
    for filters, sort in (
        ([("position.salary_min", "gte", 0)], ()),
        ([("position.salary_min", "isnull", True)], ()),
        ((), ["position.salary_min"]),
    ):
        with pytest.raises(ValidationError):
            repo.list(ivan, "application", filters=filters, sort=sort)


def test_a_user_hop_reaches_the_owners_name_and_team(hiring_runtime):
    _world(hiring_runtime)
    repo, rosa = hiring_runtime.repo, hiring_runtime.people["recruiter"]
    mine = [("application.owner.name", "eq", "Mia Manager")]
    assert titles(repo.list(rosa, "offer", filters=mine)) == ["C"]
    no_team = [("owner.team", "isnull", True)]  # Mia belongs to no team
    assert sorted(titles(repo.list(rosa, "offer", filters=no_team))) == ["A", "B", "C"]
    assert repo.list(rosa, "offer", filters=[("owner.team", "eq", 1)]).rows == []


def test_a_list_returns_path_fields_formatted_as_their_field(hiring_runtime):
    _world(hiring_runtime)
    repo = hiring_runtime.repo
    rosa, ivan = hiring_runtime.people["recruiter"], hiring_runtime.people["interviewer"]
    page = repo.list(
        rosa, "offer", sort=["title"], fields=["title", "application.position.department"]
    )
    assert [(r["title"], r["application.position.department"]) for r in page.rows] == [
        ("A", "engineering"),
        ("B", "sales"),
        ("C", "engineering"),
    ]
    with pytest.raises(ValidationError):
        repo.list(ivan, "application", fields=["candidate", "position.salary_min"])


def test_aggregates_group_by_a_path_and_refuse_a_hidden_one(hiring_runtime):
    _world(hiring_runtime)
    repo = hiring_runtime.repo
    rosa, ivan = hiring_runtime.people["recruiter"], hiring_runtime.people["interviewer"]
    result = repo.aggregate(rosa, "offer", group_by=["application.position.department"])
    counts = {r["application.position.department"]: r["count"] for r in result.rows}
    assert counts == {"engineering": 2, "sales": 1}
    with pytest.raises(ValidationError):
        repo.aggregate(ivan, "application", group_by=["position.salary_min"])
    with pytest.raises(ValidationError):
        repo.aggregate(ivan, "application", group_by=["salary_min"])  # the lookup


def test_a_path_sort_joined_with_a_filter_on_the_same_path_pages_inside_the_scope(hiring_runtime):
    _world(hiring_runtime)
    repo, mia = hiring_runtime.repo, hiring_runtime.people["manager"]
    sort = ["application.position.department", "title"]
    seen, after = [], None
    while True:  # one row a page: every cursor crosses the NULLs of the out-of-scope hops
        page = repo.list(mia, "offer", sort=sort, page_size=1, after=after)
        seen += titles(page)
        if not page.has_next:
            break
        after = page.next_key
    assert seen == ["C", "A", "B"]
    eng = [("application.position.department", "eq", "engineering")]
    ranked = repo.list(mia, "offer", filters=eng, sort=["-application.position.department"])
    assert titles(ranked) == ["C"]  # Ada's application is out of Mia's scope: no match
    rosa = hiring_runtime.people["recruiter"]
    both = repo.list(rosa, "offer", filters=eng, sort=["-application.candidate"], page_size=1)
    assert titles(both) == ["C"] and both.has_next
    rest = repo.list(rosa, "offer", filters=eng, sort=["-application.candidate"],
                     page_size=1, after=both.next_key)  # fmt: skip
    assert titles(rest) == ["A"] and not rest.has_next
