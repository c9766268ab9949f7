"""Per-text input statistics, the sampler, the A/B event log and assignment (no model)."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lamina.api.variants import assign, bucket
from lamina.monitoring.events import EventLog
from lamina.monitoring.inputs import dominant_script, script_counts, text_stats
from lamina.monitoring.samples import (
    MAX_RECORDS_PER_REQUEST,
    Sampler,
    parse_jsonl,
    read_samples,
    text_records,
)
from lamina.storage import LocalObjects


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("김치찌개 two", {"hangul": 4, "latin": 3}),
        ("ᄀ한 ㄱ", {"hangul": 3}),  # jamo, a syllable, a compatibility jamo
        ("東京タワー", {"han": 2, "other": 3}),  # kana are "other"
        ("Привет, мир!", {"cyrillic": 9}),
        ("Ελληνικά", {"other": 8}),
        ("Ça va? Straße", {"latin": 10}),
        ("123 !? 🔋 \t", {}),  # no letters
        ("", {}),
    ],
)
def test_script_counts_letters_by_block(text: str, expected: dict[str, int]) -> None:
    counts = script_counts(text)
    assert counts == {name: expected.get(name, 0) for name in counts}


def test_dominant_script() -> None:
    assert dominant_script(script_counts("김치 and kimchi stew")) == "latin"
    assert dominant_script(script_counts("김치찌개 만드는 법 recipe")) == "hangul"
    assert dominant_script(script_counts("42")) == "none"


def test_only_the_opening_of_a_long_text_is_read() -> None:
    text = "a" * 100_000 + "가" * 100_000
    assert script_counts(text) == {"hangul": 0, "latin": 512, "han": 0, "cyrillic": 0, "other": 0}


def test_text_stats_records_what_the_tokenizer_made() -> None:
    (stats,) = text_stats(["김치 stew"], [7], [False], [2])
    assert stats.record() == {
        "chars": 7,
        "tokens": 7,
        "truncated": False,
        "unk": 2,
        "scripts": {"hangul": 2, "latin": 4, "han": 0, "cyrillic": 0, "other": 0},
    }


def records(n: int) -> list[dict[str, object]]:
    stats = text_stats(["text"] * n, [3] * n, [False] * n, None)
    return text_records("m", "1", "control", stats, vectors=[[0.123456789, math.nan]] * n)


def test_the_sampler_draws_at_its_rate() -> None:
    sampler = Sampler("/nowhere", 0.25, False, rng=random.Random(7))
    draws = sum(sampler.draw() for _ in range(20_000))
    assert 0.23 < draws / 20_000 < 0.27
    assert not any(Sampler("/nowhere", 0.0, False).draw() for _ in range(1000))
    assert sampler._located is None  # no store opened before a write


def test_a_write_keeps_at_most_16_records_and_no_text_unless_asked(tmp_path: Path) -> None:
    moment = datetime(2026, 12, 5, 21, 30, tzinfo=UTC)
    texts = [f"t{n}" for n in range(40)]
    off = Sampler(str(tmp_path), 1.0, False).write("m", records(40), texts, moment)
    assert off is not None
    assert off.startswith("samples/m/2026/12/05/21/20261205T213000")
    written, bad = parse_jsonl((tmp_path / off).read_bytes())
    assert bad == 0
    assert len(written) == MAX_RECORDS_PER_REQUEST
    assert all("text" not in r for r in written)
    assert written[0]["time"] == "2026-12-05T21:30:00.000Z"
    assert written[0]["vector"] == [0.12346, None]  # rounded; NaN written as null
    on = Sampler(str(tmp_path), 1.0, True).write("m", records(2), texts, moment)
    assert on is not None
    assert [r["text"] for r in parse_jsonl((tmp_path / on).read_bytes())[0]] == ["t0", "t1"]


def test_read_samples_takes_the_window_and_counts_what_it_cannot_read(tmp_path: Path) -> None:
    sampler = Sampler(str(tmp_path / "pfx"), 1.0, False)
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    for hours in (0, 3, 30):  # the last one is outside a 24 h window
        sampler.write("m", records(5), moment=now - timedelta(hours=hours, minutes=-1))
    sampler.write("other-model", records(5), moment=now)
    bad = tmp_path / "pfx/samples/m/2026/12/05/12/broken.jsonl"
    bad.write_text('not json\n{"time": "yesterday"}\n[1, 2]\n', encoding="utf-8")
    store = LocalObjects(tmp_path)
    found, malformed = read_samples(
        store, "pfx", "m", now - timedelta(hours=24), now + timedelta(hours=1)
    )
    assert len(found) == 10
    assert malformed == 3
    assert {r["model"] for r in found} == {"m"}


def test_the_event_log_appends_whole_lines(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "ab")
    moment = datetime(2026, 12, 5, 23, 59, 59, tzinfo=UTC)
    log.request(
        request_id="r1",
        model="m",
        variant="control",
        version="1",
        status=200,
        ms=1.5,
        moment=moment,
    )
    log.outcome(
        request_id=None, model="m", variant="candidate", outcome=True, reward=None, moment=moment
    )
    with pytest.raises(ValueError, match="finite"):
        log.outcome(request_id=None, model="m", variant="control", outcome=None, reward=math.inf)
    (line,) = (tmp_path / "ab/requests-2026-12-05.jsonl").read_text().splitlines()
    assert json.loads(line)["ms"] == 1.5
    assert json.loads((tmp_path / "ab/outcomes-2026-12-05.jsonl").read_text())["outcome"] is True


def test_assignment_follows_the_weight_and_only_grows_the_candidate() -> None:
    keys = [f"user-{n}" for n in range(20_000)]
    at_10 = {k for k in keys if assign("m", k, 0.1) == "candidate"}
    at_30 = {k for k in keys if assign("m", k, 0.3) == "candidate"}
    assert 0.09 < len(at_10) / len(keys) < 0.11
    assert 0.29 < len(at_30) / len(keys) < 0.31
    assert at_10 <= at_30  # raising the weight never sends a candidate back
    assert all(0 <= bucket("m", k) < 1 for k in keys[:100])
    # per model: another model's draw is independent
    other = {k for k in keys if assign("n", k, 0.1) == "candidate"}
    assert 0.05 < len(at_10 & other) / len(at_10) < 0.15


def test_samples_round_trip_through_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    """``s3://bucket/prefix``: the sampler writes under prefix/samples/, the check's reader
    reads them back (moto)."""
    import boto3  # type: ignore[import-untyped]
    from moto import mock_aws

    from lamina.monitoring.samples import locate
    from tests.batch_helpers import fake_aws_env

    fake_aws_env(monkeypatch)
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="mon")
        moment = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
        key = Sampler("s3://mon/lamina", 1.0, False).write("m", records(3), moment=moment)
        assert key is not None
        assert key.startswith("lamina/samples/m/2026/12/05/08/")
        store, prefix = locate("s3://mon/lamina")
        found, bad = read_samples(store, prefix, "m", moment, moment + timedelta(minutes=1))
    assert (len(found), bad) == (3, 0)
