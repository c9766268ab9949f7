"""Retrieval evaluation sets: a Korean recipe search and a mixed-language set.

``python -m infra.bench.retrieval_sets`` writes ``infra/bench/data/retrieval-korean.json`` and
``infra/bench/data/retrieval-mixed.json`` from the content below (hand-written for lamina, no
downloaded or copied text). The output is deterministic: no randomness, documents and queries
in the order written here, ``json.dumps`` with fixed settings; a re-run is byte-identical and
``tests/unit/test_retrieval_sets.py`` checks that the committed files are what this writes.

``korean``: what the recipe search stores (a Korean recipe name and a one- or two-sentence
description, as a recipe site lists them) and what its users type, each query with a ``kind``
(``QUERY_KINDS``): "name", the dish named in the user's words, with spacing and spelling
variants, "만드는 법" / "황금레시피" suffixes, regional or colloquial names ("김치 찌개
만드는법", "육계장 끓이는법", "닭도리탕", "녹두전"), and the English queries that give the dish's
usual English name; "ingredients", main ingredients with the cooking method or taste, without
the dish's name ("돼지 뼈 국물에 수육 올리고 새우젓 넣어 먹는 밥"); "description", situational
or riddle-like paraphrases that need world knowledge ("신 김치 남았을 때 고기 넣고 얼큰하게
끓이는 국물 요리"). A few queries are in English. Near neighbours on purpose: 김치찌개 /
참치김치찌개 / 고추장찌개 / 부대찌개, 갈비탕 / 설렁탕 / 곰탕 / 소고기뭇국, 비빔밥 / 돌솥비빔밥 /
육회비빔밥 / 회덮밥, 떡볶이 / 라볶이 / 궁중떡볶이, 물냉면 / 비빔냉면 / 밀면 / 막국수, 김치전 /
김치만두 / 김치볶음밥, the pancakes, the banchan. One relevant document per query.

``mixed``: short texts on food, travel, tech support and health in eleven languages, with
queries in the same language as their document and in another (an English query for a
Korean text, a Japanese query for a Portuguese one); distractors share a subject across
languages (a phone battery that drains vs a laptop battery stuck at 80 %, a lost suitcase vs
a delayed flight). One relevant document per query.

Format of a set: ``{"name", "description", "documents": [{"id", "text", "lang"}],
"queries": [{"id", "text", "lang", "kind", "relevant": [document ids]}]}``; ``kind`` is on every
query of a set or on none (the mixed set has none: its same- vs cross-language split comes from
the languages); languages are ISO 639-1 codes (``LANGUAGES``). ``infra.bench.retrieval`` reads
and scores them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DATA_DIR",
    "LANGUAGES",
    "QUERY_KINDS",
    "SET_NAMES",
    "build_sets",
    "check_set",
    "main",
    "set_path",
    "write_sets",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
SET_NAMES = ("korean", "mixed")
LANGUAGES = {
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "pt": "Portuguese",
    "ru": "Russian",
    "vi": "Vietnamese",
    "zh": "Chinese",
}


QUERY_KINDS = ("name", "ingredients", "description")


@dataclass(frozen=True)
class Typed:
    """A recipe query of a given kind (``QUERY_KINDS``); a plain string is a "description"."""

    kind: str
    text: str


def named(text: str) -> Typed:
    """A query that names the dish as users type it: spacing and spelling variants
    ("김치 찌개", "육계장"), "만드는 법" / "황금레시피" suffixes, regional or colloquial names
    ("닭도리탕", "녹두전")."""
    return Typed("name", text)


def made_of(text: str) -> Typed:
    """A query by main ingredients plus cooking method or taste, without the dish's name
    ("돼지 뼈 국물에 수육 올린 밥")."""
    return Typed("ingredients", text)


@dataclass(frozen=True)
class Entry:
    """One document and the queries written for it (each query: (language, text, kind), kind
    None where the set has no query kinds)."""

    id: str
    lang: str
    text: str
    queries: tuple[tuple[str, str, str | None], ...]


def _typed(lang: str, query: str | Typed) -> tuple[str, str, str | None]:
    if isinstance(query, Typed):
        return (lang, query.text, query.kind)
    return (lang, query, "description")


def recipe(doc_id: str, text: str, *queries: str | Typed, en: str | Typed | None = None) -> Entry:
    """A Korean recipe document; its Korean queries, and an optional English one. Queries are
    descriptions unless wrapped in ``named`` or ``made_of``."""
    written = tuple(_typed("ko", query) for query in queries)
    return Entry(doc_id, "ko", text, written + ((_typed("en", en),) if en else ()))


def doc(doc_id: str, lang: str, text: str, *queries: tuple[str, str]) -> Entry:
    return Entry(doc_id, lang, text, tuple((language, query, None) for language, query in queries))


# --- the Korean recipe set ---------------------------------------------------------------------

KOREAN: tuple[Entry, ...] = (
    # 찌개
    recipe(
        "kimchi-jjigae",
        "김치찌개 — 잘 익은 김치와 돼지고기 앞다리살을 볶다가 쌀뜨물을 붓고 두부와 대파를 넣어 "
        "끓인 얼큰한 찌개",
        "신 김치 남았을 때 고기 넣고 얼큰하게 끓이는 국물 요리",
        made_of("매콤한 돼지고기 김치 국물 요리"),
        named("김치 찌개 만드는법"),
        en=named("spicy pork kimchi stew"),
    ),
    recipe(
        "chamchi-kimchi-jjigae",
        "참치김치찌개 — 돼지고기 대신 참치 통조림을 넣어 자취생도 십 분 만에 끓이는 김치찌개",
        "고기 없을 때 캔 생선 하나로 뚝딱 만드는 시큼한 국물",
        named("참치 김치찌개 자취 레시피"),
    ),
    recipe(
        "doenjang-jjigae",
        "된장찌개 — 멸치 육수에 된장을 풀고 애호박, 감자, 두부, 청양고추를 넣어 구수하게 끓인 찌개",
        "콩으로 담근 장을 풀어 호박이랑 끓이는 엄마 손맛 국물",
        named("된장찌개 맛있게 끓이는 비법"),
        made_of("애호박 두부 감자 넣고 된장 푼 찌개"),
    ),
    recipe(
        "sundubu-jjigae",
        "순두부찌개 — 고추기름에 다진 돼지고기와 바지락을 볶고 몽글몽글한 순두부와 날달걀을 넣어 "
        "뚝배기에 끓인 찌개",
        "아주 부드러운 두부에 조개 넣고 계란 하나 톡 깨 넣는 빨간 국물",
        named("순두부 찌개 황금레시피"),
        en=named("soft tofu stew with clams and egg"),
    ),
    recipe(
        "budae-jjigae",
        "부대찌개 — 햄, 소시지, 베이크드빈, 김치에 라면 사리를 넣고 사골 육수로 끓여 여럿이 나눠 "
        "먹는 찌개",
        "스팸이랑 비엔나 잔뜩 넣고 면까지 넣어 먹는 의정부식 냄비 요리",
        "전쟁 뒤 미군 통조림 고기로 시작된 냄비 요리",
        made_of("햄 소시지 라면사리 넣고 끓인 찌개"),
    ),
    recipe(
        "cheonggukjang-jjigae",
        "청국장찌개 — 짧게 발효시킨 청국장에 신김치와 두부, 돼지고기를 넣어 끓인 냄새 진하고 "
        "구수한 찌개",
        "냄새는 고약해도 몸에 좋은 발효콩 국물 요리",
        named("청국장 맛있게 끓이는 법"),
    ),
    recipe(
        "gochujang-jjigae",
        "고추장찌개 — 고추장을 풀어 감자, 애호박, 양파와 돼지고기를 넣고 칼칼하게 끓인 찌개",
        "김치 없이 빨간 장만 풀어서 감자랑 고기 넣고 끓이는 국물",
        named("고추장 찌개 레시피"),
    ),
    recipe(
        "dongtae-jjigae",
        "동태찌개 — 얼린 명태를 토막 내어 무, 두부, 쑥갓과 함께 고춧가루 양념으로 시원하게 끓인 "
        "생선 찌개",
        "냉동 흰살생선 토막에 무 썰어 넣고 끓이는 칼칼한 국물",
        named("동태탕 시원하게 끓이는 법"),
    ),
    recipe(
        "biji-jjigae",
        "비지찌개 — 콩을 갈고 남은 비지에 돼지고기와 김치를 넣어 뭉근하게 끓인 고소한 찌개",
        "두부 만들고 남은 콩 찌꺼기로 끓이는 걸쭉한 요리",
        named("콩비지찌개 만드는 법"),
    ),
    recipe(
        "kkotgetang",
        "꽃게탕 — 살이 오른 꽃게에 무, 애호박, 된장과 고춧가루를 넣고 끓인 시원하고 칼칼한 탕",
        "가을 제철 게 넣고 끓이는 얼큰한 해물 국물",
        named("꽃게탕 황금레시피"),
        en=named("spicy blue crab soup"),
    ),
    # 탕, 국, 국밥
    recipe(
        "galbitang",
        "갈비탕 — 소갈비를 오래 삶아 기름을 걷어 내고 무와 당면을 넣은 맑고 담백한 탕",
        "뼈 붙은 소고기 뜯어 먹는 맑은 국, 예식장에서 자주 나오는",
        named("갈비탕 국물 맑게 내는 방법"),
        made_of("소갈비 무 당면 넣은 맑은 국"),
    ),
    recipe(
        "seolleongtang",
        "설렁탕 — 소 사골과 양지를 오래 고아 뽀얗게 우린 국물에 소면과 편육을 얹고 소금과 파로 "
        "간해 먹는 탕",
        "우유처럼 하얀 소뼈 국물에 국수 사리 넣어 먹는 음식",
        named("설농탕 집에서 만들기"),
    ),
    recipe(
        "gomtang",
        "곰탕 — 양지와 사태 같은 고기 위주로 푹 고아 낸 맑은 국물에 밥을 말아 먹는 나주식 탕",
        "뼈 대신 살코기를 우려 국물이 투명한 전라도식 소고기 국",
        named("나주곰탕 끓이는 법"),
    ),
    recipe(
        "samgyetang",
        "삼계탕 — 영계 속에 찹쌀, 인삼, 대추, 마늘을 채워 푹 삶아 낸 복날 보양식",
        "초복에 먹는 닭 한 마리 통째로 끓인 몸보신 국물",
        made_of("닭에 찹쌀 인삼 대추 넣고 푹 삶은 거"),
        en=named("ginseng chicken soup for hot summer days"),
    ),
    recipe(
        "yukgaejang",
        "육개장 — 삶은 양지를 결대로 찢어 고사리, 숙주, 대파와 함께 고추기름에 얼큰하게 끓인 국",
        "장례식장에서 자주 나오는 빨갛고 매운 소고기 국",
        named("육계장 끓이는법"),
        made_of("소고기 찢어 넣고 고사리 숙주 넣은 얼큰한 국"),
    ),
    recipe(
        "ppyeo-haejangguk",
        "뼈해장국 — 돼지 등뼈를 푹 삶아 우거지와 들깨가루를 넣고 끓인 뚝배기 한 그릇, 술 마신 "
        "다음 날 아침 메뉴",
        "혼자 먹는 돼지 척추뼈 숙취 국물 한 그릇",
        named("뼈다귀 해장국 레시피"),
    ),
    recipe(
        "gamjatang",
        "감자탕 — 돼지 등뼈와 통감자, 우거지, 깻잎을 큰 냄비에 넣고 얼큰하게 끓여 여럿이 나눠 "
        "먹는 전골",
        "여럿이 둘러앉아 돼지뼈 발라 먹다가 마지막에 밥 볶아 먹는 얼큰한 요리",
        named("감자탕 맛있게 끓이는 법"),
    ),
    recipe(
        "miyeokguk",
        "미역국 — 불린 미역과 소고기를 참기름에 볶다가 국간장으로 간해 끓인 국, 생일이나 "
        "산후조리 때 먹는다",
        "생일 아침에 먹는 해초 국",
        "출산 후 산모가 먹는 국 만드는 법",
        made_of("소고기 미역 넣고 끓인 국"),
        en=named("seaweed soup for birthdays"),
    ),
    recipe(
        "kongnamulguk",
        "콩나물국 — 콩나물을 멸치 육수에 끓여 소금과 다진 마늘로 간한 맑고 시원한 국",
        "숙취 풀 때 좋은 아삭한 새싹 채소 맑은 국",
        made_of("콩나물 마늘 넣고 맑게 끓인 시원한 국"),
    ),
    recipe(
        "tteokguk",
        "떡국 — 어슷하게 썬 가래떡을 사골 육수에 끓이고 달걀 지단과 김 가루를 올린 설날 음식",
        "새해 첫날 한 그릇 먹으면 한 살 더 먹는다는 음식",
        made_of("사골 국물에 가래떡 넣고 끓인 것"),
        en=named("rice cake soup for the lunar new year"),
    ),
    recipe(
        "manduguk",
        "만둣국 — 고기만두를 멸치 육수에 넣어 끓이고 달걀을 풀어 낸 따끈한 국",
        "냉동 교자 넣고 계란 풀어 끓이는 간단한 국물",
        named("만두국 레시피"),
    ),
    recipe(
        "sogogi-muguk",
        "소고기뭇국 — 소고기와 나박 썬 무를 참기름에 볶다가 물을 부어 맑게 끓인 국",
        "가을무가 달큰하게 우러난 안 매운 쇠고기 국",
        named("소고기 무국 끓이는 법"),
        made_of("소고기 무 넣고 맑게 끓인 국"),
    ),
    recipe(
        "dwaeji-gukbap",
        "돼지국밥 — 돼지 뼈를 우린 뽀얀 국물에 수육을 듬뿍 얹고 새우젓과 부추로 간하는 부산식 국밥",
        "부산 가면 꼭 먹는 돼지고기 국물에 밥 만 음식",
        made_of("돼지 뼈 국물에 수육 올리고 새우젓 넣어 먹는 밥"),
    ),
    recipe(
        "sundae-gukbap",
        "순대국밥 — 순대와 돼지 내장을 넣은 진한 국물에 들깨가루와 다대기를 넣어 먹는 국밥",
        "곱창 같은 부속 고기랑 피순대 들어간 뜨끈한 국물 밥",
        named("순댓국 만드는 법"),
    ),
    recipe(
        "chueotang",
        "추어탕 — 미꾸라지를 삶아 곱게 갈아 시래기와 된장을 넣고 걸쭉하게 끓여 산초가루를 뿌려 "
        "먹는 탕",
        "작은 민물고기 갈아 넣은 가을 보양 국",
        made_of("미꾸라지 갈아 넣은 시래기 국"),
    ),
    recipe(
        "bugeoguk",
        "북엇국 — 마른 북어채를 참기름에 볶다가 물을 붓고 달걀을 풀어 끓인 맑은 해장국",
        "말린 명태로 끓이는 속 풀이 국",
        named("북어국 끓이는 법"),
    ),
    recipe(
        "altang",
        "알탕 — 명태알과 곤이를 무, 콩나물, 미나리와 함께 칼칼하게 끓인 탕",
        "생선 알이 잔뜩 들어간 매운 국물 요리",
        made_of("명태알 곤이 넣은 얼큰한 국물"),
    ),
    recipe(
        "maeuntang",
        "매운탕 — 회를 뜨고 남은 생선 서더리에 고추장, 고춧가루, 무와 수제비를 넣어 얼큰하게 "
        "끓인 탕",
        "횟집에서 회 먹고 마지막에 나오는 생선 뼈 국물",
        named("서더리탕 끓이는 법"),
    ),
    # 밥, 죽
    recipe(
        "bibimbap",
        "비빔밥 — 밥 위에 여러 가지 나물과 소고기 볶음, 달걀프라이를 올리고 고추장과 참기름에 "
        "비벼 먹는 한 그릇 음식",
        "남은 나물 반찬 다 넣고 빨간 장이랑 섞어 먹는 밥",
        en=named("mixed rice with vegetables and gochujang"),
    ),
    recipe(
        "dolsot-bibimbap",
        "돌솥비빔밥 — 뜨겁게 달군 돌그릇에 밥과 나물을 담아 바닥에 누룽지가 눌어붙도록 지글지글 "
        "익혀 비벼 먹는 비빔밥",
        "밑바닥 밥알이 바삭하게 눌어서 더 고소한, 달군 그릇째 나오는 비빔 메뉴",
        named("돌솥 비빔밥 누룽지 만드는 법"),
    ),
    recipe(
        "yukhoe-bibimbap",
        "육회비빔밥 — 배와 함께 달콤하게 양념한 생소고기 육회를 밥과 채소 위에 얹어 비벼 먹는 "
        "진주식 비빔밥",
        "날고기 올려서 비벼 먹는 밥 요리",
        named("육회 비빔밥 양념"),
    ),
    recipe(
        "hoe-deopbap",
        "회덮밥 — 광어와 연어 같은 신선한 회와 상추, 깻잎을 밥 위에 올려 초고추장에 비벼 먹는 덮밥",
        "날생선 썰어 올리고 새콤달콤한 빨간 소스로 비비는 밥",
        made_of("광어 연어 올려 초장에 비빈 밥"),
    ),
    recipe(
        "kimchi-bokkeumbap",
        "김치볶음밥 — 신김치를 잘게 썰어 버터에 밥과 함께 볶고 반숙 달걀프라이를 얹은 볶음밥",
        "냉장고에 쉰 김치랑 찬밥만 있을 때 만드는 한 끼",
        named("김치 볶음밥 맛있게 하는법"),
        en=named("kimchi fried rice with a fried egg"),
    ),
    recipe(
        "omurice",
        "오므라이스 — 케첩으로 볶은 채소밥을 얇은 달걀부침으로 감싸고 데미글라스 소스를 뿌린 "
        "경양식 메뉴",
        "노란 계란으로 밥을 포근하게 감싼 아이들 인기 메뉴",
        named("오무라이스 만드는 법"),
        made_of("케첩으로 볶은 밥을 얇은 계란으로 감싼 것"),
    ),
    recipe(
        "jeyuk-deopbap",
        "제육덮밥 — 고추장 양념에 볶은 돼지고기를 흰밥 위에 넉넉히 얹어 한 그릇으로 먹는 덮밥",
        "매콤한 돼지불고기를 밥 위에 얹어 주는 기사식당 점심 메뉴",
        named("제육 덮밥 레시피"),
    ),
    recipe(
        "kongnamulbap",
        "콩나물밥 — 쌀 위에 콩나물을 얹어 지은 밥을 달래 간장 양념장에 비벼 먹는 음식",
        "아삭한 콩 싹을 올려 지은 밥에 양념간장 넣어 비비기",
        made_of("콩나물 넣고 지은 밥 양념간장"),
    ),
    recipe(
        "jeonbokjuk",
        "전복죽 — 전복 내장과 불린 쌀을 참기름에 볶아 푹 끓인 초록빛 고소한 죽",
        "아플 때 먹는 제주 해산물 죽",
        made_of("전복 내장 넣어서 죽 끓이는 법"),
    ),
    recipe(
        "hobakjuk",
        "호박죽 — 늙은 호박을 삶아 으깨고 찹쌀가루와 새알심을 넣어 달콤하게 끓인 노란 죽",
        "속이 편한 달콤한 노란색 죽, 부기 빠지는 데 좋다는",
        made_of("늙은 호박 찹쌀 넣고 끓인 죽"),
    ),
    recipe(
        "patjuk",
        "팥죽 — 붉은 팥을 삶아 체에 거르고 찹쌀 새알심을 넣어 끓인 죽, 동짓날 먹는다",
        "일 년 중 밤이 가장 긴 날 먹는 빨간 콩 죽",
        named("동지 팥죽 쑤는 법"),
    ),
    recipe(
        "dakjuk",
        "닭죽 — 닭을 삶은 국물에 불린 쌀과 잘게 찢은 닭살을 넣고 푹 끓인 죽",
        "삼계탕 먹고 남은 국물로 쑤는 묽은 밥 요리",
        made_of("닭 삶은 국물에 쌀 넣고 끓인 죽"),
    ),
    # 김밥
    recipe(
        "gimbap",
        "김밥 — 김 위에 참기름과 소금으로 간한 밥을 펴고 단무지, 시금치, 당근, 달걀, 햄을 넣어 "
        "돌돌 만 음식",
        named("아이 도시락용 김밥 만드는 법"),
        "소풍날 아침 엄마가 싸 주던 검은 해초에 만 밥",
        made_of("단무지 시금치 당근 계란 햄 넣고 김에 만 밥"),
        en=named("how to roll seaweed rice rolls"),
    ),
    recipe(
        "chungmu-gimbap",
        "충무김밥 — 밥만 넣고 손가락 굵기로 만 김밥에 매콤한 오징어무침과 섞박지를 곁들이는 통영 "
        "음식",
        "속 재료 없는 맨밥 말이에 매운 오징어 반찬 따로 주는 경남 항구 음식",
        named("통영 충무김밥 만들기"),
    ),
    recipe(
        "mayak-gimbap",
        "마약김밥 — 당근, 단무지, 시금치만 넣어 한입 크기로 작게 만 꼬마김밥을 겨자 간장에 찍어 "
        "먹는 시장 명물",
        "한 번 먹으면 멈출 수 없다는 손가락만 한 말이 밥, 톡 쏘는 소스에 찍어 먹는",
        named("꼬마김밥 겨자소스"),
    ),
    recipe(
        "chamchi-gimbap",
        "참치김밥 — 마요네즈에 버무린 참치와 깻잎을 넣어 고소하게 만 김밥",
        "고소한 마요 소스 버무린 캔 생선이랑 향긋한 잎 넣고 만 분식집 메뉴",
        made_of("참치 마요 깻잎 넣고 김에 만 것"),
    ),
    recipe(
        "yubu-chobap",
        "유부초밥 — 달콤하게 조린 유부 주머니에 새콤한 초밥을 채운 음식",
        "튀긴 두부 주머니에 밥 채우는 도시락 메뉴",
        named("유부 초밥 만드는 법"),
    ),
    recipe(
        "jumeokbap",
        "주먹밥 — 밥에 잘게 썬 볶은 김치나 참치, 김 가루를 섞어 손으로 동그랗게 뭉친 간단한 밥",
        "바쁜 아침에 손으로 꾹꾹 뭉쳐 만드는 한입 밥",
        made_of("밥에 참치 김가루 섞어서 동그랗게 뭉친 것"),
    ),
    # 국수
    recipe(
        "mul-naengmyeon",
        "물냉면 — 메밀 면을 살얼음 낀 동치미와 소고기 육수에 말아 편육, 배, 삶은 달걀을 올린 "
        "평양식 여름 국수",
        "얼음 동동 띄운 시원한 국물에 메밀 국수 말아 먹는 여름 음식",
        named("평양냉면 슴슴한 육수 맛"),
        en=named("cold buckwheat noodle soup"),
    ),
    recipe(
        "bibim-naengmyeon",
        "비빔냉면 — 질긴 전분 면을 새콤달콤하고 매운 고추장 양념에 비벼 먹는 차가운 국수, 함흥식",
        "가위로 잘라 먹는 질깃한 면을 국물 없이 맵게 비빈 함경도 음식",
        named("함흥냉면 양념장 만들기"),
    ),
    recipe(
        "milmyeon",
        "밀면 — 밀가루와 전분으로 뽑은 면을 차게 식힌 돼지 뼈 육수에 말아 먹는, 피란 시절 부산에서 "
        "생긴 국수",
        "메밀이 귀해서 밀가루로 대신 만든 부산식 냉국수",
        made_of("차가운 돼지 뼈 육수에 밀가루 면 말아 먹는 국수"),
    ),
    recipe(
        "makguksu",
        "막국수 — 거칠게 뽑은 메밀 면을 김 가루, 들기름, 양념장에 비비거나 동치미 국물에 말아 먹는 "
        "강원도 국수",
        "춘천 여행 가서 닭갈비랑 같이 먹는 국수",
        made_of("메밀면에 들기름 김가루 넣고 비빈 국수"),
    ),
    recipe(
        "janchi-guksu",
        "잔치국수 — 소면을 멸치 육수에 말고 애호박, 당근, 달걀 지단, 김치를 고명으로 얹은 따뜻한 "
        "국수",
        "경사스러운 날 손님에게 대접하던 얇은 면 따끈한 국물",
        made_of("멸치 육수에 소면 말아 지단 올린 국수"),
    ),
    recipe(
        "bibim-guksu",
        "비빔국수 — 삶아 찬물에 헹군 소면을 새콤한 고추장 양념과 오이, 김치에 버무린 국수",
        "얇은 밀가루 면에 매콤새콤 양념 버무려 먹는 여름 간단 요리",
        made_of("소면 삶아서 오이 김치 고추장 양념에 비빈 것"),
    ),
    recipe(
        "jjolmyeon",
        "쫄면 — 굵고 탄력 있는 면을 콩나물, 양배추와 함께 매콤새콤한 초고추장 양념에 비빈 분식",
        "분식집에서 파는 질깃하고 굵은 면 비빔 메뉴",
        named("쫄면 양념장 황금비율"),
    ),
    recipe(
        "kalguksu",
        "칼국수 — 밀가루 반죽을 밀대로 밀어 칼로 썬 면을 바지락 육수에 감자, 애호박과 함께 "
        "끓인 국수",
        "조개 국물에 손으로 썬 굵은 면 넣고 끓인 비 오는 날 메뉴",
        named("바지락 칼국수 만드는 법"),
    ),
    recipe(
        "dak-kalguksu",
        "닭칼국수 — 닭 한 마리를 삶은 육수에 칼국수 면과 손으로 찢은 닭살을 넣어 끓인 국수",
        "닭 삶은 국물에 밀가루 면 넣어 끓인 뜨끈한 한 그릇",
        named("닭 칼국수 레시피"),
    ),
    recipe(
        "sujebi",
        "수제비 — 밀가루 반죽을 손으로 얇게 뜯어 멸치 육수에 넣고 감자와 함께 끓인 음식",
        "반죽을 조금씩 떼어 국물에 넣어 익히는 음식",
        made_of("밀가루 반죽 손으로 뜯어 넣고 감자랑 끓인 국물"),
    ),
    recipe(
        "kongguksu",
        "콩국수 — 삶은 흰콩을 곱게 갈아 만든 차가운 콩국에 소면을 말고 오이채를 올린 여름 별미",
        "고소한 두유 같은 하얀 냉국물에 면 말아 먹는 여름 음식",
        made_of("흰콩 갈아 만든 찬 국물에 소면"),
    ),
    recipe(
        "jjajangmyeon",
        "짜장면 — 춘장에 돼지고기, 양파, 양배추를 볶아 만든 검은 소스를 쫄깃한 면에 얹은 한국식 "
        "중화요리",
        "이사 날 배달시켜 먹는 까만 소스 국수",
        named("자장면 만드는 법"),
        en=named("black bean sauce noodles"),
    ),
    recipe(
        "jjamppong",
        "짬뽕 — 오징어와 홍합 같은 해산물과 채소를 고춧가루 기름에 볶아 얼큰한 국물에 면을 만 "
        "중화요리",
        "중국집에서 시키는 빨간 해물 국물 면 요리",
        made_of("오징어 홍합 채소 볶아서 얼큰한 국물에 면 만 것"),
    ),
    recipe(
        "ramyeon",
        "라면 — 끓는 물에 꼬불꼬불한 인스턴트 면과 분말 스프를 넣고 달걀과 파를 더해 끓인 간편식",
        "야식으로 끓여 먹는 봉지 면 맛있게 끓이는 팁",
        named("라면 맛있게 끓이는 법"),
    ),
    recipe(
        "japchae",
        "잡채 — 삶은 당면을 간장 양념에 시금치, 당근, 버섯, 소고기와 함께 버무린 명절 요리",
        "잔칫상에 빠지지 않는 투명하고 쫄깃한 고구마 전분 면 볶음",
        named("잡채 불지 않게 만드는 요령"),
        en=named("sweet potato glass noodles stir fried with vegetables"),
    ),
    # 분식
    recipe(
        "tteokbokki",
        "떡볶이 — 쌀떡이나 밀떡을 어묵, 대파와 함께 달고 매운 고추장 양념에 졸인 대표 분식",
        "오뎅이랑 같이 빨갛게 졸여 접시에 담아 주는 국민 떡 간식",
        named("국물 떡볶이 황금 레시피"),
        en=named("spicy rice cakes street food"),
    ),
    recipe(
        "rabokki",
        "라볶이 — 떡볶이 양념에 라면 사리를 넣어 쫄깃한 떡과 꼬불꼬불한 면을 함께 즐기는 분식",
        "매운 떡 요리에 인스턴트 면 추가한 메뉴",
        named("라뽁이 만들기"),
    ),
    recipe(
        "gungjung-tteokbokki",
        "궁중떡볶이 — 가래떡을 소고기, 표고버섯, 채소와 함께 간장 양념으로 볶은 맵지 않은 떡 요리",
        "옛날 임금님이 드셨다는 안 매운 간장 떡볶음",
        named("간장 떡볶이 레시피"),
    ),
    recipe(
        "rose-tteokbokki",
        "로제떡볶이 — 고추장 양념에 생크림과 우유를 더해 분홍빛으로 부드럽게 만든 떡볶이",
        "크림 넣어서 덜 맵고 분홍색인 요즘 유행 떡 요리",
        made_of("고추장 양념에 생크림 우유 넣고 졸인 떡"),
    ),
    recipe(
        "tteokkkochi",
        "떡꼬치 — 떡을 꼬치에 꿰어 기름에 튀긴 뒤 달콤한 고추장 소스를 바른 학교 앞 간식",
        "막대에 꽂은 떡 튀겨서 빨간 소스 바른 간식",
        named("떡꼬치 소스 만들기"),
    ),
    recipe(
        "eomuktang",
        "어묵탕 — 꼬치에 끼운 어묵을 무와 다시마 육수에 끓인 국물 요리, 포장마차 겨울 메뉴",
        "추운 날 길거리에서 종이컵에 국물 떠 먹는 꼬치",
        named("오뎅탕 끓이는 법"),
    ),
    recipe(
        "sundae",
        "순대 — 돼지 창자에 당면, 선지, 채소를 채워 쪄 낸 음식, 소금이나 막장에 찍어 먹는다",
        "분식집에서 간이랑 허파랑 같이 썰어 주는 거",
        named("순대 맛있게 찌는 법"),
    ),
    recipe(
        "yachae-twigim",
        "야채튀김 — 채 썬 고구마, 당근, 양파를 튀김옷에 버무려 바삭하게 튀긴 분식",
        "떡볶이 국물에 찍어 먹는 바삭한 채소 덩어리",
        made_of("고구마 당근 양파 채 썰어 튀긴 거"),
    ),
    recipe(
        "hotteok",
        "호떡 — 찹쌀 반죽 속에 흑설탕과 견과류를 넣고 기름 두른 철판에 눌러 구운 겨울 간식",
        "뜨거운 설탕 시럽 흐르는 납작한 길거리 빵",
        named("호떡 반죽 만드는 법"),
        en=made_of("sweet pancake filled with brown sugar syrup"),
    ),
    recipe(
        "bungeoppang",
        "붕어빵 — 물고기 모양 틀에 묽은 반죽과 팥소를 넣어 구운 겨울 간식",
        "생선 모양인데 안에 단팥 들어 있는 길거리 간식",
        named("붕어빵 만들기"),
    ),
    recipe(
        "gyeranppang",
        "계란빵 — 달콤한 빵 반죽 위에 달걀을 통째로 올려 구운 길거리 간식",
        "출근길 노점에서 파는 달걀 한 알 들어간 폭신한 간식",
        made_of("달걀 한 알 넣고 구운 작은 빵"),
    ),
    recipe(
        "hodugwaja",
        "호두과자 — 호두 모양 틀에 반죽과 팥앙금, 호두 조각을 넣어 구운 천안 명물 과자",
        "고속도로 휴게소에서 사 먹는 견과 모양 작은 빵",
        named("호두 과자 만들기"),
    ),
    # 고기
    recipe(
        "bulgogi",
        "불고기 — 얇게 썬 소고기를 간장, 배즙, 마늘, 참기름 양념에 재워 채소와 함께 구운 달콤 "
        "짭짤한 고기 요리",
        "외국인 친구가 좋아하는 달달한 간장 양념 쇠고기",
        named("불고기 양념 비율"),
        en=made_of("marinated beef barbecue sweet soy"),
    ),
    recipe(
        "jeyuk-bokkeum",
        "제육볶음 — 돼지고기 앞다리살을 고추장과 고춧가루 양념에 양파, 대파와 함께 센 불에 볶은 "
        "매콤한 요리",
        "상추쌈이랑 찰떡인 빨간 양념 돼지 요리",
        named("제육 볶음 황금레시피"),
        en=named("spicy stir fried pork"),
    ),
    recipe(
        "ojingeo-bokkeum",
        "오징어볶음 — 손질한 오징어를 양배추, 당근, 양파와 함께 고추장 양념에 볶은 매콤한 요리",
        "다리 열 개 달린 해산물 매운 볶음",
        made_of("오징어 양배추 넣고 고추장에 볶은 거"),
    ),
    recipe(
        "nakji-bokkeum",
        "낙지볶음 — 낙지를 굵게 썰어 양파, 대파와 함께 아주 매운 양념에 볶아 소면을 곁들이는 "
        "무교동식 요리",
        "다리 여덟 개 연체동물 아주 맵게 볶아서 국수랑 먹는 거",
        made_of("낙지 아주 맵게 볶아서 소면이랑"),
    ),
    recipe(
        "dakgalbi",
        "닭갈비 — 닭다리살을 고추장 양념에 재워 양배추, 고구마, 떡과 함께 큰 철판에 볶아 먹는 "
        "춘천 음식",
        "넓은 판에 빨간 양념 닭고기 볶다가 마지막에 밥 볶아 먹는 요리",
        made_of("닭고기 양배추 고구마 고추장 양념에 철판에 볶기"),
    ),
    recipe(
        "jjimdak",
        "찜닭 — 닭고기를 간장 양념에 당면, 감자, 당근, 마른 고추와 함께 졸인 안동 음식",
        "달짝지근한 간장 국물에 닭이랑 납작 당면 들어간 경북 요리",
        named("안동찜닭 레시피"),
    ),
    recipe(
        "dakbokkeumtang",
        "닭볶음탕 — 토막 낸 닭을 감자, 당근과 함께 고추장 양념 국물에 자작하게 끓인 요리",
        named("닭도리탕 맛있게 하는 법"),
        made_of("닭 감자 넣고 고추장 양념에 빨갛게 끓인 거"),
    ),
    recipe(
        "galbijjim",
        "갈비찜 — 핏물을 뺀 소갈비를 간장 양념에 무, 밤, 대추와 함께 부드럽게 쪄 낸 명절 요리",
        "추석 상에 올리는 뼈 붙은 쇠고기 간장 조림",
        named("소갈비찜 만드는 법"),
    ),
    recipe(
        "la-galbi",
        "LA갈비 — 뼈를 가로로 얇게 자른 소갈비를 달콤한 간장 양념에 재워 숯불이나 팬에 구운 요리",
        "뼈 단면 세 개가 줄지어 붙은 얇은 쇠고기 구이",
        named("엘에이갈비 양념 레시피"),
    ),
    recipe(
        "samgyeopsal",
        "삼겹살구이 — 두툼한 돼지 뱃살을 불판에 구워 상추, 마늘, 쌈장과 함께 싸 먹는 요리",
        "회식 때 불판에 굽는 비계 있는 돼지고기",
        named("삼겹살 맛있게 굽는 법"),
        en=named("grilled pork belly"),
    ),
    recipe(
        "bossam",
        "보쌈 — 된장과 월계수 잎을 넣어 삶은 돼지고기를 절인 배추와 무김치에 싸 먹는 요리",
        "김장하는 날 삶아 먹는 돼지고기 수육",
        made_of("삶은 돼지고기 절인 배추에 싸 먹기"),
    ),
    recipe(
        "jokbal",
        "족발 — 돼지 발을 간장, 생강, 한약재를 넣은 육수에 오래 졸여 얇게 썰어 먹는 요리",
        "야식으로 시켜 먹는 쫀득한 돼지 다리",
        named("족발 집에서 만들기"),
    ),
    recipe(
        "dakgangjeong",
        "닭강정 — 한입 크기로 바삭하게 튀긴 닭고기를 물엿과 고추장 소스에 버무린 달콤한 간식",
        "시장에서 컵에 담아 파는 달고 끈적한 튀긴 닭",
        named("닭강정 소스 황금레시피"),
    ),
    recipe(
        "yangnyeom-chicken",
        "양념치킨 — 두 번 튀긴 닭 한 마리를 달콤 매콤한 빨간 소스에 버무린 배달 치킨",
        "치맥할 때 반반 주문하는 빨간 소스 통닭",
        named("양념 치킨 소스 만드는 법"),
    ),
    recipe(
        "tteokgalbi",
        "떡갈비 — 다진 소고기와 돼지고기를 간장 양념으로 치대어 납작하게 빚어 구운 담양식 요리",
        "갈은 고기를 동그랗고 납작하게 빚은 전라도 음식, 함박스테이크 같은",
        named("담양 떡갈비 만들기"),
    ),
    recipe(
        "jangjorim",
        "장조림 — 소고기 홍두깨살과 메추리알을 간장에 짭조름하게 조린 밑반찬",
        "작은 새알이랑 고기 결대로 찢어 먹는 짭짤한 반찬",
        made_of("소고기랑 메추리알 간장에 졸인 반찬"),
    ),
    recipe(
        "mukeunji-deunggalbi",
        "묵은지 등갈비찜 — 오래 묵힌 김치로 돼지 등갈비를 감싸 뭉근하게 쪄 낸 요리",
        "몇 년 익힌 김치에 돼지 갈비 싸서 찐 요리",
        named("묵은지 갈비찜 레시피"),
    ),
    # 생선, 해물
    recipe(
        "godeungeo-jorim",
        "고등어조림 — 고등어를 두툼한 무와 함께 매콤한 간장 양념에 졸인 생선 요리",
        "등 푸른 생선 무 깔고 빨갛게 졸인 밥도둑",
        made_of("고등어랑 무 넣고 매콤하게 졸이기"),
    ),
    recipe(
        "galchi-jorim",
        "갈치조림 — 은빛 갈치를 무, 감자와 함께 고춧가루 양념에 졸인 제주식 생선 조림",
        "제주도에서 먹는 길쭉한 은색 생선 매운 요리",
        named("갈치 조림 양념장"),
    ),
    recipe(
        "godeungeo-gui",
        "고등어구이 — 소금 간한 고등어를 껍질이 바삭하도록 노릇하게 구워 낸 생선 요리",
        "소금 뿌려 오븐이나 팬에 익힌 등 푸른 생선",
        named("고등어 굽는 법"),
    ),
    recipe(
        "agujjim",
        "아귀찜 — 아귀를 콩나물, 미나리와 함께 맵고 걸쭉한 양념에 버무려 쪄 낸 마산식 요리",
        "못생긴 생선 콩나물이랑 맵게 찐 요리",
        named("아구찜 만드는 법"),
    ),
    recipe(
        "kkomak-muchim",
        "꼬막무침 — 삶은 꼬막을 까서 간장, 고춧가루, 달래 양념에 무친 겨울 반찬",
        "벌교 조개 양념장에 무친 반찬",
        made_of("꼬막 삶아서 양념장에 무친 거"),
    ),
    # 전
    recipe(
        "haemul-pajeon",
        "해물파전 — 쪽파를 가지런히 깔고 오징어, 새우, 조개를 올려 부침 반죽으로 부친 전",
        "비 오는 날 막걸리랑 먹는 해산물 부침개",
        made_of("쪽파 오징어 새우 넣고 부친 전"),
        en=named("seafood and green onion pancake"),
    ),
    recipe(
        "kimchijeon",
        "김치전 — 잘게 썬 신김치를 밀가루 반죽에 섞어 가장자리가 바삭하게 부친 전",
        "시어 버린 김치로 만드는 간단한 부침개",
        named("김치 부침개 바삭하게 만드는 법"),
    ),
    recipe(
        "bindaetteok",
        "빈대떡 — 불린 녹두를 곱게 갈아 숙주, 고사리, 돼지고기를 넣고 기름에 두툼하게 부친 전",
        "초록색 콩 갈아서 두툼하게 부치는 시장 부침개",
        named("녹두전 부치는 법"),
    ),
    recipe(
        "gamjajeon",
        "감자전 — 감자를 강판에 갈아 건더기와 가라앉은 전분만으로 쫀득하게 부친 강원도 전",
        "밀가루 없이 알감자 갈아서 부치는 쫀득한 부침개",
        made_of("감자 강판에 갈아서 전분이랑 부친 것"),
    ),
    recipe(
        "hobakjeon",
        "애호박전 — 동그랗게 썬 애호박에 밀가루와 달걀물을 입혀 노릇하게 부친 전",
        "초록색 여름 채소를 둥글게 썰어 계란옷 입혀 부치는 반찬",
        named("호박전 부치는 법"),
    ),
    recipe(
        "donggeurangttaeng",
        "동그랑땡 — 다진 돼지고기와 으깬 두부, 채소를 동그랗게 빚어 달걀물을 입혀 부친 명절 전",
        "명절에 부치는 고기 완자 전",
        made_of("돼지고기 두부 으깨서 동그랗게 부친 거"),
    ),
    recipe(
        "dongtaejeon",
        "동태전 — 얇게 포 뜬 동태살에 밀가루와 달걀물을 입혀 부친 제사상 전",
        "제사 때 부치는 흰살 생선 전",
        named("생선전 부치는 법"),
    ),
    recipe(
        "buchujeon",
        "부추전 — 부추와 청양고추를 듬뿍 넣어 얇고 바삭하게 부친 전",
        "정구지 넣고 얇게 부친 경상도식 부침개",
        named("부추 부침개 레시피"),
    ),
    # 김치, 반찬
    recipe(
        "baechu-kimchi",
        "배추김치 — 소금에 절인 배추에 고춧가루, 무채, 젓갈, 마늘로 만든 소를 켜켜이 넣어 발효시킨 "
        "김치",
        "겨울 앞두고 온 가족이 모여 담그는 포기 김치",
        named("배추김치 담그는 법"),
    ),
    recipe(
        "kkakdugi",
        "깍두기 — 무를 주사위 모양으로 썰어 고춧가루와 새우젓으로 버무린 김치",
        "설렁탕집에서 같이 나오는 네모난 무 김치",
        named("깍뚜기 담그는법"),
        made_of("무 네모나게 썰어 고춧가루 새우젓으로 버무린 것"),
    ),
    recipe(
        "oisobagi",
        "오이소박이 — 오이에 열십자 칼집을 내어 부추 양념소를 채운 여름 김치",
        "아삭한 초록 채소 속에 양념 채워 넣은 여름 김치",
        made_of("오이에 칼집 내고 부추 양념 채운 김치"),
    ),
    recipe(
        "dongchimi",
        "동치미 — 통무를 소금물에 담가 배, 쪽파, 생강과 함께 익힌 맑은 국물 김치",
        "고구마랑 같이 먹는 시원하고 맵지 않은 겨울 물김치",
        named("동치미 담그는 법"),
    ),
    recipe(
        "sigeumchi-namul",
        "시금치나물 — 데친 시금치를 국간장, 다진 마늘, 참기름, 깨소금으로 조물조물 무친 나물",
        "뽀빠이 채소 데쳐서 고소하게 무친 반찬",
        named("시금치 무침 레시피"),
    ),
    recipe(
        "kongnamul-muchim",
        "콩나물무침 — 아삭하게 삶은 콩나물을 소금, 참기름, 고춧가루로 무친 반찬",
        "콩 싹 데쳐서 빨갛게 무치는 밑반찬",
        named("콩나물 무침 만드는 법"),
    ),
    recipe(
        "gosari-namul",
        "고사리나물 — 말린 고사리를 불려 들기름과 국간장에 볶은 제사 나물",
        "제사상에 올리는 갈색 산나물 볶음",
        made_of("고사리 불려서 들기름에 볶기"),
    ),
    recipe(
        "myeolchi-bokkeum",
        "멸치볶음 — 잔멸치를 마른 팬에 볶아 비린내를 날리고 간장, 물엿, 견과류와 함께 볶은 밑반찬",
        "칼슘 많은 작은 말린 생선 달달하게 볶은 도시락 반찬",
        made_of("잔멸치 견과류 넣고 달달하게 볶은 거"),
    ),
    recipe(
        "eomuk-bokkeum",
        "어묵볶음 — 납작한 어묵을 양파와 함께 간장 양념으로 볶은 도시락 반찬",
        "생선살 반죽 튀긴 거 썰어서 짭짤하게 볶은 반찬",
        named("오뎅볶음 만들기"),
    ),
    recipe(
        "gyeranmari",
        "계란말이 — 달걀물에 다진 채소를 섞어 팬에 얇게 부쳐 돌돌 만 반찬",
        "겹겹이 말아서 썰면 단면이 예쁜 달걀 반찬",
        made_of("달걀에 다진 당근 파 섞어 얇게 부쳐 돌돌 만 것"),
    ),
    recipe(
        "gyeranjjim",
        "계란찜 — 달걀을 새우젓으로 간해 뚝배기에서 봉긋하게 부풀도록 찐 부드러운 요리",
        "고깃집에서 서비스로 나오는 폭신하게 부푼 달걀 요리",
        named("뚝배기 계란찜 레시피"),
        en=named("fluffy steamed eggs in an earthenware pot"),
    ),
    recipe(
        "dubu-jorim",
        "두부조림 — 노릇하게 부친 두부에 간장과 고춧가루 양념을 끼얹어 자작하게 조린 반찬",
        "콩으로 만든 하얀 네모 부쳐서 양념 국물에 졸인 반찬",
        made_of("두부 부쳐서 간장 양념에 졸인 반찬"),
    ),
    recipe(
        "gamja-jorim",
        "감자조림 — 깍둑 썬 감자를 간장과 물엿에 윤기 나게 조린 반찬",
        "알감자 달콤 짭짤하게 반짝반짝 졸이는 반찬",
        made_of("감자 간장이랑 물엿 넣고 졸인 반찬"),
    ),
    recipe(
        "jinmichae-bokkeum",
        "진미채볶음 — 오징어채를 고추장 양념에 볶은 달콤 매콤한 밑반찬",
        "말린 오징어 실처럼 가늘게 찢은 거 빨갛게 볶은 반찬",
        named("오징어채 볶음 만드는 법"),
    ),
    recipe(
        "musaengchae",
        "무생채 — 채 썬 무를 고춧가루, 식초, 설탕에 새콤하게 무친 반찬",
        "가늘게 썬 흰 뿌리채소 새콤 매콤하게 무쳐서 비빔밥에 넣는 반찬",
        made_of("무 채 썰어 새콤 매콤하게 무친 거"),
    ),
    recipe(
        "gaji-muchim",
        "가지무침 — 찐 가지를 손으로 길게 찢어 간장 양념에 무친 나물",
        "보라색 채소 쪄서 찢어 무친 반찬",
        named("가지 나물 만드는 법"),
    ),
    recipe(
        "dotorimuk-muchim",
        "도토리묵무침 — 도토리묵을 썰어 오이, 상추, 쑥갓과 함께 간장 양념에 무친 요리",
        "등산 후 막걸리 안주로 먹는 묵 샐러드",
        made_of("도토리묵 오이 상추 넣고 양념장에 무친 거"),
    ),
    # 전골, 만두
    recipe(
        "beoseot-jeongol",
        "버섯전골 — 여러 가지 버섯과 얇게 썬 소고기, 채소를 넓은 냄비에 담아 육수를 부어 식탁에서 "
        "끓여 먹는 전골",
        "표고 느타리 팽이 잔뜩 넣고 상 위에서 끓여 먹는 냄비 요리",
        named("버섯 전골 레시피"),
    ),
    recipe(
        "kimchi-mandu",
        "김치만두 — 잘게 썬 신김치, 두부, 돼지고기, 숙주로 소를 만들어 빚은 뒤 찜기에 쪄 낸 만두",
        "매콤한 소 넣고 빚어서 찐 설날 만두",
        made_of("신김치 두부 숙주 넣고 빚어서 찐 거"),
    ),
    # 디저트, 떡, 음료
    recipe(
        "patbingsu",
        "팥빙수 — 곱게 간 얼음 위에 달게 삶은 단팥과 쫄깃한 떡, 연유를 올린 여름 디저트",
        "더운 날 먹는 얼음 디저트 단팥 올린 거",
        made_of("얼음 갈아서 팥이랑 연유 올린 디저트"),
        en=made_of("shaved ice dessert with sweet red beans"),
    ),
    recipe(
        "injeolmi",
        "인절미 — 찐 찹쌀을 떡메로 친 뒤 한입 크기로 잘라 고소한 콩고물을 묻힌 떡",
        "노란 콩가루 묻힌 쫀득한 떡",
        made_of("찹쌀 쪄서 치고 콩고물 묻힌 것"),
    ),
    recipe(
        "songpyeon",
        "송편 — 멥쌀 반죽에 깨, 콩, 밤 소를 넣어 반달 모양으로 빚어 솔잎을 깔고 찐 추석 떡",
        "한가위에 가족이 둘러앉아 빚는 떡",
        named("송편 빚는 법"),
    ),
    recipe(
        "gyeongdan",
        "경단 — 찹쌀 반죽을 동그랗게 빚어 끓는 물에 삶아 건져 카스텔라 가루나 깨 고물을 묻힌 떡",
        "구슬처럼 동글동글한 돌잔치 떡",
        made_of("찹쌀 반죽 동그랗게 빚어 삶고 고물 묻힌 것"),
    ),
    recipe(
        "hwajeon",
        "화전 — 찹쌀 반죽을 둥글납작하게 빚어 진달래 꽃잎을 얹어 지진 봄 떡",
        "봄꽃 잎을 올려 부친 예쁜 떡",
        made_of("진달래 꽃잎 올려 부친 찹쌀떡"),
    ),
    recipe(
        "yakgwa",
        "약과 — 밀가루에 참기름과 꿀을 넣어 반죽해 튀긴 뒤 조청에 담가 스며들게 한 전통 과자",
        "할매니얼 유행 디저트, 꿀에 절인 옛날 과자",
        named("약과 만들기"),
    ),
    recipe(
        "yakbap",
        "약밥 — 찹쌀에 밤, 대추, 잣을 넣고 간장, 흑설탕, 참기름으로 버무려 찐 달콤한 밥",
        "정월 대보름에 먹는 갈색 달콤한 찰밥",
        named("약식 만드는 법"),
    ),
    recipe(
        "dalgona",
        "달고나 — 국자에 설탕을 녹여 소다를 넣어 부풀린 뒤 납작하게 눌러 모양을 찍은 옛날 과자",
        "오징어 게임에 나온 모양 뽑기 과자",
        made_of("설탕 녹이고 베이킹소다 넣어 굳힌 과자"),
    ),
    recipe(
        "sikhye",
        "식혜 — 엿기름 물에 밥알을 삭혀 달게 끓여 차갑게 마시는 전통 음료",
        "찜질방에서 마시는 쌀알 동동 뜬 달달한 음료",
        made_of("엿기름이랑 밥으로 만드는 단 음료"),
        en=named("sweet rice punch"),
    ),
    recipe(
        "sujeonggwa",
        "수정과 — 생강과 계피를 달인 물에 곶감과 잣을 띄운 전통 음료",
        "시나몬 향 나는 빨간 전통 음료, 말린 감 넣은",
        made_of("계피 생강 곶감 넣은 음료"),
    ),
)


# --- the mixed-language set --------------------------------------------------------------------

MIXED: tuple[Entry, ...] = (
    # food
    doc(
        "food-doenjang-stew",
        "ko",
        "된장찌개는 멸치 육수에 된장을 풀고 두부와 애호박, 양파를 넣어 끓이는 한국의 대표적인 "
        "가정식 찌개다.",
        ("en", "Korean soybean paste stew with tofu and zucchini"),
        ("ko", "집에서 자주 끓이는 구수한 장 국물 요리"),
    ),
    doc(
        "food-french-omelette",
        "en",
        "To make a classic French omelette, beat three eggs, cook them over low heat in plenty "
        "of butter while stirring, and roll it before the curds fully set; the outside should "
        "stay pale.",
        ("fr", "comment réussir une omelette baveuse et roulée"),
        ("en", "soft rolled eggs cooked gently in butter without browning"),
    ),
    doc(
        "food-nikujaga",
        "ja",
        "肉じゃがは、牛肉または豚肉、じゃがいも、玉ねぎ、にんじんを醤油とみりん、砂糖で甘辛く"
        "煮込んだ家庭料理です。",
        ("ko", "감자와 고기를 간장에 달게 졸인 일본 가정식"),
    ),
    doc(
        "food-mapo-tofu",
        "zh",
        "麻婆豆腐：用牛肉末、豆瓣酱和花椒把嫩豆腐烧得又麻又辣，是四川的家常菜。",
        ("en", "numbing spicy bean curd dish from Sichuan"),
        ("zh", "四川有名的辣味豆制品菜怎么烧"),
    ),
    doc(
        "food-paella",
        "es",
        "La paella valenciana se cocina en una sartén ancha con arroz bomba, pollo, conejo, "
        "judías verdes y azafrán; el socarrat es la capa tostada que queda en el fondo.",
        ("de", "Reispfanne aus Valencia mit Kaninchen und grünen Bohnen"),
        ("es", "arroz de la huerta valenciana con carne de conejo y la costra dorada del fondo"),
    ),
    doc(
        "food-apple-strudel",
        "de",
        "Für einen Apfelstrudel wird ein hauchdünn ausgezogener Teig mit Äpfeln, Rosinen, Zimt "
        "und gerösteten Semmelbröseln gefüllt, eingerollt und goldbraun gebacken.",
        ("en", "Austrian pastry with paper-thin stretched dough and a fruit filling"),
        (
            "de",
            "österreichisches Gebäck mit Obstfüllung, der Teig so dünn, dass man Zeitung hindurch "
            "lesen kann",
        ),
    ),
    doc(
        "food-ratatouille",
        "fr",
        "La ratatouille niçoise : aubergines, courgettes, poivrons et tomates mijotés séparément à "
        "l'huile d'olive, puis réunis avec de l'ail et des herbes de Provence.",
        ("es", "guiso provenzal de verduras de verano"),
        ("fr", "plat de légumes d'été du sud de la France"),
    ),
    doc(
        "food-borscht",
        "ru",
        "Борщ варят на говяжьем бульоне со свёклой, капустой, картофелем и морковью; подают со "
        "сметаной и чесночными пампушками.",
        ("en", "red beetroot soup served with sour cream"),
        ("ru", "как приготовить красный суп со свёклой"),
    ),
    doc(
        "food-carbonara",
        "it",
        "Per una vera carbonara servono guanciale croccante, tuorli d'uovo, pecorino romano e pepe "
        "nero: niente panna.",
        ("en", "Roman pasta with cured pork cheek and egg yolks, no cream"),
        ("it", "primo piatto romano con tuorli, formaggio di pecora e pepe"),
    ),
    doc(
        "food-pastel-de-nata",
        "pt",
        "O pastel de nata é uma tarte de massa folhada recheada com creme de ovos, cozida em forno "
        "muito quente até ganhar manchas escuras por cima.",
        ("ja", "ポルトガルのエッグタルトの作り方"),
        ("pt", "doce típico de Belém com creme de ovo e massa estaladiça"),
    ),
    doc(
        "food-kimchi-storage",
        "ko",
        "김치를 오래 두고 먹으려면 김치냉장고에 영하 1도 안팎으로 보관하고, 꺼낼 때마다 윗면을 꾹 "
        "눌러 공기가 닿지 않게 해야 빨리 시지 않는다.",
        ("en", "how to keep fermented cabbage from getting too sour in the fridge"),
        ("ko", "배추 절임 반찬 금방 시어지지 않게 두는 법"),
    ),
    doc(
        "food-sourdough-starter",
        "en",
        "Sourdough starter care: feed it equal weights of flour and water once a day at room "
        "temperature; if you only bake weekly, keep it in the fridge and feed it the day before.",
        ("de", "Wie oft muss man einen Sauerteigansatz füttern?"),
        ("en", "how often to feed the wild yeast culture for bread"),
    ),
    doc(
        "food-onigiri",
        "ja",
        "おにぎりをふっくら握るコツは、手を水で濡らして塩をまぶし、力を入れすぎず三、四回で形を"
        "整えることです。",
        ("ko", "삼각 주먹밥 손으로 부드럽게 뭉치는 요령"),
        ("ja", "ご飯を固くしないで手で丸めるには"),
    ),
    doc(
        "food-jiaozi",
        "zh",
        "包饺子时，馅料要顺着一个方向搅打上劲，饺子皮边缘捏紧，煮的时候点三次冷水。",
        ("en", "tips for making Chinese dumplings that don't burst when boiled"),
        ("zh", "水饺下锅后怎么煮才不会破"),
    ),
    doc(
        "food-gazpacho",
        "es",
        "El gazpacho andaluz es una sopa fría de tomate, pepino, pimiento, ajo, pan, aceite de "
        "oliva y vinagre, triturada y servida muy fría.",
        ("ko", "스페인 차가운 토마토 수프"),
        ("es", "receta para refrescarse en verano con hortalizas trituradas"),
    ),
    doc(
        "food-kaesespaetzle",
        "de",
        "Spätzle schabt man vom Brett direkt ins kochende Salzwasser; sobald sie oben schwimmen, "
        "sind sie fertig. Mit Bergkäse und Röstzwiebeln werden daraus Kässpätzle.",
        ("fr", "pâtes fraîches souabes gratinées au fromage et oignons frits"),
        ("de", "schwäbische Eierteigwaren selbst machen und mit Käse überbacken"),
    ),
    doc(
        "food-crepes",
        "fr",
        "Pour une pâte à crêpes sans grumeaux, versez le lait petit à petit sur la farine et les "
        "œufs en fouettant, puis laissez reposer une heure.",
        ("en", "thin pancake batter without lumps"),
        ("fr", "comment faire une pâte bien lisse pour la Chandeleur"),
    ),
    doc(
        "food-pelmeni",
        "ru",
        "Пельмени лепят из пресного теста с начинкой из смеси свинины и говядины с луком; варят в "
        "подсоленной воде и подают со сметаной.",
        ("zh", "俄罗斯饺子怎么做"),
        ("ru", "как слепить сибирские мясные пельмешки"),
    ),
    doc(
        "food-tiramisu",
        "it",
        "Il tiramisù si prepara alternando savoiardi inzuppati nel caffè e una crema di "
        "mascarpone, "
        "uova e zucchero, con una spolverata di cacao amaro.",
        ("es", "postre italiano con bizcochos mojados en café"),
        ("it", "dolce al cucchiaio con biscotti bagnati nell'espresso"),
    ),
    doc(
        "food-reheating-rice",
        "en",
        "Reheating cooked rice safely: cool leftovers within an hour, keep them in the fridge for "
        "no more than a day, and reheat only once until steaming hot throughout.",
        ("ko", "남은 밥 다시 데워 먹어도 안전한가요"),
        ("en", "is it safe to microwave yesterday's leftover rice"),
    ),
    doc(
        "food-tempura",
        "ja",
        "天ぷらの衣は冷水で溶き、混ぜすぎないのがサクサクに揚げるコツ。油の温度は170〜180度が"
        "目安です。",
        ("en", "crispy Japanese batter for deep-fried shrimp and vegetables"),
        ("ja", "エビの揚げ物の衣をカリッとさせる方法"),
    ),
    doc(
        "food-hongshao-pork",
        "zh",
        "红烧肉：五花肉先焯水，再用冰糖炒出糖色，加酱油、料酒和八角小火炖一个小时。",
        ("ja", "中華風の豚バラ肉の甘辛い煮込み"),
        ("zh", "上海家常的酱色五花肉做法"),
    ),
    doc(
        "food-bulgogi-marinade",
        "ko",
        "불고기 양념은 간장, 설탕, 다진 마늘, 참기름에 배를 갈아 넣으면 과일 효소 덕분에 고기가 "
        "부드러워진다.",
        ("en", "Korean marinated beef, how to make it tender"),
    ),
    doc(
        "food-corn-tortillas",
        "es",
        "Para unas buenas tortillas de maíz, mezcla masa harina con agua tibia y sal, deja reposar "
        "la masa y cuécelas en un comal bien caliente.",
        ("en", "homemade Mexican flatbreads on a hot griddle"),
        ("es", "cómo preparar a mano las tortillas mexicanas"),
    ),
    doc(
        "food-boeuf-bourguignon",
        "fr",
        "Le bœuf bourguignon mijote trois heures dans du vin rouge de Bourgogne avec des lardons, "
        "des champignons et des petits oignons.",
        ("de", "französisches Rindfleisch lange in Rotwein geschmort"),
        ("fr", "daube de viande au vin cuite tout l'après-midi"),
    ),
    doc(
        "food-pot-au-feu",
        "fr",
        "Le pot-au-feu est un plat d'hiver : bœuf, os à moelle, poireaux, carottes et navets cuits "
        "longuement dans un bouillon.",
        ("en", "French boiled beef with root vegetables and marrow bones"),
    ),
    doc(
        "food-pretzel",
        "de",
        "Eine Brezel bekommt ihre dunkelbraune, glänzende Kruste durch ein kurzes Bad in "
        "Natronlauge vor dem Backen.",
        ("en", "why are pretzels brown and shiny"),
    ),
    doc(
        "food-sushi-rice",
        "de",
        "Für Sushi-Reis wird der gekochte Reis mit einer Mischung aus Reisessig, Zucker und Salz "
        "vermengt und mit einem Fächer abgekühlt.",
        ("ja", "寿司飯の合わせ酢の作り方"),
    ),
    doc(
        "food-kefir-blini",
        "ru",
        "Блины на кефире получаются тонкими и ажурными, если тесто постоит полчаса, а сковорода "
        "будет хорошо разогрета.",
        ("fr", "crêpes russes au lait fermenté"),
        ("ru", "тонкие блинчики с дырочками на кисломолочном напитке"),
    ),
    doc(
        "food-sauerkraut",
        "ru",
        "Квашеную капусту готовят из нашинкованной капусты, моркови и соли; через три-пять дней "
        "при комнатной температуре она готова.",
        ("de", "Weißkohl mit Salz selbst fermentieren"),
        ("ru", "как заквасить капусту дома"),
    ),
    doc(
        "food-feijoada",
        "pt",
        "A feijoada é um cozido de feijão-preto com carnes de porco salgadas e defumadas, servido "
        "com arroz, couve refogada e farofa.",
        ("es", "guiso brasileño de frijoles negros con cerdo"),
        ("pt", "prato típico de sábado com feijão e carnes"),
    ),
    doc(
        "food-pho",
        "vi",
        "Phở bò: nước dùng ninh xương bò nhiều giờ với quế, hồi, gừng nướng, ăn cùng bánh phở, "
        "thịt bò tái và rau thơm.",
        ("ko", "베트남 쌀국수 육수 내는 법"),
        ("vi", "cách nấu nước lèo cho món bún bò"),
    ),
    doc(
        "food-fish-sauce-swap",
        "en",
        "Vegetarian swaps for fish sauce: soy sauce with a little seaweed and a splash of lime "
        "juice gives a similar savory depth.",
        ("ja", "魚醤の代わりになる調味料"),
        ("en", "vegan alternative to nam pla"),
    ),
    doc(
        "food-matcha",
        "ja",
        "抹茶は茶筅でMの字を描くように素早く動かすと、きめ細かい泡が立ちます。",
        ("en", "how to whisk powdered green tea until frothy"),
        ("ja", "お抹茶をおいしく点てる方法"),
    ),
    doc(
        "food-congee",
        "zh",
        "煲粥时米和水的比例约为一比十，先大火烧开再转小火，期间要经常搅拌以免粘锅。",
        ("en", "water to rice ratio for Chinese rice porridge"),
        ("zh", "白粥怎么熬才不糊底"),
    ),
    doc(
        "food-turkey-brine",
        "en",
        "Brining a turkey overnight in salted water keeps the meat moist; rinse and dry the skin "
        "well before roasting so it browns.",
        ("ja", "七面鳥をしっとり焼くための塩水漬け"),
    ),
    doc(
        "food-hard-rice-cakes",
        "ko",
        "굳어서 딱딱해진 떡은 끓는 물에 살짝 데치거나 찬물에 30분쯤 담가 두면 다시 말랑해진다.",
        ("en", "hardened Korean rice cakes, how to soften them"),
    ),
    doc(
        "food-churros",
        "es",
        "Los churros se fríen en aceite muy caliente y se sirven espolvoreados con azúcar, "
        "acompañados de un chocolate espeso para mojar.",
        ("ko", "설탕 뿌린 스페인 튀김 과자와 진한 초콜릿"),
        ("es", "masa frita alargada para desayunar con chocolate"),
    ),
    # travel
    doc(
        "travel-hallasan",
        "ko",
        "제주 한라산 성판악 코스는 왕복 8~9시간이 걸리며, 정상 백록담까지 가려면 탐방 예약을 하고 "
        "정해진 시간 안에 진달래밭 대피소를 통과해야 한다.",
        ("en", "do I need to book ahead to hike to the summit crater on Jeju island"),
        ("ko", "제주도 제일 높은 산 정상까지 등산하는 데 몇 시간"),
    ),
    doc(
        "travel-lost-luggage",
        "en",
        "If your checked bag doesn't arrive, file a report at the airline's baggage desk before "
        "leaving the arrivals hall and keep receipts for essentials you buy while you wait.",
        ("es", "qué hacer si la aerolínea pierde mi maleta"),
        ("en", "airline lost my suitcase, what now"),
    ),
    doc(
        "travel-jr-pass",
        "ja",
        "ジャパン・レール・パスは新幹線を含むJR線が乗り放題になる外国人旅行者向けの切符ですが、"
        "のぞみとみずほには追加料金が必要です。",
        ("en", "unlimited bullet train pass for tourists in Japan"),
        ("ja", "訪日客向けの新幹線乗り放題チケット"),
    ),
    doc(
        "travel-china-payments",
        "zh",
        "外国游客来中国前最好先在手机上绑定支付宝或微信支付，很多小店已经不收现金。",
        ("en", "paying in shops in China as a foreigner without cash"),
        ("zh", "外国人在国内买东西怎么用手机付款"),
    ),
    doc(
        "travel-camino",
        "es",
        "Para recorrer el Camino de Santiago necesitas la credencial del peregrino, que se sella "
        "en albergues e iglesias; con los últimos 100 km a pie obtienes la Compostela.",
        ("de", "Pilgerausweis mit Stempeln für den Jakobsweg"),
        ("es", "dónde sellar el pasaporte del peregrino"),
    ),
    doc(
        "travel-deutschlandticket",
        "de",
        "Das Deutschlandticket gilt einen Monat lang in allen Bussen, Straßenbahnen und "
        "Regionalzügen, aber nicht im ICE oder IC.",
        ("en", "monthly ticket for local trains in Germany, does it cover high-speed trains"),
        ("de", "Monatskarte für den Nahverkehr im ganzen Land"),
    ),
    doc(
        "travel-navigo",
        "fr",
        "À Paris, le passe Navigo Easy se recharge avec des tickets à l'unité pour le métro, le "
        "RER dans Paris et les bus.",
        ("ko", "파리 지하철 교통카드 충전 방법"),
        ("fr", "carte de transport rechargeable pour le métro parisien"),
    ),
    doc(
        "travel-russia-train-passport",
        "ru",
        "Для поездки на поезде по России нужен паспорт: его данные вносят в билет, а проводник "
        "сверяет документ при посадке.",
        ("en", "do I need my passport to board a long-distance train in Russia"),
        ("ru", "какие документы нужны для посадки в поезд"),
    ),
    doc(
        "travel-venice-fee",
        "it",
        "A Venezia, in alcuni giorni, i turisti giornalieri devono pagare un contributo di accesso "
        "prima di entrare nel centro storico.",
        ("en", "day-tripper fee to enter Venice"),
        ("it", "quanto costa entrare in laguna per una sola giornata"),
    ),
    doc(
        "travel-lisbon-tram",
        "pt",
        "Em Lisboa, o elétrico 28 percorre Alfama, Graça e Estrela; chegue cedo ao terminal do "
        "Martim Moniz para evitar as filas.",
        ("fr", "le vieux tramway jaune qui traverse les quartiers historiques de Lisbonne"),
        ("pt", "o famoso eléctrico amarelo de Lisboa, onde apanhar"),
    ),
    doc(
        "travel-incheon-arex",
        "ko",
        "인천공항에서 서울 시내로 가장 빨리 가는 방법은 공항철도 직통열차로, 서울역까지 약 43분이 "
        "걸린다.",
        ("ja", "仁川空港からソウル駅まで一番速い行き方"),
    ),
    doc(
        "travel-us-tipping",
        "en",
        "Tipping in the United States: restaurant servers usually expect 15 to 20 percent of the "
        "bill before tax, and bartenders about a dollar per drink.",
        ("de", "Wie viel Trinkgeld gibt man in amerikanischen Restaurants?"),
        ("en", "how much extra to leave for waiters in America"),
    ),
    doc(
        "travel-fushimi-inari",
        "ja",
        "京都の寺社は朝八時前後に開くところが多く、観光客が少ない早朝に伏見稲荷大社の千本鳥居を"
        "歩くのがおすすめです。",
        ("en", "best time to visit the shrine with thousands of red gates in Kyoto"),
        ("ja", "京都の赤い鳥居が続く神社、混雑を避けるなら何時?"),
    ),
    doc(
        "travel-tibet-permit",
        "zh",
        "去西藏旅行除了护照和签证，外国人还需要办理入藏函，而且必须跟随旅行社的行程。",
        ("en", "special permit required for foreigners visiting Tibet"),
        ("zh", "外国人去拉萨需要什么特别许可"),
    ),
    doc(
        "travel-eu-delay-compensation",
        "es",
        "Si tu vuelo dentro de la Unión Europea llega con más de tres horas de retraso, puedes "
        "reclamar una compensación de entre 250 y 600 euros según la distancia.",
        ("en", "money back when a flight in Europe arrives hours late"),
        ("es", "indemnización por avión que llega tarde"),
    ),
    doc(
        "travel-austria-vignette",
        "de",
        "Auf österreichischen Autobahnen braucht man eine Vignette; die digitale Version gilt bei "
        "Online-Kauf erst 18 Tage nach der Bestellung.",
        ("ko", "오스트리아 고속도로 통행권 구입"),
        ("de", "Autobahn-Maut in Österreich online kaufen"),
    ),
    doc(
        "travel-louvre",
        "fr",
        "Pour visiter le Louvre sans attendre, réservez un créneau horaire en ligne et entrez par "
        "la Pyramide ou par le Carrousel.",
        ("zh", "卢浮宫门票需要提前预约吗"),
        ("fr", "éviter la file d'attente au musée du Louvre"),
    ),
    doc(
        "travel-white-nights",
        "ru",
        "Белые ночи в Санкт-Петербурге длятся с конца мая до середины июля; в это время мосты "
        "через "
        "Неву разводят около часа ночи.",
        ("en", "when can you watch the bridges open at night in St Petersburg"),
        ("ru", "когда в Питере не темнеет ночью"),
    ),
    doc(
        "travel-italy-ticket-validation",
        "it",
        "Sui treni regionali italiani il biglietto cartaceo va convalidato nelle macchinette "
        "gialle "
        "o verdi prima di salire, altrimenti si rischia una multa.",
        ("ja", "イタリアの電車で切符に刻印しないと罰金になる?"),
        ("it", "multa per biglietto del treno non timbrato"),
    ),
    doc(
        "travel-brazil-evisa",
        "pt",
        "Para entrar no Brasil, cidadãos de vários países precisam de visto eletrônico, solicitado "
        "online antes da viagem.",
        ("en", "online visa application before a trip to Brazil"),
        ("pt", "preciso de visto para viajar ao Brasil?"),
    ),
    doc(
        "travel-lost-passport",
        "ko",
        "해외여행 중 여권을 잃어버리면 먼저 현지 경찰서에서 분실 신고서를 받은 뒤 가까운 대한민국 "
        "대사관이나 영사관에서 여행증명서를 발급받는다.",
        ("en", "lost my passport abroad, what should a Korean citizen do"),
        ("ko", "외국에서 신분증 분실했을 때 귀국하는 방법"),
    ),
    doc(
        "travel-jet-lag",
        "en",
        "Jet lag: shift your sleep by an hour a day before you fly east, get morning daylight at "
        "your destination, and avoid long naps on the first afternoon.",
        ("ko", "시차 적응 빨리 하는 방법"),
        ("en", "adjusting your body clock after a long flight"),
    ),
    doc(
        "travel-onsen-etiquette",
        "ja",
        "日本の温泉では、入浴前に洗い場で体を洗い、タオルを湯船に入れないのがマナーです。"
        "タトゥーがあると断られる施設もあります。",
        ("en", "hot spring bathing etiquette in Japan, are tattoos allowed"),
        ("ja", "刺青があっても大浴場に入れる?"),
    ),
    doc(
        "travel-china-high-speed-rail",
        "zh",
        "在中国坐高铁需要用护照实名购票，进站时刷证件并通过安检，建议提前四十分钟到站。",
        ("ru", "как иностранцу купить билет на скоростной поезд в Китае"),
    ),
    doc(
        "travel-prado-free-hours",
        "es",
        "En Madrid, muchos museos ofrecen entrada gratuita en las últimas horas del día; el Prado, "
        "por ejemplo, de lunes a sábado durante las dos últimas horas.",
        ("en", "when can I get into the big art museum in Madrid without paying"),
    ),
    doc(
        "travel-alps-thunderstorms",
        "de",
        "Wer in den Alpen wandert, sollte vor der Tour den Bergwetterbericht prüfen: Im Sommer "
        "entstehen nachmittags häufig Gewitter.",
        ("fr", "orages l'après-midi pendant une randonnée en montagne"),
        ("de", "Gewittergefahr bei Bergtouren im Sommer"),
    ),
    doc(
        "travel-france-tolls",
        "fr",
        "En France, la plupart des autoroutes sont payantes ; on peut régler au péage par carte "
        "bancaire ou avec un badge de télépéage.",
        ("en", "paying motorway tolls in France"),
        ("fr", "comment payer le passage sur l'autoroute"),
    ),
    doc(
        "travel-russia-evisa",
        "ru",
        "Для въезда в Россию многим иностранцам нужна виза, но граждане ряда стран могут оформить "
        "электронную визу онлайн.",
        ("ja", "ロシアの電子ビザの申請"),
    ),
    doc(
        "travel-uk-plugs",
        "en",
        "Travel adapters: the UK uses type G plugs with three rectangular pins at 230 volts, so a "
        "US laptop charger works with a simple adapter but a hair dryer may need a converter.",
        ("zh", "去英国需要带什么插头转换器"),
    ),
    doc(
        "travel-tmoney",
        "ko",
        "서울 지하철은 티머니 카드로 타면 환승 할인을 받을 수 있으며, 편의점에서 카드를 사고 "
        "충전할 수 있다.",
        ("en", "rechargeable transit card for the Seoul subway"),
    ),
    doc(
        "travel-path-of-gods",
        "it",
        "Il Sentiero degli Dei, sulla Costiera Amalfitana, va da Bomerano a Nocelle in circa tre "
        "ore di cammino con vista sul mare.",
        ("de", "Wanderweg an der Amalfiküste mit Meerblick"),
        ("it", "escursione panoramica tra Agerola e Positano"),
    ),
    doc(
        "travel-narita-express",
        "ja",
        "成田空港から東京都心へは成田エクスプレスか京成スカイライナーが便利で、上野まで最速41分です。",
        ("ko", "나리타 공항에서 도쿄 시내 가는 기차"),
    ),
    doc(
        "travel-argentina-cash",
        "es",
        "En Argentina conviene llevar dólares en efectivo o usar tarjetas extranjeras, que reciben "
        "un tipo de cambio cercano al del mercado.",
        ("en", "best way to pay as a tourist in Argentina"),
        ("es", "qué moneda llevar a Buenos Aires"),
    ),
    doc(
        "travel-gyeongju",
        "ko",
        "경주 불국사와 석굴암은 버스로 이어져 하루에 둘러볼 수 있고, 저녁에는 동궁과 월지의 야경이 "
        "아름답다.",
        ("en", "one-day itinerary in the ancient Silla capital"),
    ),
    doc(
        "travel-insurance",
        "en",
        "Travel insurance usually covers medical emergencies and trip cancellation, but many "
        "policies exclude pre-existing conditions and adventure sports unless you add them.",
        ("fr", "ce que l'assurance voyage ne rembourse pas"),
        ("en", "does my trip cover pay for skiing accidents"),
    ),
    doc(
        "travel-japan-konbini-atm",
        "zh",
        "在日本的便利店可以用交通卡付款，也能在店里的ATM用外国银行卡取日元现金。",
        ("en", "withdraw yen at a convenience store in Japan"),
    ),
    doc(
        "travel-schengen-90-days",
        "de",
        "Im Schengen-Raum dürfen sich Touristen aus visumfreien Ländern höchstens 90 Tage "
        "innerhalb von 180 Tagen aufhalten.",
        ("ko", "유럽 무비자로 얼마나 오래 머물 수 있나요"),
    ),
    doc(
        "travel-fuji-climbing",
        "ja",
        "富士山の登山シーズンは7月上旬から9月上旬までで、吉田ルートは事前予約と通行料が必要です。",
        ("ko", "일본에서 제일 높은 산 등산 시기와 예약"),
    ),
    doc(
        "travel-trevi-coin",
        "it",
        "Alla Fontana di Trevi la tradizione vuole che si lanci una moneta con la mano destra "
        "sopra "
        "la spalla sinistra per essere sicuri di tornare a Roma.",
        ("en", "coin throwing tradition at the famous fountain in Rome"),
    ),
    doc(
        "travel-hoi-an",
        "vi",
        "Phố cổ Hội An đẹp nhất vào buổi tối khi những chiếc đèn lồng được thắp sáng; vé tham "
        "quan bao gồm năm điểm di tích trong khu phố cổ.",
        ("en", "old town in central Vietnam famous for lanterns at night"),
        ("vi", "nên dạo phố cổ lúc mấy giờ thì đẹp nhất"),
    ),
    # tech support
    doc(
        "tech-wifi-drops",
        "ko",
        "와이파이가 자꾸 끊기면 공유기 전원을 30초간 뽑았다가 다시 꽂고, 공유기 설정에서 2.4GHz "
        "대신 5GHz 대역에 연결해 본다.",
        ("en", "wireless internet keeps disconnecting at home"),
        ("ko", "집 인터넷이 수시로 끊어져요"),
    ),
    doc(
        "tech-password-reset",
        "en",
        "Forgot your account password? Click 'Forgot password' on the sign-in page, enter your "
        "recovery email, and follow the link within 30 minutes; check your spam folder if nothing "
        "arrives.",
        ("ko", "로그인 비밀번호를 잊어버렸을 때 재설정하는 방법"),
        ("en", "can't remember my login, how do I get back into my account"),
    ),
    doc(
        "tech-iphone-battery",
        "ja",
        "iPhoneのバッテリーの減りが早いときは、設定の『バッテリー』でアプリごとの使用状況を確認し、"
        "Appのバックグラウンド更新をオフにしましょう。",
        ("en", "my phone battery drains really fast"),
        ("ja", "スマホの電池がすぐなくなる"),
    ),
    doc(
        "tech-printer-offline",
        "zh",
        "打印机显示脱机时，先检查网线或无线连接，再在控制面板中取消勾选“脱机使用打印机”。",
        ("en", "printer says offline and won't print"),
        ("zh", "打印机一直显示离线状态"),
    ),
    doc(
        "tech-laptop-overheating",
        "es",
        "Si tu portátil se calienta demasiado, limpia las rejillas de ventilación con aire "
        "comprimido y no lo uses sobre la cama o el sofá.",
        ("de", "Laptop wird sehr heiß, was kann ich tun?"),
        ("es", "el ordenador portátil quema y el ventilador suena mucho"),
    ),
    doc(
        "tech-bluetooth-pairing",
        "de",
        "Wenn sich Bluetooth-Kopfhörer nicht verbinden, löschen Sie das Gerät aus der Liste der "
        "gekoppelten Geräte und koppeln Sie es neu; halten Sie dazu die Taste fünf Sekunden "
        "gedrückt.",
        ("ko", "무선 이어폰이 휴대폰에 연결이 안 돼요"),
        ("de", "Kopfhörer lassen sich nicht mit dem Handy verbinden"),
    ),
    doc(
        "tech-slow-boot",
        "fr",
        "Votre ordinateur met longtemps à démarrer ? Désactivez les programmes lancés "
        "automatiquement dans le Gestionnaire des tâches, onglet Démarrage.",
        ("en", "computer takes forever to boot up"),
        ("fr", "mon PC est très lent à l'allumage"),
    ),
    doc(
        "tech-photo-backup",
        "ru",
        "Чтобы сделать резервную копию фотографий с телефона, включите автозагрузку в облачное "
        "хранилище и проверьте, что копирование идёт только по Wi-Fi.",
        ("en", "back up the pictures on my phone automatically"),
        ("ru", "как сохранить снимки с телефона в облако"),
    ),
    doc(
        "tech-2fa-lost-phone",
        "it",
        "Se hai perso il telefono con l'app di autenticazione, usa i codici di recupero che hai "
        "salvato quando hai attivato la verifica in due passaggi.",
        ("en", "lost the phone with my authenticator app and can't log in"),
        ("it", "ho perso lo smartphone e non riesco ad accedere con la doppia verifica"),
    ),
    doc(
        "tech-email-sync",
        "pt",
        "Se os e-mails não sincronizam no celular, remova a conta e adicione-a novamente, "
        "verificando se a sincronização automática está ativada.",
        ("en", "new mail doesn't show up on my phone"),
        ("pt", "o celular não recebe mensagens novas da caixa de correio"),
    ),
    doc(
        "tech-windows-update-fails",
        "ko",
        "윈도우 업데이트가 계속 실패하면 설정의 문제 해결에서 업데이트 문제 해결사를 실행하고, "
        "디스크 여유 공간이 20GB 이상인지 확인한다.",
        ("en", "system update keeps failing to install on my PC"),
    ),
    doc(
        "tech-sticky-keys",
        "en",
        "If some keyboard keys stick or repeat, turn the keyboard upside down, tap it gently, and "
        "clean under the keys with compressed air; a spilled drink may mean a replacement.",
        ("ja", "キーボードのキーが戻らない"),
        ("en", "spilled coffee and now some letters on my keyboard don't pop back up"),
    ),
    doc(
        "tech-external-drive",
        "ja",
        "外付けハードディスクが認識されないときは、別のUSBポートやケーブルを試し、"
        "「ディスクの管理」でドライブ文字が割り当てられているか確認します。",
        ("en", "external hard drive not showing up on my computer"),
        ("ja", "USBの外付けHDDがパソコンに表示されない"),
    ),
    doc(
        "tech-video-call-mic",
        "zh",
        "视频会议时对方听不到你的声音，请检查会议软件里选择的麦克风设备，并确认系统没有禁用麦克风权限。",
        ("en", "people can't hear me on video calls"),
        ("zh", "开线上会议时别人听不见我说话"),
    ),
    doc(
        "tech-router-factory-reset",
        "es",
        "Para restablecer el router a la configuración de fábrica, mantén pulsado el botón de "
        "reset unos diez segundos con un clip; después tendrás que volver a configurar la red.",
        ("ko", "공유기를 공장 초기화하는 방법"),
        ("es", "cómo dejar el router como nuevo"),
    ),
    doc(
        "tech-phone-storage-full",
        "de",
        "Ist der Handyspeicher voll, helfen das Löschen alter Chatverläufe mit Videos, das Leeren "
        "des App-Caches und das Auslagern von Fotos in die Cloud.",
        ("en", "phone storage full, how to free up space"),
        ("de", "Speicher auf dem Smartphone voll, was kann ich löschen?"),
    ),
    doc(
        "tech-vpn-speed",
        "fr",
        "Un VPN chiffre votre connexion sur un Wi-Fi public, mais il ralentit souvent le débit ; "
        "choisissez un serveur proche pour limiter la perte de vitesse.",
        ("ja", "VPNを使うとネットが遅くなる理由"),
        ("fr", "pourquoi internet devient lent quand je me connecte à un VPN"),
    ),
    doc(
        "tech-screen-flicker",
        "ru",
        "Если экран ноутбука мерцает, обновите драйвер видеокарты и попробуйте изменить частоту "
        "обновления в настройках дисплея.",
        ("en", "laptop display flickering"),
        ("ru", "моргает изображение на мониторе ноутбука"),
    ),
    doc(
        "tech-mailbox-full",
        "it",
        "Per liberare spazio nella casella di posta, cerca i messaggi con allegati grandi "
        "digitando "
        "'larger:10M' nella barra di ricerca ed eliminali.",
        ("en", "my mailbox is full, find emails with big attachments"),
    ),
    doc(
        "tech-cracked-screen",
        "en",
        "A cracked phone screen that still responds to touch can be covered with a tempered glass "
        "protector for now, but the cracks can spread; back up the phone before a repair.",
        ("es", "se me rompió la pantalla del móvil pero todavía funciona"),
        ("en", "dropped my phone and the glass shattered"),
    ),
    doc(
        "tech-phone-water",
        "ko",
        "스마트폰이 물에 빠졌다면 바로 전원을 끄고 충전하지 말며, 쌀 속에 넣기보다 통풍이 잘 되는 "
        "곳에서 충분히 말려야 한다.",
        ("en", "dropped my phone in the toilet"),
    ),
    doc(
        "tech-wifi-default-password",
        "ja",
        "Wi-Fiのパスワードを忘れた場合は、ルーターの側面や底面のラベルに初期パスワードが書かれて"
        "いることが多いです。",
        ("en", "where to find the default wireless network key"),
    ),
    doc(
        "tech-ransomware",
        "zh",
        "电脑中了勒索病毒后，应立即断开网络，不要支付赎金，并用备份恢复文件。",
        ("en", "files encrypted by ransomware, what to do"),
    ),
    doc(
        "tech-app-crashes",
        "es",
        "Si la aplicación se cierra sola al abrirla, borra la caché de la app, actualízala desde "
        "la "
        "tienda y, si sigue fallando, desinstálala y vuelve a instalarla.",
        ("ko", "앱이 켜자마자 계속 꺼져요"),
        ("es", "la app se cierra nada más abrirla"),
    ),
    doc(
        "tech-spam-protection",
        "de",
        "Um Ihre E-Mail-Adresse vor Spam zu schützen, sollten Sie sie nicht öffentlich auf "
        "Webseiten posten und für Newsletter eine Zweitadresse verwenden.",
        ("fr", "éviter de recevoir des courriels indésirables"),
    ),
    doc(
        "tech-battery-80-percent",
        "fr",
        "Si la batterie de votre ordinateur portable ne se charge plus au-delà de 80 %, vérifiez "
        "si un mode de préservation de la batterie est activé par le fabricant.",
        ("en", "laptop battery stuck at 80 percent and won't charge fully"),
    ),
    doc(
        "tech-sim-not-detected",
        "ru",
        "Если телефон не видит SIM-карту, перезагрузите его, проверьте, правильно ли вставлен "
        "лоток, и попробуйте карту в другом телефоне.",
        ("ko", "휴대폰이 유심을 인식하지 못해요"),
        ("ru", "телефон пишет «нет SIM-карты»"),
    ),
    doc(
        "tech-hdmi-tv",
        "pt",
        "Para mostrar a tela do notebook numa TV, conecte um cabo HDMI e pressione Windows + P "
        "para escolher entre duplicar e estender.",
        ("en", "connect my laptop to the TV with a cable"),
    ),
    doc(
        "tech-wireless-display",
        "ko",
        "노트북 화면을 TV에 무선으로 띄우려면 둘을 같은 와이파이에 연결한 뒤 Win+K를 눌러 무선 "
        "디스플레이를 선택한다.",
        ("en", "mirror my laptop to a smart TV without cables"),
    ),
    doc(
        "tech-tv-buffering",
        "en",
        "Smart TV apps buffering constantly? Run a speed test on the TV itself; streaming in 4K "
        "needs around 25 Mbps, so a wired connection often helps.",
        ("de", "Streaming auf dem Fernseher ruckelt ständig"),
        ("en", "shows keep pausing to load on my television"),
    ),
    doc(
        "tech-wireless-mouse",
        "it",
        "Se il mouse wireless si blocca, sostituisci le batterie e avvicina il ricevitore USB, "
        "magari con una prolunga, lontano da altri dispositivi.",
        ("ja", "ワイヤレスマウスがカクカクする"),
    ),
    doc(
        "tech-chat-migration",
        "ko",
        "카카오톡 대화 내용을 새 휴대폰으로 옮기려면 기존 폰에서 채팅 백업을 먼저 실행하고, "
        "새 폰에서 같은 계정으로 로그인해 복원한다.",
        ("en", "move my messenger chat history to a new phone"),
    ),
    doc(
        "tech-slow-charging",
        "zh",
        "手机充电很慢，可以换一根原装数据线和充电头试试，并清理充电口里的灰尘。",
        ("en", "phone charging really slowly"),
    ),
    doc(
        "tech-browser-notifications",
        "en",
        "To stop a browser from showing notification pop-ups, open site settings, find "
        "Notifications and switch it to 'Don't allow'; remove any sites you allowed by mistake.",
        ("fr", "bloquer les notifications des sites dans le navigateur"),
        ("en", "websites keep sending me annoying alerts"),
    ),
    doc(
        "tech-slow-pc",
        "ja",
        "パソコンの動作が重いときは、タスクマネージャーでCPUやメモリを大量に使っているアプリを"
        "確認して終了しましょう。",
        ("zh", "电脑运行很卡怎么办"),
        ("ja", "パソコンが重くてなかなか反応しない"),
    ),
    doc(
        "tech-recover-deleted-file",
        "ru",
        "Чтобы восстановить случайно удалённый файл, сначала загляните в корзину, а затем в "
        "историю версий облачного диска.",
        ("en", "recover a document I deleted by accident"),
    ),
    doc(
        "tech-printer-wps",
        "en",
        "Setting up a new printer on Wi-Fi: hold the printer's WPS button, then press WPS on your "
        "router within two minutes.",
        ("zh", "新买的打印机怎么连无线网"),
    ),
    # health
    doc(
        "health-tension-headache",
        "ko",
        "긴장성 두통은 목과 어깨 근육이 뭉쳐 머리 전체가 조이듯 아픈 것이 특징이며, 스트레칭과 "
        "충분한 수면이 도움이 된다.",
        ("en", "tight band-like headache from a stiff neck and shoulders"),
    ),
    doc(
        "health-migraine",
        "en",
        "Migraine attacks often come with throbbing pain on one side, nausea and sensitivity to "
        "light; resting in a dark, quiet room and taking medicine early can help.",
        ("ko", "한쪽 머리가 욱신거리고 빛에 예민해지는 두통"),
        ("en", "pounding pain on one side of the head with nausea"),
    ),
    doc(
        "health-sore-throat",
        "ja",
        "のどの痛みには、塩水でうがいをし、部屋の湿度を保ち、温かい飲み物で水分をとるとよいでしょう。",
        ("en", "home remedies for a sore throat"),
        ("ja", "喉がヒリヒリ痛いときの対処法"),
    ),
    doc(
        "health-infant-fever",
        "zh",
        "小孩发烧超过38.5度可以按体重服用退烧药，但三个月以下的婴儿发烧应立即就医。",
        ("en", "when to take a baby with a fever to the doctor"),
        ("zh", "宝宝体温高要不要马上去医院"),
    ),
    doc(
        "health-lower-back-pain",
        "es",
        "Para el dolor lumbar, mantenerse activo con caminatas suaves suele ayudar más que el "
        "reposo en cama; aplica calor local las primeras semanas.",
        ("en", "lower back pain, should I stay in bed"),
        ("es", "me duele la parte baja de la espalda"),
    ),
    doc(
        "health-insomnia",
        "de",
        "Bei Einschlafproblemen hilft es, jeden Tag zur gleichen Zeit aufzustehen, abends auf "
        "Bildschirme zu verzichten und das Schlafzimmer kühl zu halten.",
        ("ko", "밤에 잠이 안 올 때 생활 습관"),
        ("de", "ich liege nachts stundenlang wach"),
    ),
    doc(
        "health-sunburn",
        "fr",
        "En cas de coup de soleil, rafraîchissez la peau à l'eau tiède, appliquez une crème "
        "apaisante et buvez beaucoup ; consultez si des cloques couvrent une grande surface.",
        ("en", "treating skin burned at the beach"),
        ("fr", "peau rouge et brûlante après la plage"),
    ),
    doc(
        "health-food-poisoning",
        "ru",
        "При пищевом отравлении важно пить небольшими глотками воду или солевой раствор; к врачу "
        "нужно обратиться при крови в стуле или высокой температуре.",
        ("en", "vomiting after bad seafood, when to see a doctor"),
        ("ru", "что делать, если отравился едой"),
    ),
    doc(
        "health-pollen-allergy",
        "it",
        "Durante la stagione dei pollini, chi soffre di allergia dovrebbe tenere le finestre "
        "chiuse "
        "nelle ore centrali del giorno e lavarsi i capelli la sera.",
        ("en", "hay fever season tips at home"),
        ("it", "consigli per chi soffre di raffreddore da fieno"),
    ),
    doc(
        "health-dehydration",
        "pt",
        "Sinais de desidratação incluem boca seca, urina escura e tontura; idosos devem beber água "
        "mesmo sem sentir sede.",
        ("ja", "脱水症状のサイン"),
        ("pt", "como saber se estou desidratado"),
    ),
    doc(
        "health-sprained-ankle",
        "ko",
        "발목을 삐었을 때는 처음 이틀 동안 얼음찜질을 하고 발을 심장보다 높게 올려 붓기를 줄인다.",
        ("en", "twisted my ankle and it is swollen"),
        ("ko", "운동하다 발목 접질렸을 때 응급 처치"),
    ),
    doc(
        "health-blood-pressure",
        "en",
        "High blood pressure rarely causes symptoms, so check it regularly; cutting salt, "
        "exercising and limiting alcohol can lower it by several points.",
        ("zh", "高血压怎么通过饮食和运动控制"),
    ),
    doc(
        "health-motion-sickness",
        "ja",
        "乗り物酔いを防ぐには、進行方向を向いて座り、遠くの景色を見て、出発の30分前に酔い止め薬を"
        "飲むと効果的です。",
        ("ko", "차멀미 안 하는 방법"),
        ("ja", "車酔いしないためのコツ"),
    ),
    doc(
        "health-heat-stroke",
        "zh",
        "中暑时应立刻转移到阴凉通风处，用湿毛巾擦身降温，意识不清要马上拨打急救电话。",
        ("en", "someone collapsed in the summer heat, first aid"),
        ("zh", "天太热晕倒了怎么急救"),
    ),
    doc(
        "health-cold-vs-flu",
        "es",
        "La gripe suele empezar de golpe con fiebre alta y dolores musculares, mientras que el "
        "resfriado común avanza poco a poco con mocos y estornudos.",
        ("en", "difference between a cold and influenza"),
        ("es", "cómo saber si tengo gripe o solo un catarro"),
    ),
    doc(
        "health-hangover",
        "de",
        "Gegen einen Kater helfen vor allem Wasser, salzige Brühe und Schlaf; Kaffee lindert die "
        "Kopfschmerzen kaum und entzieht dem Körper zusätzlich Flüssigkeit.",
        ("ko", "술 마신 다음 날 숙취 빨리 푸는 법"),
        ("de", "was hilft am Morgen nach zu viel Alkohol"),
    ),
    doc(
        "health-eye-strain",
        "fr",
        "Pour limiter la fatigue des yeux devant l'écran, appliquez la règle 20-20-20 : toutes les "
        "20 minutes, regardez à 6 mètres pendant 20 secondes.",
        ("en", "eyes tired from staring at a monitor all day"),
    ),
    doc(
        "health-travel-vaccines",
        "ru",
        "Перед поездкой в тропические страны проконсультируйтесь с врачом о прививках от жёлтой "
        "лихорадки и гепатита А не позднее чем за месяц.",
        ("en", "shots to get before travelling to the tropics"),
    ),
    doc(
        "health-acid-reflux",
        "it",
        "Il reflusso gastroesofageo peggiora dopo pasti abbondanti: evita di sdraiarti subito dopo "
        "mangiare e alza di qualche centimetro la testata del letto.",
        ("en", "burning in my chest at night after a big dinner"),
        ("it", "bruciore di stomaco di notte"),
    ),
    doc(
        "health-toothache",
        "pt",
        "Para aliviar a dor de dente até a consulta, faça bochechos com água morna e sal e evite "
        "alimentos muito quentes ou muito frios.",
        ("de", "Zahnschmerzen bis zum Termin beim Zahnarzt lindern"),
        ("pt", "dor de dente forte à noite, o que fazer"),
    ),
    doc(
        "health-mosquito-bites",
        "ko",
        "모기에 물렸을 때는 긁지 말고 찬물로 씻은 뒤 얼음을 대면 가려움이 줄어든다.",
        ("en", "itchy insect bites relief"),
    ),
    doc(
        "health-iron-deficiency",
        "en",
        "Iron deficiency can cause tiredness, pale skin and shortness of breath; red meat, lentils "
        "and spinach eaten with vitamin C help absorption.",
        ("ko", "빈혈 있을 때 먹으면 좋은 음식"),
        ("en", "always exhausted and pale, could it be low iron"),
    ),
    doc(
        "health-hay-fever-medicine",
        "ja",
        "花粉症の薬は、症状が出る前、花粉の飛散が始まる2週間ほど前から飲み始めると効果が高いと"
        "されています。",
        ("en", "when to start taking allergy pills before pollen season"),
    ),
    doc(
        "health-desk-stretching",
        "zh",
        "久坐办公的人每隔一小时应起身活动五分钟，做颈部和肩部的拉伸，预防颈椎病。",
        ("ko", "사무실에서 오래 앉아 있을 때 목 스트레칭"),
    ),
    doc(
        "health-jellyfish",
        "es",
        "Las picaduras de medusa se lavan con agua de mar, nunca con agua dulce, y los restos de "
        "tentáculos se retiran con una tarjeta.",
        ("en", "stung by a jellyfish while swimming"),
        ("es", "me ha picado una medusa en la playa"),
    ),
    doc(
        "health-small-cut",
        "de",
        "Bei einer kleinen Schnittwunde stillt man die Blutung mit sauberem Druck, spült die Wunde "
        "mit Wasser aus und deckt sie mit einem Pflaster ab.",
        ("ja", "包丁で指を切ったときの応急処置"),
    ),
    doc(
        "health-flu-vaccine",
        "fr",
        "La vaccination contre la grippe est recommandée chaque automne aux personnes de plus de "
        "65 ans et aux femmes enceintes.",
        ("en", "who should get a yearly flu shot"),
        ("fr", "qui doit se faire vacciner contre la grippe"),
    ),
    doc(
        "health-cholesterol",
        "ru",
        "Чтобы снизить уровень холестерина, замените сливочное масло растительным и ешьте больше "
        "овощей, бобовых и цельнозерновых продуктов.",
        ("en", "foods that lower cholesterol"),
        ("ru", "какие продукты снижают холестерин"),
    ),
    doc(
        "health-adult-fever",
        "it",
        "Per la febbre negli adulti il paracetamolo è in genere il primo farmaco da provare; va "
        "rispettata la dose massima giornaliera indicata sul foglietto.",
        ("en", "maximum daily dose of fever medicine for adults"),
    ),
    doc(
        "health-constipation",
        "pt",
        "Uma dieta rica em fibras, com frutas, verduras e grãos integrais, além de bastante água, "
        "ajuda a combater a prisão de ventre.",
        ("ko", "변비에 좋은 식습관"),
    ),
    doc(
        "health-stroke-signs",
        "ko",
        "갑자기 어지러우면서 말이 어눌해지거나 한쪽 팔다리에 힘이 빠지면 뇌졸중일 수 있으니 바로 "
        "119에 신고한다.",
        ("en", "sudden dizziness with slurred speech and a weak arm"),
    ),
    doc(
        "health-shin-splints",
        "en",
        "Shin splints are common in new runners; increase your weekly distance by no more than ten "
        "percent and replace worn-out shoes.",
        ("es", "dolor en la espinilla al empezar a correr"),
    ),
    doc(
        "health-mouth-ulcer",
        "ja",
        "口内炎ができたときは、刺激の強い食べ物を避け、ビタミンB2やB6を意識してとり、十分な睡眠を"
        "とりましょう。",
        ("en", "painful sore inside my mouth"),
        ("ja", "口の中にできた痛いできもの"),
    ),
    doc(
        "health-pregnancy-diet",
        "zh",
        "孕妇在怀孕早期应补充叶酸，并避免生鱼、生肉和未经消毒的奶制品。",
        ("en", "what to avoid eating while expecting a baby"),
    ),
    doc(
        "health-child-fever-alternating",
        "ko",
        "아이 열이 날 때 해열제는 최소 4~6시간 간격을 두고, 아세트아미노펜과 이부프로펜을 번갈아 "
        "먹일 때는 2시간 이상 띄운다.",
        ("en", "alternating two fever reducers for a child, how many hours apart"),
    ),
    doc(
        "health-handwashing",
        "fr",
        "Pour bien se laver les mains, frottez au moins 20 secondes avec du savon, sans oublier "
        "les "
        "pouces, le bout des doigts et les espaces entre les doigts.",
        ("ja", "正しい手洗いの方法"),
        ("fr", "combien de temps faut-il se savonner les mains"),
    ),
    doc(
        "health-quit-smoking",
        "es",
        "Para dejar de fumar, fija una fecha, avisa a tu entorno y pregunta en tu centro de salud "
        "por parches o chicles de nicotina.",
        ("en", "how to give up cigarettes for good"),
    ),
    doc(
        "health-tick-bite",
        "de",
        "Einen Zeckenbiss sollte man rasch versorgen: die Zecke mit einer Pinzette hautnah "
        "greifen, "
        "langsam herausziehen und die Stelle einige Wochen beobachten.",
        ("en", "how to remove a tick from my skin"),
    ),
    doc(
        "health-dengue",
        "vi",
        "Sốt xuất huyết thường gây sốt cao đột ngột, đau nhức sau hốc mắt và đau cơ; người bệnh "
        "không nên tự uống aspirin hay ibuprofen vì có thể làm tăng nguy cơ chảy máu.",
        ("en", "mosquito-borne fever in Southeast Asia, which painkillers to avoid"),
        ("ko", "뎅기열에 걸렸을 때 먹으면 안 되는 진통제"),
    ),
    doc(
        "health-altitude-sickness",
        "ru",
        "Чтобы не заболеть горной болезнью, поднимайтесь постепенно, выше 3000 метров не более чем "
        "на 300–500 метров в сутки, и пейте больше воды.",
        ("en", "preventing altitude sickness on a high trek"),
    ),
)


SET_DESCRIPTIONS = {
    "korean": (
        "Korean recipe search: recipe names with a one- or two-sentence description, as a "
        "recipe site stores them, and the queries its users type (mostly Korean, a few "
        "English), each of a kind: the dish named in the user's words (name), its main "
        "ingredients with the cooking method or taste (ingredients), or a situational "
        "paraphrase (description); near-neighbour dishes on purpose; one relevant document "
        "per query."
    ),
    "mixed": (
        "Mixed-language retrieval: short texts on food, travel, tech support and health in "
        "eleven languages; same-language and cross-language queries; one relevant document "
        "per query."
    ),
}


def _dataset(name: str, entries: Sequence[Entry], prefix: str) -> dict[str, Any]:
    documents = [{"id": e.id, "text": e.text, "lang": e.lang} for e in entries]
    queries: list[dict[str, Any]] = []
    for entry in entries:
        for lang, text, kind in entry.queries:
            query: dict[str, Any] = {"id": f"{prefix}-q{len(queries) + 1:03d}", "text": text}
            query["lang"] = lang
            if kind is not None:
                query["kind"] = kind
            query["relevant"] = [entry.id]
            queries.append(query)
    data = {
        "name": name,
        "description": SET_DESCRIPTIONS[name],
        "documents": documents,
        "queries": queries,
    }
    check_set(data)
    return data


def check_set(data: dict[str, Any]) -> None:
    """Raise ValueError unless ``data`` is a well-formed set: unique ids, known languages,
    no empty or duplicated texts, every relevant id a document of the set."""
    problems: list[str] = []
    doc_ids = [d["id"] for d in data["documents"]]
    query_ids = [q["id"] for q in data["queries"]]
    for kind, ids in (("document", doc_ids), ("query", query_ids)):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            problems.append(f"duplicate {kind} ids: {duplicates}")
    for kind, items in (("document", data["documents"]), ("query", data["queries"])):
        texts = [item["text"] for item in items]
        for item in items:
            if not item["text"].strip():
                problems.append(f"{kind} {item['id']} has an empty text")
            if item["lang"] not in LANGUAGES:
                problems.append(f"{kind} {item['id']} has unknown language {item['lang']!r}")
        repeated = sorted({t for t in texts if texts.count(t) > 1})
        if repeated:
            problems.append(f"repeated {kind} texts: {repeated}")
    kinds = [q["kind"] for q in data["queries"] if "kind" in q]
    if kinds and len(kinds) != len(data["queries"]):
        problems.append("some queries have a kind and some not")
    unknown_kinds = sorted(set(kinds) - set(QUERY_KINDS))
    if unknown_kinds:
        problems.append(f"unknown query kinds {unknown_kinds} (kinds: {', '.join(QUERY_KINDS)})")
    known = set(doc_ids)
    for query in data["queries"]:
        if not query["relevant"]:
            problems.append(f"query {query['id']} has no relevant document")
        missing = [i for i in query["relevant"] if i not in known]
        if missing:
            problems.append(f"query {query['id']} names unknown documents {missing}")
    if problems:
        raise ValueError(f"retrieval set {data.get('name')!r}: " + "; ".join(problems))


def build_sets() -> dict[str, dict[str, Any]]:
    """Every set, by name (``SET_NAMES``), as the JSON data written to disk."""
    return {
        "korean": _dataset("korean", KOREAN, "ko"),
        "mixed": _dataset("mixed", MIXED, "mx"),
    }


def set_path(name: str, data_dir: Path = DATA_DIR) -> Path:
    return data_dir / f"retrieval-{name}.json"


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def write_sets(data_dir: Path = DATA_DIR) -> list[Path]:
    """Write every set into ``data_dir``; returns the paths written."""
    data_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in build_sets().items():
        path = set_path(name, data_dir)
        path.write_bytes(render(data).encode("utf-8"))
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="directory to write into")
    args = parser.parse_args(argv)
    for path in write_sets(args.out):
        data = json.loads(path.read_text(encoding="utf-8"))
        langs = sorted({item["lang"] for item in data["documents"] + data["queries"]})
        print(
            f"{path}: {len(data['documents'])} documents, {len(data['queries'])} queries, "
            f"{path.stat().st_size / 1024:.1f} KB, languages {', '.join(langs)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
