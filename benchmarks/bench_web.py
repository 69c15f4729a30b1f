"""Web overhead on the 1,000,000-opportunity SQLite database (built by bench_repository.py).

One page of 50, filter region = east_china, sort -amount, measured in the same run:
  (1) our list API   GET /api/v1/opportunity?region=east_china&sort=-amount&page_size=50
      (Flask test client, bearer API key of an admin)
  (2) our HTML list  GET /e/opportunity?region=east_china&sort=-amount  (logged-in session)
  (3) plain SQL      the same columns / WHERE / ORDER BY / LIMIT through the sqlite3 module
  (4) Datasette      /<db>/ent_opportunity.json?region__exact=east_china&_sort_desc=amount&_size=50
      in-process (datasette.client, ASGI), on the same file; archived_at__isnull=1 is added so
      that its WHERE is the same as ours. Also shown: the same with _nocount/_nofacet/_nosuggest
      (Datasette then skips its count(*) and facet work, which our API does not do).
Prints medians (ms) and ratios: API / SQL (target <= 2x), API / Datasette (target <= 1x),
page / SQL. Checks that Datasette and plain SQL return our first page's ids.

    .venv/bin/python benchmarks/bench_web.py [--rows 1000000] [--db benchmarks/data/bench.db]
        [--repeat 15] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_common import make_app, median_ms, signed_in_client  # noqa: E402
from bench_repository import build_database  # noqa: E402

ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "bench-pass-1"  # as bench_repository.build_database creates it
API_URL = "/api/v1/opportunity?region=east_china&sort=-amount&page_size=50"
# view=all: the default view ("open") also filters on forecast_category, which the API does not
PAGE_URL = "/e/opportunity?view=all&region=east_china&sort=-amount"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", default=str(ROOT / "benchmarks" / "data" / "bench.db"))
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--profile", action="store_true", help="always print the API profile")
    args = parser.parse_args()
    db_path = Path(args.db).resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{db_path}"
    db, _repo, admin_id = build_database(url, args.rows)
    db.engine.dispose()

    app = make_app(url, Path(tempfile.mkdtemp(prefix="trellis-bench-web-")), "bench-web")
    token = app.extensions["trellis"].users.create_api_key(admin_id, name="bench_web")
    api_client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    page_client = signed_in_client(app, ADMIN_EMAIL, ADMIN_PASSWORD)

    # ---- (1) the API and (2) the HTML page --------------------------------------------
    def api():
        response = api_client.get(API_URL, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        return response

    def page():
        response = page_client.get(PAGE_URL)
        assert response.status_code == 200, response.status_code
        return response

    body = json.loads(api().get_data())
    ours = [row["id"] for row in body["data"]]
    assert len(ours) == 50, len(ours)
    html = page().get_data(as_text=True)
    assert f"/e/opportunity/{ours[0]}" in html, "the HTML page does not show the first record"

    # ---- (3) plain SQL on the same file -----------------------------------------------
    table_columns = [
        r[1] for r in sqlite3.connect(db_path).execute("PRAGMA table_info(ent_opportunity)")
    ]
    columns = [c for c in table_columns if c in body["data"][0]]
    sql = (
        f"SELECT {', '.join(columns)} FROM ent_opportunity "
        "WHERE region = ? AND archived_at IS NULL ORDER BY amount DESC, id DESC LIMIT 51"
    )
    conn = sqlite3.connect(db_path, check_same_thread=False)

    def plain():
        return conn.execute(sql, ("east_china",)).fetchall()

    plain_ids = [row[columns.index("id")] for row in plain()[:50]]

    # ---- (4) Datasette, in-process ----------------------------------------------------
    from datasette.app import Datasette

    ds = Datasette(files=[str(db_path)], settings={"sql_time_limit_ms": 60_000})
    loop = asyncio.new_event_loop()
    loop.run_until_complete(ds.invoke_startup())
    name = db_path.stem
    ds_url = (
        f"/{name}/ent_opportunity.json?region__exact=east_china&archived_at__isnull=1"
        "&_sort_desc=amount&_size=50"
    )
    ds_lean_url = ds_url + "&_nocount=1&_nofacet=1&_nosuggest=1"

    def datasette(path=ds_url):
        response = loop.run_until_complete(ds.client.get(path))
        assert response.status_code == 200, response.text[:300]
        return response

    def datasette_lean():
        return datasette(ds_lean_url)

    ds_body = datasette().json()
    id_at = ds_body["columns"].index("id")
    ds_ids = [row[id_at] for row in ds_body["rows"]]
    lean_body = datasette_lean().json()
    lean_ids = [row[lean_body["columns"].index("id")] for row in lean_body["rows"]]
    same = ours == plain_ids == ds_ids == lean_ids
    print(f"same first page (50 ids) from API, plain SQL and Datasette: {same}")
    if not same:
        print(f"  ours {ours[:5]}... sql {plain_ids[:5]}... datasette {ds_ids[:5]}...")

    # ---- measure: warm up each, then medians ------------------------------------------
    for fn in (api, page, plain, datasette, datasette_lean):
        for _ in range(3):
            fn()
    t_api = median_ms(api, args.repeat)
    t_page = median_ms(page, args.repeat)
    t_sql = median_ms(plain, args.repeat)
    t_ds = median_ms(datasette, args.repeat)
    t_ds_lean = median_ms(datasette_lean, args.repeat)

    print(f"rows: {args.rows:,} opportunities (SQLite, {db_path}); median of {args.repeat}")
    print("page of 50, region = east_china, sort -amount:")
    print(f"  (1) API  {API_URL}: {t_api:.2f} ms")
    print(f"  (2) HTML {PAGE_URL}: {t_page:.2f} ms")
    print(f"  (3) plain SQL (sqlite3, {len(columns)} columns, LIMIT 51): {t_sql:.2f} ms")
    print(f"  (4) Datasette {ds_url}: {t_ds:.2f} ms")
    print(
        f"      Datasette without count/facets (&_nocount=1&_nofacet=1&_nosuggest=1): {t_ds_lean:.2f} ms"
    )
    print(f"API / plain SQL   {t_api / t_sql:.2f}x (target <= 2x)")
    print(
        f"API / Datasette   {t_api / t_ds:.2f}x (target <= 1x); "
        f"vs Datasette without count/facets {t_api / t_ds_lean:.2f}x"
    )
    print(f"page / plain SQL  {t_page / t_sql:.2f}x")

    if args.profile or t_api / t_sql > 2 or t_api / t_ds > 1:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(5):
            api()
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print("API profile (5 calls, cumulative):")
        print(out.getvalue())
    loop.close()


if __name__ == "__main__":
    main()
