"""Built-in entity recognizers: real customer-service text in Chinese and English."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pluggy
import pytest
from call_counting import count_calls
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk import hookspecs
from frontdesk.plugin_manager import collect_registry
from frontdesk.plugins import entity_recognizers as er
from frontdesk.plugins.entity_recognizers import RECOGNIZERS, parse_cn_number
from frontdesk.types import Entity

# Wednesday 18 November 2026, 10:00 in Beijing
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=timezone(timedelta(hours=8)))


def found(kind: str, text: str, now: datetime = NOW) -> list[tuple[object, str]]:
    entities = RECOGNIZERS[kind](text, now)
    for ent in entities:
        assert ent.type == kind and ent.source == "builtin"
        assert text[ent.start : ent.end] == ent.text
    return [(ent.value, ent.text) for ent in entities]


def values(kind: str, text: str, now: datetime = NOW) -> list[object]:
    return [value for value, _ in found(kind, text, now)]


# --- registration -------------------------------------------------------------


def test_registered_through_the_plugin_manager_like_any_plugin() -> None:
    pm = pluggy.PluginManager("frontdesk")
    pm.add_hookspecs(hookspecs)
    pm.register(er)
    registry = collect_registry(pm)
    assert set(registry.entity_recognizers) == {"order_number", "amount", "date", "time", "mobile"}
    recognize = registry.entity_recognizers["mobile"]
    assert recognize("手机13812345678", NOW) == [Entity("mobile", "13812345678", "13812345678", 2, 13, "builtin")]


# --- Chinese numerals ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("一百二十八", 128),
        ("两千", 2000),
        ("三点五", 3.5),
        ("十二", 12),
        ("十", 10),
        ("二十", 20),
        ("一百一十", 110),
        ("一百零五", 105),
        ("一千零五十", 1050),
        ("两千五", 2500),
        ("三百五", 350),
        ("一万五", 15000),
        ("一万零五百", 10500),
        ("一千二百三十四万五千六百七十八", 12345678),
        ("一亿两千万", 120_000_000),
        ("二〇二六", 2026),
        ("零", 0),
        ("壹仟贰佰", 1200),
        ("零点五", 0.5),
    ],
)
def test_parse_cn_number(text: str, value: float) -> None:
    assert parse_cn_number(text) == value


@pytest.mark.parametrize(
    "text", ["", "百", "千", "点五", "两点", "一百一千", "五五五十", "万一", "一万亿", "abc", "三x"]
)
def test_parse_cn_number_rejects_non_numerals(text: str) -> None:
    assert parse_cn_number(text) is None


# --- order numbers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的订单2024112212345678怎么还没发货", [("2024112212345678", "2024112212345678")]),
        ("订单号：202601051234567890", [("202601051234567890", "202601051234567890")]),
        ("单号是 1234567890", [("1234567890", "1234567890")]),
        ("SO20241122001 到哪了", [("SO20241122001", "SO20241122001")]),
        ("订单DD123456789退款", [("DD123456789", "DD123456789")]),
        ("dd 123456789", [("DD123456789", "dd 123456789")]),
        ("ＳＯ２０２４１１２２００１", [("SO20241122001", "ＳＯ２０２４１１２２００１")]),
        ("order 2024 1122 1234 5678 please", [("2024112212345678", "2024 1122 1234 5678")]),
        ("Order #112-1234567-1234567 hasn't shipped", [("112-1234567-1234567", "112-1234567-1234567")]),
        # after a keyword even a short id counts
        ("order #12345678", [("12345678", "12345678")]),
        ("Order number: 87654321", [("87654321", "87654321")]),
        ("订单号是12345678", [("12345678", "12345678")]),
        (
            "两个订单：2024112212345678 和 2024112212345679",
            [
                ("2024112212345678", "2024112212345678"),
                ("2024112212345679", "2024112212345679"),
            ],
        ),
    ],
)
def test_order_numbers(text: str, expected: list[tuple[object, str]]) -> None:
    assert found("order_number", text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "我的手机13812345678",  # an 11-digit mobile is not an order
        "+8613812345678",
        "008613812345678",
        "打12315投诉",  # hotline
        "12345678",  # too short without a keyword
        "2026-11-22",
        "20261122",
        "退了2024112212345678元?",  # followed by a currency: an amount
        "¥2024112212345",
        "USD1234567890",
        "QQ123456789",
        "版本 v1.2.3.4567890",
        "1234567890.50",
        "123456789012345678901234",  # longer than any id
        "138 1234 5678",
    ],
)
def test_not_order_numbers(text: str) -> None:
    assert values("order_number", text) == []


def test_order_number_containing_a_mobile_is_one_order() -> None:
    assert found("order_number", "订单2024113812345678") == [("2024113812345678", "2024113812345678")]
    assert values("mobile", "订单2024113812345678") == []
    assert values("mobile", "订单DD13812345678") == []


# --- amounts ------------------------------------------------------------------


def cny(amount: float) -> dict[str, object]:
    return {"amount": amount, "currency": "CNY"}


def usd(amount: float) -> dict[str, object]:
    return {"amount": amount, "currency": "USD"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("¥128", [(cny(128), "¥128")]),
        ("￥128元", [(cny(128), "￥128元")]),
        ("退我128元", [(cny(128), "128元")]),
        ("运费 128.50 元", [(cny(128.5), "128.50 元")]),
        ("一百二十八元", [(cny(128), "一百二十八元")]),
        ("花了两千块买的", [(cny(2000), "两千块")]),
        ("预算3千左右", [(cny(3000), "3千")]),
        ("1.5万的手机", [(cny(15000), "1.5万")]),
        ("两万块钱", [(cny(20000), "两万块钱")]),
        ("三块五一斤", [(cny(3), "三块")]),
        ("才三块五", [(cny(3.5), "三块五")]),
        ("3元5角", [(cny(3.5), "3元5角")]),
        ("99元2件", [(cny(99), "99元")]),
        ("1,299.00元", [(cny(1299), "1,299.00元")]),
        ("人民币500元", [(cny(500), "500元")]),
        ("50美元", [(usd(50), "50美元")]),
        ("$12.99", [(usd(12.99), "$12.99")]),
        ("It was $1,299 total", [(usd(1299), "$1,299")]),
        ("12 dollars", [(usd(12), "12 dollars")]),
        ("about 5 bucks", [(usd(5), "5 bucks")]),
        ("USD 5", [(usd(5), "USD 5")]),
        ("usd5", [(usd(5), "usd5")]),
        ("RMB 100", [(cny(100), "RMB 100")]),
        ("100 rmb", [(cny(100), "100 rmb")]),
        ("a $3k laptop", [(usd(3000), "$3k")]),
        ("HK$ 20", [({"amount": 20, "currency": "HKD"}, "HK$ 20")]),
        ("€15", [({"amount": 15, "currency": "EUR"}, "€15")]),
        ("£89.99", [({"amount": 89.99, "currency": "GBP"}, "£89.99")]),
        ("200港币", [({"amount": 200, "currency": "HKD"}, "200港币")]),
        ("退款50元，运费10块", [(cny(50), "50元"), (cny(10), "10块")]),
    ],
)
def test_amounts(text: str, expected: list[tuple[object, str]]) -> None:
    assert found("amount", text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "打12315投诉",  # a hotline, not money
        "我要128",  # a bare number has no currency
        "买了3件",
        "三块蛋糕",  # 块 counting pieces
        "我们一块去",  # 块 meaning together
        "元旦快乐",
        "走了3千米",  # kilometres
        "3万步",
        "两千",  # a Chinese numeral needs a currency
        "50%的折扣",
        "12 dollarsign",
    ],
)
def test_not_amounts(text: str) -> None:
    assert values("amount", text) == []


# --- dates --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22发货", ["2026-11-22"]),
        ("2026/11/22", ["2026-11-22"]),
        ("2026.11.22", ["2026-11-22"]),
        ("2026年11月22日", ["2026-11-22"]),
        ("11月22日下单", ["2026-11-22"]),
        ("11月22号到", ["2026-11-22"]),
        ("11月22", ["2026-11-22"]),
        ("十一月二十二日", ["2026-11-22"]),
        ("今天", ["2026-11-18"]),
        ("明天能到吗", ["2026-11-19"]),
        ("后天", ["2026-11-20"]),
        ("大后天", ["2026-11-21"]),
        ("昨天买的", ["2026-11-17"]),
        ("前天", ["2026-11-16"]),
        ("大前天", ["2026-11-15"]),
        ("今晚", ["2026-11-18"]),
        ("下周一", ["2026-11-23"]),
        ("上周五", ["2026-11-13"]),
        ("周三", ["2026-11-18"]),
        ("星期天", ["2026-11-22"]),
        ("这个礼拜六", ["2026-11-21"]),
        ("下下周二", ["2026-12-01"]),
        ("3天后", ["2026-11-21"]),
        ("两周前", ["2026-11-04"]),
        ("tomorrow", ["2026-11-19"]),
        ("Yesterday", ["2026-11-17"]),
        ("today", ["2026-11-18"]),
        ("the day after tomorrow", ["2026-11-20"]),
        ("next Monday", ["2026-11-23"]),
        ("last Friday", ["2026-11-13"]),
        ("this fri", ["2026-11-20"]),
        ("on Monday", ["2026-11-16"]),
        ("Nov 22", ["2026-11-22"]),
        ("November 22nd, 2025", ["2025-11-22"]),
        ("22 November", ["2026-11-22"]),
        ("22nd of Nov 2027", ["2027-11-22"]),
        ("11/22", ["2026-11-22"]),
        ("22/11", ["2026-11-22"]),
        ("11/22/2026", ["2026-11-22"]),
        ("in 3 days", ["2026-11-21"]),
        ("2 weeks ago", ["2026-11-04"]),
        ("２０２６－１１－２２", ["2026-11-22"]),
    ],
)
def test_dates(text: str, expected: list[str]) -> None:
    assert values("date", text) == expected


def test_date_spans() -> None:
    assert found("date", "我明天下午3点在家,下周一也行") == [("2026-11-19", "明天"), ("2026-11-23", "下周一")]
    assert found("date", "ordered on Nov 22, 2025 and again 11/23") == [
        ("2025-11-22", "Nov 22, 2025"),
        ("2026-11-23", "11/23"),
    ]


@pytest.mark.parametrize(
    ("now", "text", "expected"),
    [
        # a date without a year is the one closest to the message
        (datetime(2027, 1, 5, tzinfo=UTC), "12月28日下的单", "2026-12-28"),
        (datetime(2026, 12, 30, tzinfo=UTC), "1月2日能到吗", "2027-01-02"),
        (datetime(2026, 12, 31, tzinfo=UTC), "明天", "2027-01-01"),
        (datetime(2028, 3, 1, tzinfo=UTC), "昨天", "2028-02-29"),
        # weeks start on Monday: on Sunday 下周一 is tomorrow
        (datetime(2026, 11, 22, tzinfo=UTC), "下周一", "2026-11-23"),
        (datetime(2026, 11, 23, tzinfo=UTC), "周日", "2026-11-29"),
        # the message's own time zone decides what "today" is
        (datetime(2026, 11, 18, 23, 30, tzinfo=timezone(timedelta(hours=-5))), "today", "2026-11-18"),
    ],
)
def test_relative_dates_follow_now(now: datetime, text: str, expected: str) -> None:
    assert values("date", text, now) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "升级到3.11.22版本",  # a version, not a date
        "v2024.11.22",
        "python 3.11.2",
        "2026-13-45",  # no such date
        "2月30日",
        "一周一次",  # a frequency
        "每周一",  # a habit
        "三个月",
        "1/2的概率",  # a fraction
        "24/7 support",
        "12/345",
        "1999年",
        "may I ask",
        "sunny day",
    ],
)
def test_not_dates(text: str) -> None:
    assert values("date", text) == []


# --- times --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15:30", [("15:30", "15:30")]),
        ("9:05送到", [("09:05", "9:05")]),
        ("１５：３０", [("15:30", "１５：３０")]),
        ("2026-11-22 15:30:45", [("15:30", "15:30:45")]),
        ("下午3点", [("15:00", "下午3点")]),
        ("下午三点半", [("15:30", "下午三点半")]),
        ("晚上八点半", [("20:30", "晚上八点半")]),
        ("今晚8点", [("20:00", "晚8点")]),
        ("早上8点", [("08:00", "早上8点")]),
        ("上午10点一刻", [("10:15", "上午10点一刻")]),
        ("中午12点", [("12:00", "中午12点")]),
        ("中午1点", [("13:00", "中午1点")]),
        ("凌晨2点", [("02:00", "凌晨2点")]),
        ("晚上12点", [("00:00", "晚上12点")]),
        ("下午3:30", [("15:30", "下午3:30")]),
        ("3点15分", [("03:15", "3点15分")]),
        ("三点零五分", [("03:05", "三点零五分")]),
        ("十点整", [("10:00", "十点整")]),
        ("一点钟", [("01:00", "一点钟")]),
        ("15点", [("15:00", "15点")]),
        ("3pm", [("15:00", "3pm")]),
        ("at 3 PM", [("15:00", "3 PM")]),
        ("3:30 pm", [("15:30", "3:30 pm")]),
        ("11 a.m.", [("11:00", "11 a.m.")]),
        ("12am", [("00:00", "12am")]),
        ("12pm", [("12:00", "12pm")]),
        ("noon", [("12:00", "noon")]),
        ("around midnight", [("00:00", "midnight")]),
        ("7 o'clock", [("07:00", "7 o'clock")]),
        ("12 o'clock", [("12:00", "12 o'clock")]),
    ],
)
def test_times(text: str, expected: list[tuple[object, str]]) -> None:
    assert found("time", text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "便宜一点",  # "a little"
        "快一点发货",
        "差一点",
        "三点五元",  # 3.5 yuan
        "3点5",
        "24小时内",
        "比分25:30",
        "12:34:56:78",  # not a clock
        "afternoon",
        "I am here",
        "13pm",
        "price 3.30",
    ],
)
def test_not_times(text: str) -> None:
    assert values("time", text) == []


# --- mobiles ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812345678", [("13812345678", "13812345678")]),
        ("手机号:13912345678", [("13912345678", "13912345678")]),
        ("138 1234 5678", [("13812345678", "138 1234 5678")]),
        ("138-1234-5678", [("13812345678", "138-1234-5678")]),
        ("+86 138 1234 5678", [("13812345678", "+86 138 1234 5678")]),
        ("+8613812345678", [("13812345678", "+8613812345678")]),
        ("8613812345678", [("13812345678", "8613812345678")]),
        ("0086-13812345678", [("13812345678", "0086-13812345678")]),
        ("(+86)19912345678", [("19912345678", "(+86)19912345678")]),
        ("１３８１２３４５６７８", [("13812345678", "１３８１２３４５６７８")]),
        (
            "新手机号13812345678，旧的15012345678",
            [
                ("13812345678", "13812345678"),
                ("15012345678", "15012345678"),
            ],
        ),
    ],
)
def test_mobiles(text: str, expected: list[tuple[object, str]]) -> None:
    assert found("mobile", text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "12812345678",  # 12x is not a mobile prefix
        "1381234567",  # ten digits
        "138123456789",  # twelve digits
        "2024113812345678",  # inside an order number
        "SO13812345678",
        "010-12345678",  # a landline
        "+1 415 555 1234",
        "12315",
    ],
)
def test_not_mobiles(text: str) -> None:
    assert values("mobile", text) == []


# --- whole messages -----------------------------------------------------------


def test_one_message_many_entities() -> None:
    text = "订单SO20241122001明天下午3点前到不了就退我128元，电话138-1234-5678"
    result = {kind: values(kind, text) for kind in RECOGNIZERS}
    assert result == {
        "order_number": ["SO20241122001"],
        "amount": [cny(128)],
        "date": ["2026-11-19"],
        "time": ["15:00"],
        "mobile": ["13812345678"],
    }


# --- degenerate input and linear work -----------------------------------------

DEGENERATE = [
    "",
    " ",
    "\ud800",
    "\udfff138\ud80012345678",
    "\x00\x01\x1b[31m\x7f",
    "😡😡😡 ¥💰 🕒",
    "İİİ 2026-11-22 İ 3pm",  # grows when lower-cased
    "\u200b1\u200b3\u200b8",
    "1" * 5000,
    "年月日号点时",
    "$" * 100,
]


@pytest.mark.parametrize("text", DEGENERATE)
@pytest.mark.parametrize("kind", sorted(RECOGNIZERS))
def test_degenerate_input_never_raises(kind: str, text: str) -> None:
    for value, written in found(kind, text):
        assert value is not None and written


_TRIGGERS = "0123456789 :-/.,+$¥元块千万点时分半号日月年周天前后今明昨下上午晚早凌一二两三四五六七八九十百零amp"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.one_of(st.sampled_from(_TRIGGERS), st.characters()), max_size=60))
def test_any_text_gives_consistent_spans(text: str) -> None:
    for kind in RECOGNIZERS:
        found(kind, text)


def _all_patterns() -> Iterator[re.Pattern[str]]:
    for name, value in vars(er).items():
        if name.endswith("_FORMS"):
            yield from (form.pattern for form in value)
        elif isinstance(value, re.Pattern):
            yield value


def test_every_pattern_reads_a_bounded_stretch() -> None:
    """No unbounded repeat: one attempt reads at most a few dozen characters, so a scan is linear."""
    from re import _parser  # the stdlib's own regex parser, to read each pattern's width

    patterns = list(_all_patterns())
    assert len(patterns) > 25
    for pattern in patterns:
        _, widest = _parser.parse(pattern.pattern, pattern.flags).getwidth()
        assert widest <= 80, pattern.pattern


def _adversarial(size: int) -> list[str]:
    """Inputs that make a backtracking regex with unbounded or nested repeats blow up."""
    rng = random.Random(7)
    soup = "".join(rng.choice(_TRIGGERS) for _ in range(size))
    pieces = ["1", "1 ", "1-", "12:", "1,", "1.", "一", "十一", "1元", "三块", "$1,", "下午", "11月", "a1", "+86"]
    return [soup, *((piece * (size // len(piece) + 1))[:size] for piece in pieces)]


@pytest.mark.parametrize("kind", sorted(RECOGNIZERS))
def test_work_grows_linearly_on_adversarial_input(kind: str) -> None:
    recognize = RECOGNIZERS[kind]
    small = [count_calls(lambda t=t: recognize(t, NOW)) for t in _adversarial(10_000)]
    large = [count_calls(lambda t=t: recognize(t, NOW)) for t in _adversarial(100_000)]
    for few, many in zip(small, large, strict=True):
        # ten times the text, about ten times the work (quadratic work would be a hundred times)
        assert many <= 12 * few + 200, (few, many)
        # and a bounded number of calls per character, however many matches there are
        assert many <= 25 * 100_000
