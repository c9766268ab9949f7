"""``listing-ranker``: the seed's SQL ranking model (a baseline before any learned ranker).

Given a region, rank its listings by their average review score. The data is generated
with a fixed seed (``generate``): listings (id, region, rooms, created date) in
``listings.parquet`` and their reviews (listing id, score 1..5, created date) in
``reviews.csv``, so the model reads both formats DuckDB takes. The query is ``query.sql``;
the manifest pins both data files by sha256 like any model file.

The build checks itself before it writes the manifest: every region's ranking by the
loaded model (DuckDB) must equal ``rank_in_python``, an independent computation over the
generated rows, row for row; the result is the manifest's evaluation. docs/sql-models.md
describes the model kind; MODEL_CARD.md this model.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lamina.models.manifest import (
    EvaluationReport,
    Manifest,
    SourceInfo,
    SqlColumn,
    SqlParameter,
    SqlSpec,
    SqlTable,
    file_entry,
    write_manifest,
)

log = logging.getLogger(__name__)

MODEL_NAME = "listing-ranker"
SEED = 20260101
LISTINGS = 3000
REGIONS = ("seoul", "busan", "incheon", "daegu", "daejeon", "gwangju", "jeju")
REGION_WEIGHTS = (0.34, 0.16, 0.12, 0.1, 0.09, 0.09, 0.1)
FIRST_DAY = dt.date(2019, 1, 1)
LAST_DAY = dt.date(2025, 12, 31)
DEFAULTS = {"min_reviews": 5, "min_rooms": 1, "top_k": 10}

QUERY = """\
-- listing-ranker: a region's listings by their average review score, best first.
-- Parameters are bound by DuckDB ($name), never formatted into this text.
WITH scored AS (
    SELECT
        l.listing_id,
        l.rooms,
        l.created,
        avg(r.score) AS avg_score,
        count(*) AS reviews
    FROM listings AS l
    JOIN reviews AS r ON r.listing_id = l.listing_id
    WHERE l.region = $region
      AND l.rooms >= $min_rooms
    GROUP BY l.listing_id, l.rooms, l.created
    HAVING count(*) >= $min_reviews
)
SELECT
    row_number() OVER (ORDER BY avg_score DESC, reviews DESC, listing_id) AS rank,
    listing_id,
    avg_score,
    reviews,
    rooms,
    created
FROM scored
ORDER BY rank
LIMIT $top_k
"""

SPEC = SqlSpec(
    parameters=[
        SqlParameter(
            name="region",
            datatype="BYTES",
            description="The region whose listings are ranked.",
            allowed=list(REGIONS),
        ),
        SqlParameter(
            name="min_reviews",
            datatype="INT64",
            description="Listings with fewer reviews are left out (an average of one or two "
            "reviews says little).",
            default=DEFAULTS["min_reviews"],
            minimum=1,
            maximum=1000,
        ),
        SqlParameter(
            name="min_rooms",
            datatype="INT64",
            description="Only listings with at least this many rooms.",
            default=DEFAULTS["min_rooms"],
            minimum=1,
            maximum=20,
        ),
        SqlParameter(
            name="top_k",
            datatype="INT64",
            description="How many listings to return.",
            default=DEFAULTS["top_k"],
            minimum=1,
            maximum=100,
        ),
    ],
    columns=[
        SqlColumn(name="rank", datatype="INT64", description="1 is the best."),
        SqlColumn(name="listing_id", datatype="BYTES", description="The listing."),
        SqlColumn(name="avg_score", datatype="FP64", description="Mean review score, 1..5."),
        SqlColumn(name="reviews", datatype="INT64", description="Reviews averaged."),
        SqlColumn(name="rooms", datatype="INT64", description="Rooms of the listing."),
        SqlColumn(name="created", datatype="BYTES", description="Listed on (ISO date)."),
    ],
    tables=[
        SqlTable(name="listings", format="parquet", file="listings.parquet"),
        SqlTable(name="reviews", format="csv", file="reviews.csv"),
    ],
    max_rows=100,
    timeout_ms=2000,
)


@dataclass(frozen=True)
class Listing:
    listing_id: str
    region: str
    rooms: int
    created: dt.date


@dataclass(frozen=True)
class Review:
    listing_id: str
    score: int
    created: dt.date


def generate(seed: int = SEED, listings: int = LISTINGS) -> tuple[list[Listing], list[Review]]:
    """Listings and their reviews, the same for the same seed (Python's ``random``, no
    numpy). Each listing has a hidden quality; its scores scatter around it, and some
    listings have no or few reviews (the query's ``min_reviews`` matters)."""
    rng = random.Random(seed)
    span = (LAST_DAY - FIRST_DAY).days
    places: list[Listing] = []
    reviews: list[Review] = []
    for n in range(1, listings + 1):
        region = rng.choices(REGIONS, weights=REGION_WEIGHTS)[0]
        created = FIRST_DAY + dt.timedelta(days=rng.randrange(span - 30))
        listing = Listing(f"L{n:05d}", region, rng.choice((1, 1, 2, 2, 2, 3, 3, 4, 5, 6)), created)
        places.append(listing)
        quality = rng.betavariate(5, 3) * 3.2 + 1.3  # 1.3..4.5, most listings fair to good
        for _ in range(min(int(rng.expovariate(1 / 9)), 60)):
            score = min(5, max(1, round(rng.gauss(quality, 0.9))))
            day = created + dt.timedelta(days=rng.randrange(1, (LAST_DAY - created).days + 1))
            reviews.append(Review(listing.listing_id, score, day))
    return places, reviews


def rank_in_python(
    listings: Sequence[Listing],
    reviews: Sequence[Review],
    region: str,
    *,
    min_reviews: int = DEFAULTS["min_reviews"],
    min_rooms: int = DEFAULTS["min_rooms"],
    top_k: int = DEFAULTS["top_k"],
) -> list[tuple[int, str, float, int, int, str]]:
    """The ranking the query must give, computed without SQL: (rank, listing_id,
    avg_score, reviews, rooms, created) rows."""
    scores: dict[str, list[int]] = {}
    for review in reviews:
        scores.setdefault(review.listing_id, []).append(review.score)
    scored = [
        (sum(scores[p.listing_id]) / len(scores[p.listing_id]), len(scores[p.listing_id]), p)
        for p in listings
        if p.region == region
        and p.rooms >= min_rooms
        and len(scores.get(p.listing_id, ())) >= min_reviews
    ]
    scored.sort(key=lambda s: (-s[0], -s[1], s[2].listing_id))
    return [
        (rank, p.listing_id, mean, count, p.rooms, p.created.isoformat())
        for rank, (mean, count, p) in enumerate(scored[:top_k], start=1)
    ]


def _write_data(staging: Path, listings: Sequence[Listing], reviews: Sequence[Review]) -> None:
    import duckdb

    with (staging / "reviews.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["listing_id", "score", "created"])
        for r in reviews:
            writer.writerow([r.listing_id, r.score, r.created.isoformat()])
    db = duckdb.connect(":memory:")
    try:
        db.execute(
            "CREATE TABLE listings (listing_id VARCHAR, region VARCHAR, rooms INTEGER, "
            "created DATE)"
        )
        db.executemany(
            "INSERT INTO listings VALUES (?, ?, ?, ?)",
            [(p.listing_id, p.region, p.rooms, p.created) for p in listings],
        )
        target = str(staging / "listings.parquet").replace("'", "''")
        db.execute(
            f"COPY (SELECT * FROM listings ORDER BY listing_id) TO '{target}' (FORMAT parquet)"
        )
    finally:
        db.close()


def _model_card(listings: int, reviews: int, checked: int) -> str:
    regions = ", ".join(REGIONS)
    return f"""# listing-ranker

A SQL ranking model: given a region, its listings ranked by their average review score,
best first (ties: more reviews first, then the listing id). A baseline before any learned
ranker, versioned, published and served like lamina's ONNX models (docs/sql-models.md).

- **Query**: `query.sql`, run by DuckDB over the pinned data below; parameters `region`
  ({regions}), `min_reviews` (default {DEFAULTS["min_reviews"]}), `min_rooms` (default
  {DEFAULTS["min_rooms"]}), `top_k` (default {DEFAULTS["top_k"]}, at most 100).
- **Data**: generated by `lamina_tools.models.listings.generate` with seed {SEED}:
  {listings:,} listings (`listings.parquet`: listing_id, region, rooms, created) and
  {reviews:,} reviews (`reviews.csv`: listing_id, score 1..5, created). Synthetic: no
  person, place or business is described. Each file's sha256 is in manifest.json; a changed
  file is refused at load.
- **Checked at build**: every region's ranking ({checked} rankings, default and strict
  parameters) equals an independent computation in Python, row for row.
- **Intended use**: a demo of SQL models and a baseline to compare learned rankers with.
  An average of few reviews is noisy: raise `min_reviews` for a steadier ranking.
- **License**: the query and the generated data, Apache-2.0 (lamina's).
"""


def build(output: Path, *, version: str = "1", embedding: Path | None = None) -> Path:
    """Generate the data, write the query, check the model against Python, write the
    directory at ``output`` (under a staging name, ``manifest.json`` last, then renamed)."""
    del embedding
    import duckdb

    from lamina.inference.sql_model import SqlModel

    listings, reviews = generate()
    staging = output.with_name(f".{output.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _write_data(staging, listings, reviews)
    (staging / "query.sql").write_text(QUERY, encoding="utf-8")
    cases = [{"region": region, **DEFAULTS} for region in REGIONS]
    cases += [
        {"region": region, "min_reviews": 10, "min_rooms": 3, "top_k": 5} for region in REGIONS
    ]
    (staging / "MODEL_CARD.md").write_text(
        _model_card(len(listings), len(reviews), len(cases)), encoding="utf-8"
    )
    for path in staging.iterdir():
        path.chmod(0o644)  # Lambda runs the function as a non-root user
    files = [file_entry(staging, p.name) for p in sorted(staging.iterdir())]

    def manifest(evaluation: EvaluationReport | None) -> Manifest:
        return Manifest(
            name=MODEL_NAME,
            version=version,
            task="sql",
            variant="sql",
            quantization="none",
            model_file="query.sql",
            card_file="MODEL_CARD.md",
            sql=SPEC,
            source=SourceInfo(
                model_id=f"lamina/{MODEL_NAME} (generated data, seed {SEED})",
                package="duckdb",
                package_version=duckdb.__version__,
                license="Apache-2.0",
            ),
            files=files,
            evaluation=evaluation,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    write_manifest(staging, manifest(None))  # to load it for the check below
    model = SqlModel.load(staging)
    try:
        for case in cases:
            got = model.predict(case).rows
            expected = rank_in_python(listings, reviews, **case)  # type: ignore[arg-type]
            if not _same(got, expected):
                raise RuntimeError(f"listing-ranker disagrees with Python for {case}")
    finally:
        model.close()
    write_manifest(
        staging,
        manifest(
            EvaluationReport(
                dataset=f"every region, default and strict parameters ({len(cases)} rankings)",
                size=len(cases),
                metrics={"rankings_equal_to_python": 1.0},
            )
        ),
    )
    shutil.rmtree(output, ignore_errors=True)
    staging.rename(output)
    log.info("built %s: %d listings, %d reviews", output, len(listings), len(reviews))
    return output


def _same(got: Sequence[tuple[object, ...]], expected: Sequence[tuple[object, ...]]) -> bool:
    """Row for row; averages to 1e-12 (DuckDB and Python sum in different orders)."""
    if len(got) != len(expected):
        return False
    for a, b in zip(got, expected, strict=True):
        if (a[0], a[1], a[3], a[4], a[5]) != (b[0], b[1], b[3], b[4], b[5]):
            return False
        if abs(float(a[2]) - float(b[2])) > 1e-12:  # type: ignore[arg-type]
            return False
    return True
