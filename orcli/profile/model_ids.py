"""Which provider-native model id is the same model as an OpenRouter-style id (docs/profiles.md#native-ids).

Pure: ids in, a verdict out. Providers spell one model many ways (`meta-llama/llama-3.3-70b-instruct` is Groq's
`llama-3.3-70b-versatile`, Together's `meta-llama/Llama-3.3-70B-Instruct-Turbo`, Fireworks'
`accounts/fireworks/models/llama-v3p3-70b-instruct`), so ids are compared as normalised token sequences:
lower case, the last path segment only, Fireworks' `3p3` read as `3.3`, a word glued to a version split
(`llama3.1` = `llama 3 1`). Size, version and family tokens must all agree: never another size or version.
Serving words (instruct, turbo, versatile, fp8, a Bedrock region prefix, ...) may differ; a dated snapshot
(`-20250929`, `-2503`) matches an undated request. Candidates are ranked (exact tokens, then without serving
words, then with a date added; within each, the fewest serving words that differ, then a path that names the
same maker); the best rank must hold exactly one id, else the answer is "ambiguous" - orcli never guesses
between equal candidates.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

_REGION = "@region"  # the token a Bedrock cross-region prefix (`us.`, `eu.`, `global.`) becomes
# Words that name how a model is served, not which model it is.
SERVING_WORDS = frozenset(
    {
        "instruct",
        "chat",
        "it",
        "versatile",
        "instant",
        "turbo",
        "fp8",
        "fp16",
        "bf16",
        "fp4",
        "int4",
        "int8",
        "awq",
        "gguf",
        "tput",
        "hf",
        "meta",
        "v",
        "latest",
        "serverless",
        _REGION,
    }
)
_DIGIT_P_DIGIT = re.compile(r"(?<=\d)p(?=\d)")  # Fireworks: v3p3 -> v3.3, qwen2p5 -> qwen2.5
_SEPARATORS = re.compile(r"[-_.:@\s]+")  # `@`: Vertex's `claude-sonnet-4-5@20250929`
# Bedrock: `[region.]vendor.model[-vN[:M]]` (`us.anthropic.claude-sonnet-4-5-20250929-v1:0`, `meta.llama3-3-70b-
# instruct-v1:0`); the vendor and the API version are not part of the model's name.
_BEDROCK = re.compile(
    r"^(?:(us|eu|apac|global|jp|au|ca|us-gov)\.)?"
    r"(?:anthropic|meta|mistral|amazon|cohere|ai21|deepseek|openai|qwen|writer|moonshot|minimax)\."
    r"(.+?)(?:-v\d+(?::\d+)?|-\d+:\d+)?$"
)
_WORD_THEN_DIGITS = re.compile(r"^([a-z]+)(\d.*)$")  # llama3 -> llama 3; 70b and 4o stay whole
_ISO_DATE = re.compile(r"(?<!\d)(20\d\d)-(\d\d)-(\d\d)(?!\d)")  # gpt-4o-2024-08-06: one date token
_DATE = re.compile(r"^\d{4}(\d{2}(\d{2})?)?$")  # 2503, 0324, 202509, 20250929


class Match(NamedTuple):
    """The verdict for one wanted model among a provider's ids."""

    native_id: str | None  # the one id that is the same model, else None
    candidates: tuple[str, ...] = ()  # the equal candidates when ambiguous (empty when nothing matched)

    @property
    def ambiguous(self) -> bool:
        return self.native_id is None and len(self.candidates) > 1


@functools.lru_cache(maxsize=4096)
def tokens(model_id: str) -> tuple[str, ...]:
    """`accounts/fireworks/models/llama-v3p3-70b-instruct` -> ('llama', 'v', '3', '3', '70b', 'instruct')."""
    last = model_id.strip().lower().rsplit("/", 1)[-1]
    out: list[str] = []
    bedrock = _BEDROCK.match(last)
    if bedrock:
        out += [_REGION] if bedrock.group(1) else []
        last = bedrock.group(2)
    last = _ISO_DATE.sub(r"\1\2\3", _DIGIT_P_DIGIT.sub(".", last))
    for part in _SEPARATORS.split(last):
        if not part:
            continue
        glued = None if part in SERVING_WORDS else _WORD_THEN_DIGITS.match(part)
        out.extend(glued.groups() if glued else (part,))
    return tuple(out)


def _core(parts: Sequence[str]) -> tuple[str, ...]:
    return tuple(p for p in parts if p not in SERVING_WORDS)


def _undated(parts: Sequence[str]) -> tuple[str, ...]:
    return tuple(p for p in parts if not _DATE.match(p))


def tier(wanted: str, candidate: str) -> tuple[int, int, int] | None:
    """How close a candidate is, best first: (0: the same tokens, 1: the same but for serving words, 2: a
    dated snapshot of an undated request; then how many serving words differ; then 0 when the candidate's
    path names the wanted model's maker (`openai/gpt-oss-120b` over `TEE/gpt-oss-120b`)), or None: another
    model."""
    want, have = tokens(wanted), tokens(candidate)
    maker = 0 if _maker(candidate) == _maker(wanted) else 1
    if want == have:
        return (0, 0, maker)
    want_core, have_core = _core(want), _core(have)
    served = len(set(want) - set(want_core) ^ set(have) - set(have_core))
    if want_core == have_core:
        return (1, served, maker)
    if want_core == _undated(want_core) and _undated(have_core) == want_core:
        return (2, served, maker)
    return None


def _maker(model_id: str) -> str | None:
    """The path segment before the name (`meta-llama` of `meta-llama/Llama-3.3-70B-Instruct`), if any."""
    parts = model_id.lower().rsplit("/", 2)
    return parts[-2] if len(parts) > 1 else None


def match(wanted: str, available: Iterable[str], variant: str = "") -> Match:
    """The one id in `available` that is `wanted`'s model. `variant` (`turbo` from `deepinfra/turbo`) picks
    among equal candidates the single one that carries it; without a single one the answer is ambiguous."""
    # Every token of a candidate but a merged ISO date is a substring of its lower-cased id, so a candidate
    # lacking one of the wanted model's tokens cannot be it: a cheap filter before tokenising (5,000 offerings
    # in a catalogue).
    words = [t for t in _core(tokens(wanted)) if not _DATE.match(t)]
    tiers: dict[tuple[int, int, int], list[str]] = {}
    for candidate in dict.fromkeys(available):
        lowered = candidate.lower()
        if not all(w in lowered for w in words):
            continue
        rank = tier(wanted, candidate)
        if rank is not None:
            tiers.setdefault(rank, []).append(candidate)
    if not tiers:
        return Match(None)
    if variant:
        every = [c for rank in sorted(tiers) for c in tiers[rank]]
        marked = [c for c in every if variant.lower() in tokens(c)]
        if len(marked) == 1:
            return Match(marked[0])
        if len(every) > 1:
            return Match(None, tuple(every))
    best = tiers[min(tiers)]
    return Match(best[0]) if len(best) == 1 else Match(None, tuple(best))


def served_alias(model_id: str, listed: Iterable[str]) -> bool:
    """Whether `model_id` is served though the list does not name it: an undated alias of a dated id that is
    listed. Anthropic lists `claude-sonnet-4-5-20250929` and serves `claude-sonnet-4-5` too, and its aliases
    `claude-sonnet-4-0` and `claude-3-7-sonnet-latest` name `claude-sonnet-4-20250514` and
    `claude-3-7-sonnet-20250219`."""
    alias = model_id.lower()
    stems = {alias, alias.removesuffix("-latest"), alias.removesuffix("-0")}
    pattern = re.compile("(?:" + "|".join(map(re.escape, stems)) + r")-\d{8}")
    return any(pattern.fullmatch(name.lower()) for name in listed)


def closest(model_id: str, listed: Iterable[str], n: int = 3) -> list[str]:
    """Up to `n` listed ids nearest to `model_id`, for a message that says what to write instead."""
    import difflib

    names = list(dict.fromkeys(listed))
    by_lower = {name.lower(): name for name in names}
    near = difflib.get_close_matches(model_id.lower(), list(by_lower), n=n, cutoff=0.4)
    if len(near) < n:  # a differently prefixed id (`meta-llama/...` vs `llama-...`) still counts
        last = model_id.lower().rsplit("/", 1)[-1]
        tails = {name.lower().rsplit("/", 1)[-1]: name.lower() for name in names}
        for tail in difflib.get_close_matches(last, list(tails), n=n, cutoff=0.5):
            if tails[tail] not in near:
                near.append(tails[tail])
    return [by_lower[name] for name in near[:n]]
