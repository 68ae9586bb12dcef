"""Bilingual lexicon emotion detection: labels, negation, intensity, ruleset cues, degenerate input."""

from __future__ import annotations

import random

import pluggy
import pytest
from call_counting import count_calls
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk import hookspecs
from frontdesk.errors import ConfigError
from frontdesk.plugin_manager import collect_registry
from frontdesk.plugins import emotion_lexicon
from frontdesk.plugins.emotion_lexicon import MAX_CUES, lexicon_detector
from frontdesk.types import Emotion

detect = lexicon_detector({})


def test_registered_through_the_plugin_manager_like_any_plugin() -> None:
    pm = pluggy.PluginManager("frontdesk")
    pm.add_hookspecs(hookspecs)
    pm.register(emotion_lexicon)
    factory = collect_registry(pm).emotion_detectors["lexicon"]
    emotion = factory({"anger": ["找你们领导"]})("我要找你们领导", "zh")
    assert isinstance(emotion, Emotion)
    assert (emotion.label, emotion.anger, emotion.cues) == ("negative", True, ["找你们领导"])


@pytest.mark.parametrize(
    ("text", "label"),
    [
        # Chinese customer service
        ("你们真行,发错货还拖三天!", "negative"),
        ("太差劲了我要投诉", "negative"),
        ("等了一个星期都没人管，太失望了", "negative"),
        ("客服态度敷衍", "negative"),
        ("呵呵", "negative"),
        ("服了", "negative"),
        ("真是服了你们了", "negative"),
        ("无语", "negative"),
        ("东西质量太差了", "negative"),
        ("好慢啊", "negative"),
        ("谢谢你们全家", "negative"),
        ("好的谢谢", "positive"),
        ("非常满意,下次还来", "positive"),
        ("客服很耐心，给力！", "positive"),
        ("不错不错", "positive"),
        ("问题解决了，感谢", "positive"),
        ("我的订单到哪了", "neutral"),
        ("帮我查下物流", "neutral"),
        ("不好意思,我想问一下发票", "neutral"),
        ("你好", "neutral"),
        ("麻烦转个人工", "neutral"),
        ("好像还没发货", "neutral"),
        ("快递怎么还没到", "neutral"),  # a question, not yet a complaint
        ("快递怎么还没到？？？", "negative"),  # ...until it is repeated
        # English
        ("This is terrible service", "negative"),
        ("I'm very disappointed with my order", "negative"),
        ("the package arrived damaged", "negative"),
        ("It still doesn't work", "negative"),
        ("Thanks for nothing", "negative"),
        ("oh great, just great", "negative"),
        ("thank you so much, very helpful", "positive"),
        ("Great, it works now", "positive"),
        ("where is my order", "neutral"),
        ("I need to change my address", "neutral"),
        ("good morning, I have a question", "neutral"),
        # emoji and WeChat stickers
        ("收到了👍", "positive"),
        ("还没到😭", "negative"),
        ("[抓狂][抓狂]", "negative"),
    ],
)
def test_labels(text: str, label: str) -> None:
    assert detect(text, "zh").label == label


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("不满意", "negative"),
        ("不太好", "negative"),
        ("不是很满意", "negative"),
        ("没那么好", "negative"),
        ("一点都不专业", "negative"),
        ("没问题", "positive"),
        ("没有问题，谢谢", "positive"),
        ("不差", "positive"),
        ("东西不错", "positive"),
        ("not happy", "negative"),
        ("I'm not very happy", "negative"),
        ("I don't think it's good", "negative"),
        ("the agent wasn't helpful", "negative"),
        ("never satisfied with you", "negative"),
        ("not bad", "positive"),
        ("no problem", "positive"),
        ("not bad at all, thanks", "positive"),
        # negation stops at a clause boundary
        ("不,很好", "positive"),
        ("no, it's good", "positive"),
    ],
)
def test_negation(text: str, label: str) -> None:
    assert detect(text, "en").label == label


def test_negation_is_weaker_than_the_opposite_word() -> None:
    assert detect("not bad", "en").score < detect("good", "en").score
    assert detect("不差", "zh").score < detect("好", "zh").score


def test_intensifiers_strengthen_and_softeners_weaken() -> None:
    score = {text: detect(text, "zh").score for text in ("满意", "非常满意", "有点失望", "失望", "太失望")}
    assert score["非常满意"] > score["满意"] > 0
    assert score["太失望"] < score["失望"] < score["有点失望"] < 0
    assert detect("very bad", "en").score < detect("bad", "en").score < detect("a bit bad", "en").score < 0
    # an intensifier before the negation counts; one inside it softens
    assert detect("非常不满意", "zh").score < detect("不满意", "zh").score
    assert detect("不太好", "zh").score > detect("太差", "zh").score


def test_exclamation_marks_and_all_caps_raise_intensity() -> None:
    calm, loud, louder = (detect(t, "zh").score for t in ("太差了", "太差了!", "太差了！！！"))
    assert louder < loud < calm < 0
    assert detect("THIS IS TERRIBLE", "en").score < detect("this is terrible", "en").score
    assert detect("the WORST", "en").score < detect("the worst", "en").score
    assert detect("WHERE IS MY ORDER", "en").label == "neutral"  # shouting adds intensity, not a feeling


@pytest.mark.parametrize(
    "text",
    [
        "我要投诉你们",
        "再不处理我就打12315",
        "我要去消协曝光你们",
        "骗子公司",
        "什么垃圾东西",
        "赶紧退钱",
        "I will call my lawyer",
        "this is a scam",
        "ridiculous",
        "worst company ever",
        "😡",
    ],
)
def test_anger(text: str) -> None:
    emotion = detect(text, "zh")
    assert emotion.anger and emotion.label == "negative" and emotion.score <= -0.5


@pytest.mark.parametrize("text", ["12315678901", "issue a refund", "垃圾袋在哪买", "页面滚动不了", "sue's order"])
def test_not_anger(text: str) -> None:
    assert not detect(text, "zh").anger


@pytest.mark.parametrize(
    "text",
    [
        "急!",
        "着急用",
        "马上给我处理",
        "赶紧发货",
        "请立刻回复",
        "尽快",
        "urgent",
        "ASAP please",
        "I need it immediately",
        "right now",
    ],
)
def test_urgency(text: str) -> None:
    assert detect(text, "zh").urgency


@pytest.mark.parametrize("text", ["不急,慢慢来", "不着急", "no rush", "not urgent", "快递到了", "今天发货了吗"])
def test_not_urgent(text: str) -> None:
    assert not detect(text, "zh").urgency


def test_cues_name_the_matched_phrases_with_their_negation() -> None:
    assert detect("你们真行,发错货还拖三天!", "zh").cues == ["你们真行", "发错", "拖"]
    assert detect("I'm NOT HAPPY, this is the Worst", "en").cues == ["NOT HAPPY", "Worst"]
    emotion = detect("差" * 1000, "zh")
    assert emotion.cues == ["差"]
    assert len(detect(" ".join(f"bad{i} terrible awful horrible poor worst" for i in range(50)), "en").cues) <= MAX_CUES


def test_mixed_language_works_whatever_language_says() -> None:
    text = "这个 service 太 terrible 了, 我要投诉"
    for language in ("zh", "en", "fr", ""):
        emotion = detect(text, language)
        assert emotion.label == "negative" and emotion.anger
        assert emotion.cues == ["terrible", "投诉"]


# --- ruleset cues -------------------------------------------------------------


def test_ruleset_cues_extend_the_lexicon() -> None:
    plain = detect("货不对板，再也不买了", "zh")
    assert plain.label == "neutral"
    shop = lexicon_detector(
        {
            "negative": ["货不对板", "再也不买"],
            "positive": ["五星", "回购"],
            "anger": ["找你们领导"],
            "urgency": ["马上要用"],
        }
    )
    emotion = shop("货不对板，再也不买了", "zh")
    assert emotion.label == "negative" and emotion.cues == ["货不对板", "再也不买"]
    assert shop("五星好评，会回购", "zh").label == "positive"
    assert shop("叫你们领导来，不，我要找你们领导", "zh").anger
    assert shop("马上要用", "zh").urgency
    # other detectors keep the plain lexicon
    assert detect("货不对板", "zh").label == "neutral"


def test_ruleset_cues_override_and_match_case_insensitively() -> None:
    bank = lexicon_detector({"anger": ["Ombudsman", "FCA"], "positive": ["呵呵"]})
    assert bank("I'm going to the ombudsman", "en").anger
    assert bank("reporting you to the fca", "en").anger
    assert bank("呵呵", "zh").label == "positive"  # this ruleset's customers mean it kindly
    assert not bank("fcache", "en").anger  # whole words only


def test_ruleset_cues_are_negated_like_built_in_words() -> None:
    shop = lexicon_detector({"positive": ["五星"]})
    assert shop("不是五星", "zh").label == "negative"


@pytest.mark.parametrize(
    "cues",
    [
        {"angry": ["x"]},  # a typo in the kind
        {"negative": ["ok", ""]},
        {"negative": ["ok", 12]},
        {"negative": ["   "]},
    ],
)
def test_invalid_ruleset_cues_are_config_errors(cues: dict[str, list[object]]) -> None:
    with pytest.raises(ConfigError) as info:
        lexicon_detector(cues)  # type: ignore[arg-type]
    assert info.value.hint


def test_factory_accepts_none_and_a_bare_string() -> None:
    assert lexicon_detector(None)("好", "zh").label == "positive"
    assert lexicon_detector({"anger": "找领导"})("我要找领导", "zh").anger  # type: ignore[dict-item]


# --- degenerate input and linear work -----------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "\ud800",
        "\udfff差\ud800",
        "\x00\x1b[31m\x7f",
        "😡" * 50,
        "İİİ TERRIBLE İ",
        "!" * 1000,
        "?" * 100,
        "A" * 1000,
    ],
)
def test_degenerate_input_never_raises(text: str) -> None:
    emotion = detect(text, "zh")
    assert emotion.label in ("negative", "neutral", "positive")
    assert -1.0 <= emotion.score <= 1.0


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.one_of(st.sampled_from("不没很太非常差好急!！?A Znotbadvery呵服"), st.characters()), max_size=80
    )
)
def test_any_text_gives_a_valid_emotion(text: str) -> None:
    emotion = detect(text, "zh")
    assert -1.0 <= emotion.score <= 1.0
    assert (emotion.label == "negative") == (emotion.score <= -0.25)
    assert (emotion.label == "positive") == (emotion.score >= 0.25)
    assert len(emotion.cues) <= MAX_CUES


def test_lexicon_pattern_reads_a_bounded_stretch() -> None:
    from re import _parser  # the stdlib's own regex parser, to read the pattern's width

    lexicon = emotion_lexicon._lexicon(())
    patterns = [lexicon.words, lexicon.others, lexicon.others_bmp]
    assert all(patterns) and lexicon.others_bmp is not lexicon.others  # the lexicon has emoji phrases
    for pattern in patterns:
        _, widest = _parser.parse(pattern.pattern, pattern.flags).getwidth()
        assert widest <= 40


def test_work_grows_linearly_on_adversarial_input() -> None:
    rng = random.Random(3)
    alphabet = "不没非常太很差好急呵服了!！ notbadveryNOT"

    def inputs(size: int) -> list[str]:
        soup = "".join(rng.choice(alphabet) for _ in range(size))
        pieces = ["不", "不不好", "非常", "very ", "not ", "差", "a", "12315", "!", "呵呵"]
        return [soup, *((p * (size // len(p) + 1))[:size] for p in pieces)]

    small = [count_calls(lambda t=t: detect(t, "zh")) for t in inputs(10_000)]
    large = [count_calls(lambda t=t: detect(t, "zh")) for t in inputs(100_000)]
    for few, many in zip(small, large, strict=True):
        assert many <= 12 * few + 100, (few, many)
        assert many <= 15 * 100_000


def _reference_matches(lexicon: emotion_lexicon.Lexicon, text: str) -> list[tuple[int, int]]:
    """Both full scans merged in text order, overlaps dropped: what the gated scans must equal."""
    merged = sorted([*lexicon.words.finditer(text), *lexicon.others.finditer(text)], key=lambda m: m.start())
    kept, last_end = [], 0
    for m in merged:
        if m.start() >= last_end:
            kept.append(m.span())
            last_end = m.end()
    return kept


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.one_of(st.sampled_from("不好差太非常 notbadverygood!😊😡👍[]怒呵"), st.characters()), max_size=40
    )
)
def test_gated_scans_find_what_both_full_scans_find(text: str) -> None:
    lexicon = emotion_lexicon._lexicon(())
    lowered = text.lower()
    assert [m.span() for m in lexicon.matches(lowered)] == _reference_matches(lexicon, lowered)
