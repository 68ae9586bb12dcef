"""Masking: placeholders and vault, policies, overlaps, unmask, output scan, and its properties."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.errors import ConfigError, PluginError
from frontdesk.masking import MaskedSpan, Masker, resolve_overlaps, unmask
from frontdesk.plugins.pii_recognizers import default_recognizers, luhn_valid
from frontdesk.types import Entity

RECOGNIZERS = default_recognizers()
MASKER = Masker(RECOGNIZERS)
_PLACED = re.compile(r"⟨[A-Z][A-Z0-9_]*_[0-9]+⟩")


def test_placeholders_number_per_type_and_repeat_for_the_same_original() -> None:
    text = "电话13812345678，备用15900001111，再说一遍13812345678，邮箱a@b.cn"
    result = MASKER.mask(text)
    assert result.text == "电话⟨PHONE_1⟩，备用⟨PHONE_2⟩，再说一遍⟨PHONE_1⟩，邮箱⟨EMAIL_1⟩"
    assert result.vault == {"⟨PHONE_1⟩": "13812345678", "⟨PHONE_2⟩": "15900001111", "⟨EMAIL_1⟩": "a@b.cn"}
    assert result.spans[0] == MaskedSpan("phone", 2, 13)
    assert result.types == ["phone", "email"]


def test_one_vault_spans_several_texts_of_a_turn() -> None:
    first = MASKER.mask("手机13812345678")
    second = MASKER.mask("还是13812345678，另一个15900001111", first.vault)
    assert second.text == "还是⟨PHONE_1⟩，另一个⟨PHONE_2⟩"
    assert second.vault is first.vault and len(first.vault) == 2


def test_policies_redact_keep_last4_and_keep() -> None:
    masker = Masker(
        RECOGNIZERS, {"phone": "keep_last4", "bank_card": "keep_last4", "email": "keep", "id_number": "redact"}
    )
    text = "手机13812345678 卡6222104332181960010 邮箱a@b.cn 身份证110101199003074610"
    result = masker.mask(text)
    assert result.text == "手机138****5678 卡****0010 邮箱a@b.cn 身份证***"
    assert result.vault == {}
    assert [s.type for s in result.spans] == ["phone", "bank_card", "id_number"]
    assert Masker(RECOGNIZERS, {"person": "keep_last4"}).mask("持卡人吴静的卡").text == "持卡人****静的卡"


def test_a_whole_default_can_be_keep() -> None:
    masker = Masker(RECOGNIZERS, {"phone": "placeholder"}, default="keep")
    assert masker.mask("a@b.cn 13812345678").text == "a@b.cn ⟨PHONE_1⟩"


def test_overlaps_longest_then_most_specific_wins() -> None:
    # an SSN is also a phone_intl-shaped number: same span, the specific type wins
    assert MASKER.mask("SSN 123-45-6789").text == "SSN ⟨SSN_1⟩"
    entities = [
        Entity("phone_intl", "", "", 0, 11),
        Entity("phone", "", "", 0, 11),
        Entity("person", "", "", 5, 20),
        Entity("email", "", "", 30, 40),
        Entity("address", "", "", 28, 32),
    ]
    kept = resolve_overlaps(entities, {"phone": 0, "person": 1, "phone_intl": 2})
    assert [(e.type, e.start) for e in kept] == [("person", 5), ("email", 30)]


def test_unmask_restores_only_allowed_types_and_tolerates_model_spelling() -> None:
    result = MASKER.mask("手机13812345678 邮箱a@b.cn")
    assert unmask(result.text, result.vault) == "手机13812345678 邮箱a@b.cn"
    assert unmask(result.text, result.vault, allow_types=["email"]) == "手机⟨PHONE_1⟩ 邮箱a@b.cn"
    assert unmask("call <PHONE_1> or ⟨ PHONE_1 ⟩", result.vault) == "call 13812345678 or 13812345678"
    assert unmask("unknown ⟨PHONE_9⟩", result.vault) == "unknown ⟨PHONE_9⟩"


def test_literal_placeholders_typed_by_a_customer_are_never_restored() -> None:
    text = "I typed ⟨PHONE_1⟩ and <PHONE_2> myself, my number is 13812345678"
    result = MASKER.mask(text)
    assert result.text == "I typed ⟨PHONE_1⟩ and <PHONE_2> myself, my number is ⟨PHONE_3⟩"
    assert unmask(result.text, result.vault) == text


def test_scan_output_masks_other_peoples_data_but_not_the_customers_own() -> None:
    vault = MASKER.mask("我的手机+86 138-1234-5678").vault
    reply = "已为您登记13812345678，另外经理电话15900001111，身份证110101199003074610"
    scanned = MASKER.scan_output(reply, vault)
    assert scanned.text == "已为您登记13812345678，另外经理电话***，身份证***"
    assert [s.type for s in scanned.spans] == ["phone", "id_number"]
    partial = Masker(RECOGNIZERS, {"phone": "keep_last4"}).scan_output("经理电话15900001111", {})
    assert partial.text == "经理电话159****1111"


def test_invalid_policy_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        Masker(RECOGNIZERS, {"phone": "hide"})
    assert err.value.code == "masking_policy_invalid"


def test_broken_recognizers_fail_closed() -> None:
    def crashes(text: str) -> list[Entity]:
        raise RuntimeError("boom")

    def out_of_range(text: str) -> list[Entity]:
        return [Entity("x", "", "", 0, len(text) + 5)]

    for recognizer in (crashes, out_of_range):
        with pytest.raises(PluginError):
            Masker({"x": recognizer}).mask("some text")


# --- properties -----------------------------------------------------------------------------

_PROVINCES = ["11", "31", "44", "51", "62", "65"]


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date.today() - timedelta(days=1)))
    head = (
        draw(st.sampled_from(_PROVINCES))
        + draw(st.from_regex(r"[0-9]{2}[0-9][1-9]", fullmatch=True))
        + born.strftime("%Y%m%d")
        + draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    )
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return head + "10X98765432"[sum(int(d) * w for d, w in zip(head, weights, strict=True)) % 11]


@st.composite
def luhn_cards(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["4", "51", "37", "6011", "62", "35"]))
    length = 15 if prefix == "37" else draw(st.sampled_from([16, 19])) if prefix in ("62", "4") else 16
    body = prefix + draw(st.from_regex(rf"[0-9]{{{length - len(prefix) - 1}}}", fullmatch=True))
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable: one check digit always fits")


@st.composite
def mobiles(draw: st.DrawFn) -> str:
    digits = "1" + draw(st.sampled_from("3456789")) + draw(st.from_regex(r"[0-9]{9}", fullmatch=True))
    sep = draw(st.sampled_from(["", " ", "-"]))
    prefix = draw(st.sampled_from(["", "+86 ", "86", "(+86)"]))
    return prefix + digits[:3] + sep + digits[3:7] + sep + digits[7:]


# Surrounding text ends on something that is not an ASCII letter or digit, as in real chat.
_FILLER = st.text(alphabet="您好我的号码是请查一下，。 ：!?", max_size=12)


@settings(max_examples=200, deadline=None)
@given(_FILLER, st.one_of(resident_ids(), luhn_cards(), mobiles()), _FILLER)
def test_valid_ids_cards_and_mobiles_are_always_masked(before: str, value: str, after: str) -> None:
    result = MASKER.mask(before + value + after)
    assert value not in result.text
    assert value in result.vault.values()


# Text made of the pieces PII is made of, so that detections, near misses and placeholders mix.
_PIECES = st.sampled_from(
    [
        "1",
        "3",
        "8",
        "0",
        "6",
        "2",
        " ",
        "*",
        "-",
        "+",
        "(",
        ")",
        ".",
        "@",
        "a",
        "X",
        "号",
        "路",
        "张",
        "先生",
        "：",
        "⟨",
        "⟩",
        "<",
        ">",
        "_",
        "PHONE",
        "13812345678",
        "110101199003074610",
        "4111111111111111",
        "我叫",
        "京A",
    ]
)
_TEXTS = st.lists(_PIECES, max_size=30).map("".join)


@pytest.mark.parametrize("policy", ["placeholder", "redact", "keep_last4"])
def test_what_masking_brings_within_a_cue_s_reach_is_masked_too(policy: str) -> None:
    # 25 characters from the cue, the digits are an order number; once the ID before them is
    # replaced by a shorter mask the cue reaches them, and masking again would mask them (found by
    # hypothesis below)
    text = "PHONE 110101199003074610(138123456781"
    masker = Masker(RECOGNIZERS, default=policy)
    once = masker.mask(text)
    assert [(s.type, text[s.start : s.end]) for s in once.spans] == [
        ("id_number", "110101199003074610"),
        ("phone_intl", "138123456781"),
    ]
    assert masker.mask(once.text).text == once.text
    if policy == "placeholder":
        assert unmask(once.text, once.vault) == text


@settings(max_examples=400, deadline=None)
@given(_TEXTS, st.sampled_from(["placeholder", "redact", "keep_last4"]))
def test_masking_is_idempotent(text: str, policy: str) -> None:
    masker = Masker(RECOGNIZERS, default=policy)
    once = masker.mask(text)
    twice = masker.mask(once.text)
    assert twice.text == once.text
    assert twice.spans == []


@settings(max_examples=400, deadline=None)
@given(_TEXTS)
def test_unmask_restores_what_mask_replaced(text: str) -> None:
    result = MASKER.mask(text)
    assert unmask(result.text, result.vault) == text
    # the spans point into the original text, at what the placeholders stand for
    placed = [result.vault[p] for p in _PLACED.findall(result.text) if p in result.vault]
    assert [text[s.start : s.end] for s in result.spans] == placed


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_round_trip_on_any_text(text: str) -> None:
    result = MASKER.mask(text)
    assert unmask(result.text, result.vault) == text


def test_detecting_the_same_text_again_gives_an_equal_independent_list() -> None:
    calls: list[str] = []

    def phone(text: str) -> list[Entity]:
        calls.append(text)
        return RECOGNIZERS["phone"](text)

    masker = Masker({"phone": phone})
    first = masker.detect("call 13812345678")
    first.clear()
    assert masker.detect("call 13812345678") == RECOGNIZERS["phone"]("call 13812345678")
    assert calls == ["call 13812345678"]  # the reply scan and the transcript mask share one detection
    assert masker.detect("no number") == [] and len(calls) == 2
