"""The fixed reference corpus used by the build's quality report and the golden tests.

Short sentences in several languages and scripts, plus texts built to land exactly on the
token counts where truncation bugs hide (127, 128, 255, 256, 257 and 600 tokens, special
tokens included, for a 256-token model).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

SENTENCES: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "How do I reset my password if I no longer have access to my email?",
    "Serverless inference scales to zero when nobody is calling it.",
    "A man is playing a guitar on the street corner.",
    "The central bank raised interest rates by a quarter of a percentage point.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Can you recommend a good Italian restaurant near the train station?",
    "The patient was prescribed antibiotics for a bacterial infection.",
    "I would like to transfer $250 from checking to savings.",
    "What's the weather going to be like in Seattle tomorrow?",
    "She finished the marathon in under four hours despite the heat.",
    "def add(a, b):\n    return a + b",
    "SELECT id, name FROM users WHERE created_at > NOW() - INTERVAL '7 days';",
    "Error 504: the upstream server did not respond in time.",
    "Ok",
    "?",
    "Embeddings map text to vectors so that similar meanings land close together.",
    "The Eiffel Tower was completed in 1889 for the World's Fair.",
    "Please cancel my subscription effective immediately.",
    "I love this phone, the battery lasts for two full days!!! 🔋📱",
    "갈비탕",
    "김치찌개",
    "된장찌개",
    "오늘 점심으로 비빔밥을 먹었는데 정말 맛있었어요.",
    "서울에서 부산까지 기차로 얼마나 걸리나요?",
    "東京タワーは1958年に完成しました。",
    "我想预订明天晚上七点的两人桌。",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Je voudrais réserver une chambre pour deux nuits, s'il vous plaît.",
    "¿Dónde está la estación de tren más cercana?",
    "Москва — столица России и крупнейший город страны.",
    "القهوة العربية تقدم عادة مع التمر.",
    "Η Ακρόπολη βρίσκεται στην Αθήνα.",
    "यह रेस्टोरेंट बहुत अच्छा है।",
    "naïve café résumé coöperate façade",
    "   leading and trailing spaces   ",
    "Line one.\nLine two.\tTabbed.",
    "https://example.com/path?query=1&other=two#fragment",
    "1234567890 3.14159 2.71828 6.02e23",
    "Dogs are loyal companions; cats are independent hunters.",
)

# Exact token counts (with [CLS] and [SEP]) around the model's limits.
LONG_TEXT_TOKENS: tuple[int, ...] = (127, 128, 255, 256, 257, 600)

_FILLER_TEXT = (
    "Lambda functions start from a container image that carries the model, so the first "
    "request after a quiet period pays for loading it; later requests reuse the warm "
    "process and answer in milliseconds. Batch jobs read lines from storage, split them "
    "into chunks, and write vectors back, accounting for every line they received. "
)
_FILLER = _FILLER_TEXT.split()


def text_with_tokens(count_tokens: Callable[[str], int], target: int) -> str:
    """Deterministically build a text whose token count (with specials) is exactly ``target``.

    Words are appended from a fixed filler; a word that would overshoot is skipped in favour
    of the next, with single-letter words as the final top-up.
    """
    words: list[str] = []
    position = 0
    while True:
        current = count_tokens(" ".join(words)) if words else 2
        if current == target:
            return " ".join(words)
        for attempt in range(len(_FILLER)):
            word = _FILLER[(position + attempt) % len(_FILLER)]
            if count_tokens(" ".join([*words, word])) <= target:
                words.append(word)
                position = (position + attempt + 1) % len(_FILLER)
                break
        else:
            words.append("a")
            if count_tokens(" ".join(words)) > target:
                raise ValueError(f"cannot reach exactly {target} tokens")


def reference_corpus(count_tokens: Callable[[str], int]) -> list[str]:
    """All reference texts: the sentences, then the long texts."""
    return [*SENTENCES, *long_texts(count_tokens, LONG_TEXT_TOKENS)]


def long_texts(count_tokens: Callable[[str], int], targets: Sequence[int]) -> list[str]:
    return [text_with_tokens(count_tokens, target) for target in targets]
