"""The hiring fixture app (tests/fixtures/hiring_app) loads and holds records across its
links: the ground the link-path, lookup, rollup and linked-scope tests stand on."""

from __future__ import annotations


def test_hiring_app_links_positions_applications_interviews_and_offers(hiring_runtime):
    repo, rosa = hiring_runtime.repo, hiring_runtime.people["recruiter"]
    mia = hiring_runtime.people["manager"]
    position = repo.create(
        rosa,
        "position",
        {
            "title": "Backend engineer",
            "salary_min": 30000,
            "salary_max": 45000,
            "hiring_manager": mia.id,
        },
    )
    application = repo.create(rosa, "application", {"candidate": "Ada", "position": position["id"]})
    interview = repo.create(
        rosa, "interview", {"round": "Onsite", "application": application["id"], "score": 4}
    )
    offer = repo.create(
        rosa, "offer", {"title": "Offer for Ada", "application": application["id"], "salary": 40000}
    )
    assert application["stage"] == "applied"
    assert repo.get(rosa, "interview", interview["id"])["application"] == application["id"]
    assert repo.get(rosa, "offer", offer["id"])["application"] == application["id"]
    assert repo.get(rosa, "position", position["id"])["hiring_manager"] == mia.id
