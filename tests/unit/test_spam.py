"""The spam detector's features (exact, by hand) and its synthetic data generator."""

from __future__ import annotations

import pytest

from lamina_tools.models.spam import FEATURES, SUSPICIOUS_WORDS, features, generate


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [0.0, 0.0, 0.0, 0.0, 0.0]),
        # 12 characters; letters H e l l o W o r l d: 2 of 10 upper
        ("Hello World!", [12.0, 0.2, 0.0, 1.0, 0.0]),
        # W I N a F R E E p r i z e: 7 of 13 upper; win, free, prize
        ("WIN a FREE prize!!", [18.0, 7 / 13, 0.0, 2.0, 3.0]),
        # no letters at all: the ratio is 0, not a division by zero
        ("12345 !!!", [9.0, 0.0, 0.0, 3.0, 0.0]),
        # Unicode letters count: É m i l e É T É, 4 of 8 upper
        ("Émile ÉTÉ", [9.0, 0.5, 0.0, 0.0, 0.0]),
    ],
)
def test_features_exact(text: str, expected: list[float]) -> None:
    assert features(text) == pytest.approx(expected, abs=1e-12)


def test_links_by_the_documented_pattern() -> None:
    text = "see https://a.example/x and HTTP://B.example, www.c.example/claim or bit.ly/abc"
    length, _, links, exclamations, suspicious = features(text)
    assert length == len(text)
    assert links == 3  # http(s):// and www. in any case; the bare domain bit.ly is not a link
    assert exclamations == 0
    assert suspicious == 1  # "claim", inside a link, still counts


def test_suspicious_words_count_every_occurrence_case_insensitively() -> None:
    # i, won't, win, you, won, free, free: "won't" is one word, not "won"
    assert features("I won't win; you WON. Free, FREE")[4] == 4.0
    assert {"free", "win", "won", "prize"} <= SUSPICIOUS_WORDS


def test_one_value_per_feature() -> None:
    assert FEATURES == (
        "length",
        "uppercase_ratio",
        "link_count",
        "exclamation_count",
        "suspicious_words",
    )
    assert len(features("anything")) == len(FEATURES)


def test_generate_is_deterministic_per_seed() -> None:
    assert generate(300, 7) == generate(300, 7)
    assert generate(300, 7) != generate(300, 8)
    assert generate(0, 1) == []
    with pytest.raises(ValueError, match="n must be"):
        generate(-1, 1)


def test_generate_is_balanced_ish_and_labelled() -> None:
    messages = generate(2000, 11)
    labels = [label for _, label in messages]
    assert set(labels) == {0, 1}
    assert 0.4 < sum(labels) / len(labels) < 0.6
    assert all(text.strip() for text, _ in messages)
    assert len({text for text, _ in messages}) > 0.7 * len(messages)  # not a few repeats


def test_generated_kinds_overlap() -> None:
    """Neither links, '!' nor suspicious words alone separate ham from spam."""
    rows = [(features(text), label) for text, label in generate(2000, 3)]
    ham = [row for row, label in rows if label == 0]
    spam = [row for row, label in rows if label == 1]
    for column in (2, 3, 4):  # link_count, exclamation_count, suspicious_words
        assert any(row[column] > 0 for row in ham), FEATURES[column]
        assert any(row[column] == 0 for row in spam), FEATURES[column]
    # ... yet on average spam has more of each signal.
    for column in (1, 2, 3, 4):
        assert sum(r[column] for r in spam) / len(spam) > sum(r[column] for r in ham) / len(ham)
