"""Reversible masking of personal data, per-type policy, and the output leak scan.

`Masker.mask` swaps what the recognizers find for placeholders such as ⟨PHONE_1⟩
and keeps the originals in a vault (one per turn); `unmask` puts back the types a
policy allows; `scan_output` masks personal data in model output that is not the
customer's own. Guarantees, tested as properties:

- the same original gets the same placeholder within one vault;
- masking masked text changes nothing (placeholders and masks are never detected);
- `unmask(mask(x).text, vault) == x` when every type's policy is "placeholder".
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, NamedTuple, get_args

from frontdesk.errors import ConfigError, PluginError
from frontdesk.types import Entity

Policy = Literal["placeholder", "redact", "keep_last4", "keep"]
POLICIES: tuple[str, ...] = get_args(Policy)
Recognizer = Callable[[str], list[Entity]]

# When two detections cover the same span, the earlier type here wins: checksummed and
# format-specific types before generic ones. Types not listed rank after all of these.
DEFAULT_PRECEDENCE: tuple[str, ...] = (
    "id_number",
    "bank_card",
    "iban",
    "ssn",
    "email",
    "ip_address",
    "phone",
    "landline",
    "passport",
    "license_plate",
    "phone_intl",
    "address",
    "person",
)

REDACTED = "***"
MAX_PASSES = 3  # of masking one text (see Masker.mask)
_RECENT = 4  # texts whose detections a Masker remembers
_Edit = tuple[int, int, str, str]  # start, end (in the original text), PII type, replacement
# Canonical ⟨TYPE_N⟩, plus the <TYPE_N> and spaced variants a model may write back.
_PLACEHOLDER = re.compile(r"[⟨<] ?([A-Z][A-Z0-9_]{0,40})_([0-9]{1,6}) ?[⟩>]")
# what masking leaves behind: placeholders, and the stars of "redact" and "keep_last4"
_MASKED = re.compile(rf"{_PLACEHOLDER.pattern}|\*{{3,}}")


@lru_cache(maxsize=256)
def placeholder_tag(pii_type: str) -> str:
    """The upper-case tag a type gets inside placeholders: "bank_card" -> "BANK_CARD"."""
    return re.sub(r"[^A-Z0-9]+", "_", pii_type.upper()).strip("_") or "PII"


class MaskedSpan(NamedTuple):
    """Where, in the text given to `mask`, one detection was replaced."""

    type: str
    start: int
    end: int


@dataclass
class MaskResult:
    text: str
    vault: dict[str, str] = field(default_factory=dict)  # placeholder -> original
    spans: list[MaskedSpan] = field(default_factory=list)

    @property
    def types(self) -> list[str]:
        """Masked types in order of first appearance (what an explain record may show)."""
        return list(dict.fromkeys(span.type for span in self.spans))


def resolve_overlaps(
    entities: Iterable[Entity], precedence: Mapping[str, int], blocked: Iterable[tuple[int, int]] = ()
) -> list[Entity]:
    """Keep non-overlapping detections: the longest first, then the type ranked first in
    `precedence`, then the leftmost. `blocked` spans (existing placeholders) keep everything off."""
    unranked = len(precedence)
    ordered = sorted(entities, key=lambda e: (e.start - e.end, precedence.get(e.type, unranked), e.start))
    starts: list[int] = []
    ends: list[int] = []
    for start, end in sorted(blocked):
        starts.append(start)
        ends.append(end)
    kept: list[Entity] = []
    for ent in ordered:
        # kept spans are disjoint and sorted, so of those starting before our end the last one
        # reaches furthest: it alone decides whether we overlap
        i = bisect_left(starts, ent.end)
        if i and ends[i - 1] > ent.start:
            continue
        starts.insert(i, ent.start)
        ends.insert(i, ent.end)
        kept.append(ent)
    return sorted(kept, key=lambda e: e.start)


def _keep_last4(pii_type: str, original: str) -> str:
    chars = [ch for ch in original if ch.isalnum()]
    if pii_type == "phone" and len(chars) >= 11:
        return "".join(chars[-11:-8]) + "****" + "".join(chars[-4:])  # the mainland custom
    # never show more than half: "****三" for a two-character name, "****1234" for a card
    keep = min(4, len(chars) // 2)
    return "****" + "".join(chars[len(chars) - keep :])


class Masker:
    """Masks what `recognizers` find, by type, following `policy` (type -> Policy)."""

    def __init__(
        self,
        recognizers: Mapping[str, Recognizer],
        policy: Mapping[str, str] | None = None,
        *,
        default: str = "placeholder",
        precedence: Iterable[str] = DEFAULT_PRECEDENCE,
    ) -> None:
        policy = dict(policy or {})
        for pii_type, value in [*policy.items(), ("(default)", default)]:
            if value not in POLICIES:
                raise ConfigError(
                    f"masking policy {value!r} for {pii_type} is not one of {', '.join(POLICIES)}",
                    code="masking_policy_invalid",
                    hint="use placeholder (reversible), redact, keep_last4 or keep",
                )
        self.recognizers = dict(recognizers)
        self.policy = policy
        self.default = default
        self.precedence = {name: rank for rank, name in enumerate(precedence)}
        # recognizers whose type is kept as written are not even run
        self._active = [(n, r) for n, r in self.recognizers.items() if self.policy_for(n) != "keep"]
        self._filter_kept = default == "keep" or "keep" in policy.values()
        # the last texts detected and what was found (detection depends on nothing but the text):
        # the output guard scans a reply, then masks the same text for the transcript, and `mask`
        # looks at its own result once more
        self._recent: dict[str, tuple[Entity, ...]] = {}

    def policy_for(self, pii_type: str) -> str:
        return self.policy.get(pii_type, self.default)

    def detect(self, text: str) -> list[Entity]:
        """Every detection to mask, overlaps resolved, placeholders in `text` left alone."""
        if (known := self._recent.get(text)) is not None:
            return list(known)
        source = text  # the cache key, before placeholders are made inert below
        found: list[Entity] = []
        size = len(text)
        blocked = [m.span() for m in _MASKED.finditer(text)] if _may_hold_mask(text) else []
        if blocked:
            # Recognizers see earlier masks as inert letters of the same length: the word PHONE
            # in ⟨PHONE_1⟩ must not cue a nearby number, and a number glued to a masked one must
            # stay as undetectable as it was next to the original (which is what makes masking
            # idempotent).
            text = _MASKED.sub(lambda m: "q" * len(m.group()), text)
        for name, recognizer in self._active:
            try:
                entities = recognizer(text)
            except Exception as exc:  # a broken recognizer must not let data through unmasked
                raise PluginError(
                    f"PII recognizer {name!r} failed: {exc!r}",
                    code="pii_recognizer_failed",
                    hint="fix or disable the plugin that registers it",
                ) from exc
            for ent in entities:
                if not 0 <= ent.start < ent.end <= size:
                    raise PluginError(
                        f"PII recognizer {name!r} returned span {ent.start}:{ent.end} "
                        f"outside a text of {size} characters",
                        code="pii_recognizer_failed",
                    )
            found += entities
        if self._filter_kept:
            found = [ent for ent in found if self.policy_for(ent.type) != "keep"]
        kept = resolve_overlaps(found, self.precedence, blocked) if found else []
        if len(self._recent) >= _RECENT:
            del self._recent[next(iter(self._recent))]
        self._recent[source] = tuple(kept)
        return kept

    def mask(self, text: str, vault: dict[str, str] | None = None) -> MaskResult:
        """Replace detections by policy. Pass the turn's `vault` to mask several texts with
        consistent placeholders; it is extended in place and returned in the result.

        The masked text holds nothing more to mask: a placeholder is usually shorter than what
        it replaced, which can bring a cue ("phone") within reach of a number it was too far
        from. So the result is searched again (at most MAX_PASSES times in all) until nothing
        more is found, and masking it once more changes nothing."""
        vault = {} if vault is None else vault
        found = self.detect(text)
        if not found:  # most messages: nothing to replace or to number
            return MaskResult(text, vault)
        by_original = {(_tag_of(ph), original): ph for ph, original in vault.items()}
        taken = _taken_numbers(text, vault)
        edits: list[_Edit] = []  # disjoint and sorted
        current = text
        for _ in range(MAX_PASSES):
            fresh: list[_Edit] = []
            spans = _source_spans(edits, [(ent.start, ent.end) for ent in found])
            for (start, end), ent in zip(spans, found, strict=True):
                if fresh and start < fresh[-1][1]:
                    continue  # both reach into one earlier edit, which the first now covers
                original = text[start:end]
                how = self.policy_for(ent.type)
                if how == "placeholder":
                    tag = placeholder_tag(ent.type)
                    replacement = by_original.get((tag, original))
                    if replacement is None:
                        replacement = _new_placeholder(tag, taken)
                        vault[replacement] = original
                        by_original[(tag, original)] = replacement
                elif how == "keep_last4":
                    replacement = _keep_last4(ent.type, original)
                else:
                    replacement = REDACTED
                fresh.append((start, end, ent.type, replacement))
            edits = _merge_edits(edits, fresh)
            current = _apply(text, edits)
            found = self.detect(current)
            if not found:
                break
        return MaskResult(current, vault, [MaskedSpan(pii_type, start, end) for start, end, pii_type, _ in edits])

    def scan_output(self, text: str, vault: Mapping[str, str]) -> MaskResult:
        """Mask personal data in model output unless it is the customer's own (in `vault`).
        Found data is hidden irreversibly: "placeholder" types are redacted, since the
        customer must never see a placeholder nobody can restore."""
        found = self.detect(text)
        if not found:
            return MaskResult(text, dict(vault))
        own_text = set(vault.values())
        own_values = {
            ent.value
            for original in own_text
            for recognizer in self.recognizers.values()
            for ent in recognizer(original)
        }
        edits: list[_Edit] = []
        for ent in found:
            original = text[ent.start : ent.end]
            if original in own_text or ent.value in own_values:
                continue
            how = self.policy_for(ent.type)
            replacement = _keep_last4(ent.type, original) if how == "keep_last4" else REDACTED
            edits.append((ent.start, ent.end, ent.type, replacement))
        return MaskResult(_apply(text, edits), dict(vault), [MaskedSpan(t, start, end) for start, end, t, _ in edits])


def unmask(text: str, vault: Mapping[str, str], allow_types: Collection[str] | None = None) -> str:
    """Put originals back for placeholders in `vault` whose type is in `allow_types` (all types
    when None). Accepts the <PHONE_1> and spaced variants a model may write."""
    if not vault or not _may_hold_placeholder(text):
        return text
    allowed = None if allow_types is None else {placeholder_tag(t) for t in allow_types}

    def restore(m: re.Match[str]) -> str:
        key = f"⟨{m.group(1)}_{m.group(2)}⟩"
        if key in vault and (allowed is None or m.group(1) in allowed):
            return vault[key]
        return m.group()

    return _PLACEHOLDER.sub(restore, text)


def restyle(text: str, vault: Mapping[str, str], policy: Mapping[str, str]) -> str:
    """Re-render the vault's placeholders in `text` under another policy (a stored view), without
    detecting anything again: "redact" -> ***, "keep_last4" -> ****1234, "keep" -> the original."""
    if not vault or not _may_hold_placeholder(text):
        return text
    types = {placeholder_tag(t): t for t in policy}

    def swap(m: re.Match[str]) -> str:
        key = f"⟨{m.group(1)}_{m.group(2)}⟩"
        pii_type, original = types.get(m.group(1)), vault.get(key)
        if pii_type is None or original is None:
            return m.group()
        chosen = policy[pii_type]
        if chosen == "redact":
            return REDACTED
        if chosen == "keep_last4":
            return _keep_last4(pii_type, original)
        return original if chosen == "keep" else m.group()

    return _PLACEHOLDER.sub(swap, text)


def _may_hold_placeholder(text: str) -> bool:
    return "⟨" in text or "<" in text


def _may_hold_mask(text: str) -> bool:
    return _may_hold_placeholder(text) or "***" in text


def _tag_of(placeholder: str) -> str:
    return placeholder[1:].rsplit("_", 1)[0]


def _apply(text: str, edits: list[_Edit]) -> str:
    out: list[str] = []
    pos = 0
    for start, end, _, replacement in edits:
        out += (text[pos:start], replacement)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _source_spans(edits: list[_Edit], spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Where each span (sorted, disjoint) of the text `edits` made lies in the text they were made
    to; a span reaching into an edit covers the edit whole. One walk over both lists."""
    out = []
    i, shift = 0, 0  # edits[:i] end before the current span; `shift`: how much they lengthened the text
    for start, end in spans:
        while i < len(edits) and edits[i][0] + shift + len(edits[i][3]) <= start:
            shift += len(edits[i][3]) - (edits[i][1] - edits[i][0])
            i += 1
        inside = i < len(edits) and edits[i][0] + shift <= start
        source_start = edits[i][0] if inside else start - shift
        j, later_shift = i, shift
        while j < len(edits) and edits[j][0] + later_shift + len(edits[j][3]) < end:
            later_shift += len(edits[j][3]) - (edits[j][1] - edits[j][0])
            j += 1
        inside = j < len(edits) and edits[j][0] + later_shift < end
        out.append((source_start, edits[j][1] if inside else end - later_shift))
    return out


def _merge_edits(edits: list[_Edit], fresh: list[_Edit]) -> list[_Edit]:
    """Both lists sorted and disjoint; an earlier edit a fresh one overlaps is dropped (the fresh one
    covers it whole)."""
    merged: list[_Edit] = []
    i = 0
    for edit in fresh:
        while i < len(edits) and edits[i][1] <= edit[0]:
            merged.append(edits[i])
            i += 1
        while i < len(edits) and edits[i][0] < edit[1]:
            i += 1  # covered by `edit`
        merged.append(edit)
    return merged + edits[i:]


def _taken_numbers(text: str, vault: Mapping[str, str]) -> dict[str, set[int]]:
    """Numbers already used per tag, in the vault or written in the text itself: a customer who
    types "⟨PHONE_1⟩" literally must not have it restored into someone's number."""
    taken: dict[str, set[int]] = {}
    for source in (*vault, text) if _may_hold_placeholder(text) else vault:
        for m in _PLACEHOLDER.finditer(source):
            taken.setdefault(m.group(1), set()).add(int(m.group(2)))
    return taken


def _new_placeholder(tag: str, taken: dict[str, set[int]]) -> str:
    used = taken.setdefault(tag, set())
    n = len(used) + 1
    while n in used:
        n += 1
    used.add(n)
    return f"⟨{tag}_{n}⟩"
