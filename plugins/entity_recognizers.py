"""Built-in entity recognizers: order numbers, money, dates, times, mainland mobiles.

Chinese and English customer-service forms side by side. Each written form is
one small regex and a function saying what its match means. Every pattern
repeats only a bounded number of times and checks a token boundary right after
its first character, so one attempt reads a bounded stretch of text and a scan
is linear in the input whatever it holds (the tests check the widths). Text is
folded (full-width to ASCII) and lower-cased one character for one first, so
spans index the original text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Literal

from frontdesk.hookspecs import hookimpl
from frontdesk.types import Entity, Register

SOURCE = "builtin"

# --- Chinese numerals --------------------------------------------------------
# cn2an (PyPI) does this too, but it costs ~36 µs a call, raises on bad input and
# pulls in `proces`; this covers what customers type in a few lines.

_CN_DIGIT = dict(zip("零〇一二两三四五六七八九", (0, 0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9), strict=True))
_CN_DIGIT |= dict(zip("壹贰叁肆伍陆柒捌玖", range(1, 10), strict=True))
_CN_UNIT = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG = {"万": 10_000, "亿": 100_000_000}
CN_NUMERALS = "".join(_CN_DIGIT) + "".join(_CN_UNIT) + "".join(_CN_BIG)


def parse_cn_number(text: str) -> float | None:
    """一百二十八 -> 128, 两千 -> 2000, 三点五 -> 3.5, 十二 -> 12, 一万五 -> 15000; None if not a numeral."""
    whole, point, frac = text.partition("点")
    value = _cn_integer(whole)
    if value is None:
        return None
    if not point:
        return float(value)
    if not 0 < len(frac) <= 8 or any(c not in _CN_DIGIT for c in frac):
        return None
    return value + float("0." + "".join(str(_CN_DIGIT[c]) for c in frac))


def _cn_integer(text: str) -> int | None:
    if not 0 < len(text) <= 24:
        return None
    if all(c in _CN_DIGIT for c in text):  # read digit by digit: 二〇二六
        return int("".join(str(_CN_DIGIT[c]) for c in text))
    total = section = 0
    digit: int | None = None
    small = big = 10**9  # units must fall: 千 > 百 > 十 within a section, 亿 > 万 across
    last_unit = 1
    zero = False
    for c in text:
        if c in _CN_DIGIT:
            if digit is not None:
                return None
            if _CN_DIGIT[c] == 0:
                zero = True
            else:
                digit = _CN_DIGIT[c]
        elif c in _CN_UNIT:
            unit = _CN_UNIT[c]
            if unit >= small or (digit is None and unit != 10):
                return None
            section += (1 if digit is None else digit) * unit  # 十二 is 一十二
            small, last_unit, digit, zero = unit, unit, None, False
        elif c in _CN_BIG:
            unit = _CN_BIG[c]
            section += digit or 0
            if unit >= big or section == 0:
                return None
            total = (total + section) * unit if unit > 10_000 else total + section * unit
            section, small, big, last_unit, digit, zero = 0, 10**9, unit, unit, None, False
        else:
            return None
    if digit is not None:
        # 两千五, 一万五: a bare last digit counts in tenths of the unit before it
        section += digit * (last_unit // 10) if last_unit >= 100 and not zero else digit
    return total + section


def _to_int(text: str) -> int | None:
    """'12' or '十二' -> 12; None for anything else (mixed scripts, fractions)."""
    if text.isascii():
        return int(text) if text.isdecimal() else None
    value = parse_cn_number(text)
    return int(value) if value is not None and value.is_integer() else None


def _amount_number(text: str) -> float | None:
    """1,299.50 or 一百二十八."""
    return float(text.replace(",", "")) if text.isascii() else parse_cn_number(text)


# --- scanning ----------------------------------------------------------------

# full-width forms (１２３：／－＄), the ideographic space, ￥ and ’ -> ASCII; "，" stays,
# since reading it as a thousands separator would merge lists like 2，300
_FOLD = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F) if c != 0xFF0C}
_FOLD |= {0x3000: 0x20, 0xFFE5: 0xA5, 0x2019: 0x27}
_NEEDS_FOLD = re.compile("[\uff01-\uff0b\uff0d-\uff5e\u3000\uffe5\u2019]")
_ASCII_LOWER = {c: c + 32 for c in range(0x41, 0x5B)}


_DIGIT = re.compile("[0-9]")
_LATIN = re.compile("[a-z]")
Script = Literal["digit", "latin", "cjk"]


def prepare(text: str) -> str:
    """Fold full-width forms and lower-case, one character for one, so spans stay valid."""
    if _NEEDS_FOLD.search(text):
        text = text.translate(_FOLD)
    lowered = text.lower()
    # a few characters grow when lower-cased (İ); then lower ASCII only
    return lowered if len(lowered) == len(text) else text.translate(_ASCII_LOWER)


@lru_cache(maxsize=8)
def _prepared(text: str) -> tuple[str, frozenset[Script]]:
    """The prepared text and which kinds of character it has; the five recognizers share it."""
    prepared = prepare(text)
    present: set[Script] = set()
    if _DIGIT.search(prepared):
        present.add("digit")
    if _LATIN.search(prepared):
        present.add("latin")
    if not prepared.isascii():
        present.add("cjk")
    return prepared, frozenset(present)


def _nb(chars: str) -> str:
    """Placed right after a pattern's first character: the character before it is not in `chars`.

    Starting every pattern with a plain character (class) rather than a look-behind
    lets the regex engine skip to candidate positions in C.
    """
    return f"(?<![{chars}].)"


def _words(words: Iterable[str], not_before: str = "a-z") -> str:
    """Alternation of whole words, longest first, each guarded after its first character."""
    guard = _nb(not_before) if not_before else ""
    ordered = sorted(words, key=len, reverse=True)
    return "|".join(re.escape(w[0]) + guard + re.escape(w[1:]) for w in ordered)


Resolve = Callable[[re.Match[str], datetime], object]


@dataclass(frozen=True)
class Form:
    """One written form of an entity: a pattern and what its match means (None: not one)."""

    pattern: re.Pattern[str]
    resolve: Resolve
    needs: Script  # a text without such characters is not scanned for this form
    span: int | str = 0  # the group the entity covers


def scan(kind: str, forms: Iterable[Form], text: str, now: datetime) -> list[Entity]:
    """Run every form, keep the leftmost-longest of overlapping hits, in text order."""
    prepared, present = _prepared(text)
    hits: list[tuple[int, int, object]] = []
    for form in forms:
        if form.needs not in present:
            continue
        for m in form.pattern.finditer(prepared):
            value = form.resolve(m, now)
            if value is not None:
                hits.append((*m.span(form.span), value))
    if len(hits) < 2:  # most texts hold none: nothing to order or to drop
        return [Entity(kind, value, text[start:end], start, end, SOURCE) for start, end, value in hits]
    hits.sort(key=lambda hit: (hit[0], -hit[1]))
    found, last_end = [], -1
    for start, end, value in hits:
        if start >= last_end:
            found.append(Entity(kind, value, text[start:end], start, end, SOURCE))
            last_end = end
    return found


# --- mobile ------------------------------------------------------------------

# after the leading 1: 13812345678, 138 1234 5678, 138-1234-5678
_MOBILE_REST = r"([3-9][0-9])[ -]?([0-9]{4})[ -]?([0-9]{4})(?![0-9])"


def _mobile(m: re.Match[str], now: datetime) -> str:
    return "1" + m[1] + m[2] + m[3]


MOBILE_FORMS = (
    Form(re.compile(f"1{_nb('0-9a-z+')}(?<![0-9a-z]-.)" + _MOBILE_REST), _mobile, "digit"),
    # +86, 0086, 86, (+86) in front
    Form(
        re.compile(
            rf"(?:\+{_nb('0-9a-z+')}86|0{_nb('0-9a-z+')}086|8{_nb('0-9a-z+')}6"
            rf"|\({_nb('0-9a-z')}\+?86\))[ -]?1" + _MOBILE_REST
        ),
        _mobile,
        "digit",
    ),
)


def recognize_mobile(text: str, now: datetime) -> list[Entity]:
    """Mainland mobiles: 13812345678, +86 138 1234 5678, 138-1234-5678 -> the 11 digits."""
    return scan("mobile", MOBILE_FORMS, text, now)


# --- order number ------------------------------------------------------------


def _is_mobile_digits(digits: str) -> bool:
    """11-digit mainland mobile, bare or behind 86 / 0086."""
    for prefix in ("", "86", "0086"):
        rest = digits[len(prefix) :]
        if digits.startswith(prefix) and len(rest) == 11 and rest[0] == "1" and rest[1] in "3456789":
            return True
    return False


_ORDER_END = r"(?![0-9a-z]|[.,][0-9]|-[0-9a-z])"
# a currency right after, or a symbol right before, makes it an amount
_MONEY_AFTER = re.compile(r" ?(?:元|块|美元|美金|(?:dollars?|bucks?|yuan|rmb|usd|cny)(?![a-z]))")
# letter prefixes that make a currency amount or an account, not an order
_NOT_ORDER_PREFIX = frozenset({"usd", "rmb", "cny", "eur", "gbp", "hkd", "jpy", "qq", "wx", "vx", "tel"})


def _order_digits(m: re.Match[str], now: datetime) -> str | None:
    start, end = m.span("id")
    digits = m["id"].replace(" ", "")
    text = m.string
    if _is_mobile_digits(digits) or _MONEY_AFTER.match(text, end):
        return None
    if text[start - 1 : start] in ("$", "¥", "€", "£"):
        return None
    return digits.upper()


def _order_prefixed(m: re.Match[str], now: datetime) -> str | None:
    if m["letters"] in _NOT_ORDER_PREFIX:
        return None
    return m[0].replace(" ", "").upper()


ORDER_FORMS = (
    # after a keyword even a short id counts: 订单号 12345678, order #12345678
    Form(
        re.compile(
            "(?:"
            + _words(("订单编号", "订单号码", "订单号", "订单", "运单号", "快递单号", "单号"), "")
            + f"|o{_nb('a-z')}rder(?: ?(?:no\\.?|number|num|id))?)"
            rf" ?(?:是|为|:|#)? ?(?P<id>[0-9]{{6,20}}){_ORDER_END}"
        ),
        _order_digits,
        "digit",
        span="id",
    ),
    Form(
        re.compile(
            rf"(?P<letters>[a-z]{_nb('0-9a-z')}(?<![0-9a-z]-.)[a-z]{{0,3}})[ -]?[0-9]{{6,20}}[a-z]{{0,2}}" + _ORDER_END
        ),
        _order_prefixed,
        "latin",
    ),
    Form(
        re.compile(
            rf"(?P<id>[0-9]{_nb('0-9a-z')}(?<![0-9a-z]-.)"
            r"(?:[0-9]{2}-[0-9]{7}-[0-9]{7}|[0-9]{3}(?: [0-9]{4}){2,4}|[0-9]{9,19}+))" + _ORDER_END
        ),
        _order_digits,
        "digit",
        span="id",
    ),
)


def recognize_order_number(text: str, now: datetime) -> list[Entity]:
    """Order ids: 2024112212345678, SO20241122001, DD 123456789, 订单号12345678 -> upper case, no spaces."""
    return scan("order_number", ORDER_FORMS, text, now)


# --- amount ------------------------------------------------------------------

_CURRENCY = {
    "元": "CNY", "块": "CNY", "块钱": "CNY", "元钱": "CNY", "圆": "CNY", "人民币": "CNY",
    "美元": "USD", "美金": "USD", "刀": "USD", "港币": "HKD", "港元": "HKD", "欧元": "EUR",
    "日元": "JPY", "英镑": "GBP", "dollar": "USD", "dollars": "USD", "buck": "USD",
    "bucks": "USD", "yuan": "CNY", "rmb": "CNY", "cny": "CNY", "usd": "USD", "eur": "EUR",
    "euro": "EUR", "euros": "EUR", "gbp": "GBP", "hkd": "HKD", "jpy": "JPY", "yen": "JPY",
    "$": "USD", "us$": "USD", "hk$": "HKD", "nt$": "TWD", "a$": "AUD", "c$": "CAD",
    "s$": "SGD", "¥": "CNY", "€": "EUR", "£": "GBP",
}  # fmt: skip
_CODES = ("usd", "rmb", "cny", "eur", "gbp", "hkd", "jpy", "us$", "hk$", "nt$", "a$", "c$", "s$")
_UNIT_WORDS = [w for w in _CURRENCY if w.isascii() and w.isalpha()]
_UNIT_HANZI = [w for w in _CURRENCY if not w.isascii() and w not in ("元", "块", "块钱", "元钱")]
_MULTIPLIER = {"k": 1e3, "千": 1e3, "万": 1e4, "百万": 1e6, "亿": 1e8}
# atomic: once read, a number is not re-read shorter to fit what follows
_NUM_REST = r"(?>(?:[0-9]{0,2}(?:,[0-9]{3}){1,4}|[0-9]{0,11})(?:\.[0-9]{1,4})?)"
_CN_DIGITS_1_9 = "一二两三四五六七八九"
# 元/块 then one more digit: 三块五 is 3.5, 3元5角 too; never before another hanzi (99元2件)
_UNIT_TAIL = (
    rf"(?:(?P<cny>块钱|元钱|块|元)(?:(?P<jiao>[0-9{_CN_DIGITS_1_9}])(?:[毛角]|(?![0-9\u3400-\u9fff])))?"
    rf"|(?P<cur>{'|'.join(_UNIT_HANZI)}|(?:{'|'.join(sorted(_UNIT_WORDS, key=len, reverse=True))})(?![a-z])))"
)
# what may follow 块 when it is money: 三块蛋糕 (pieces) and 一块去 (together) are not
_AFTER_KUAI = re.compile(
    rf"[钱了的吗呢吧啊呀哦呗左多买卖给就都也还是退不没到付花用在换才够毛角{_CN_DIGITS_1_9}]|[^\u3400-\u9fff]|$"
)
_NOT_AFTER_YUAN = frozenset("旦素件宵器首")
_PREFIXED_AMOUNT_TAIL = rf" ?(?P<num>[0-9]{_NUM_REST})(?P<mul>k(?![a-z])|千|万)?(?![0-9])(?: ?(?:块钱|元|块))?"


def _with_unit(m: re.Match[str], now: datetime) -> dict[str, object] | None:
    text = m.string
    if m["bare"]:  # 3千, 2万: a round sum said without a currency
        value, currency = _amount_number(m["num"]), "CNY"
        mul: str | None = m["bare"]
    else:
        group = "cny" if m["cny"] else "cur"
        unit, after = m[group], m.end(group)
        if unit.startswith("块") and not _AFTER_KUAI.match(text, after):
            return None
        if unit == "元" and text[after : after + 1] in _NOT_AFTER_YUAN:
            return None
        value, currency, mul = _amount_number(m["num"]), _CURRENCY[unit], m["mul"]
        if value is not None and m["jiao"]:
            value += (_to_int(m["jiao"]) or 0) / 10
    return _money(value, currency, mul)


def _prefixed(m: re.Match[str], now: datetime) -> dict[str, object] | None:
    return _money(_amount_number(m["num"]), _CURRENCY[m["sym"]], m["mul"])


def _money(value: float | None, currency: str, mul: str | None) -> dict[str, object] | None:
    if value is None:
        return None
    value *= _MULTIPLIER[mul] if mul else 1
    return {"amount": round(value, 4), "currency": currency}


AMOUNT_FORMS = (
    Form(re.compile(r"(?P<sym>[$¥€£])" + _PREFIXED_AMOUNT_TAIL), _prefixed, "digit"),
    Form(re.compile(f"(?P<sym>{_words(_CODES)})" + _PREFIXED_AMOUNT_TAIL), _prefixed, "latin"),
    Form(
        re.compile(
            rf"(?P<num>[0-9]{_nb('0-9a-z.')}(?<![0-9][.,].){_NUM_REST})"
            rf"(?:(?: ?(?P<mul>k|千|万|百万|亿))? ?{_UNIT_TAIL}"
            r"|(?P<bare>千|万)(?![米克瓦吨字人个次步卡公斤年名位份件台部只条张里毫伏]))"
        ),
        _with_unit,
        "digit",
    ),
    Form(
        re.compile(
            rf"(?P<num>[{CN_NUMERALS}]{_nb('0-9' + CN_NUMERALS)}[点{CN_NUMERALS}]{{0,11}})"
            rf" ?(?P<mul>)(?P<bare>){_UNIT_TAIL}"
        ),
        _with_unit,
        "cjk",
    ),
)


def recognize_amount(text: str, now: datetime) -> list[Entity]:
    """Money: ¥128, 128.50 元, 一百二十八元, 两千块, 3千, $12.99, 12 dollars, USD 5 -> {amount, currency}."""
    return scan("amount", AMOUNT_FORMS, text, now)


# --- date --------------------------------------------------------------------

_MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4,
    "april": 4, "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "september": 9, "oct": 10, "october": 10, "nov": 11,
    "november": 11, "dec": 12, "december": 12,
}  # fmt: skip
_WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6, "mon": 0, "tue": 1, "tues": 1, "wed": 2, "thu": 3, "thur": 3, "thurs": 3,
    "fri": 4, "sat": 5, "sun": 6,
}  # fmt: skip
_FULL_WEEKDAYS = [w for w in _WEEKDAYS if w.endswith("day")]
_CN_WEEKDAYS = dict(zip("一二三四五六日天1234567", (0, 1, 2, 3, 4, 5, 6, 6, 0, 1, 2, 3, 4, 5, 6), strict=True))
_RELATIVE_DAYS = {
    "大前天": -3, "前天": -2, "昨天": -1, "昨日": -1, "昨晚": -1, "昨儿": -1,
    "今天": 0, "今日": 0, "今晚": 0, "今早": 0, "今儿": 0, "明天": 1, "明日": 1, "明晚": 1,
    "明早": 1, "明儿": 1, "后天": 2, "大后天": 3, "today": 0, "tonight": 0, "tomorrow": 1,
    "tmr": 1, "tmrw": 1, "yesterday": -1, "the day after tomorrow": 2,
    "the day before yesterday": -2,
}  # fmt: skip
_WEEK_SHIFT = {
    "下下": 2, "下下个": 2, "下": 1, "下个": 1, "上上": -2, "上上个": -2, "上": -1, "上个": -1,
    "这": 0, "这个": 0, "本": 0, "next": 1, "last": -1, "this": 0, "coming": 0,
}  # fmt: skip
_YEAR = "(?P<year>(?:19|20)[0-9]{2})"
_ORDINAL = "(?:st|nd|rd|th)?"
_CN_DAY = "[一二]?十[一二三四五六七八九]?|三十一?|[一二三四五六七八九]"


def _make_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _shift(today: date, days: int) -> date | None:
    try:
        return today + timedelta(days=days)
    except OverflowError:
        return None


def _nearest(today: date, month: int, day: int) -> date | None:
    """A date written without a year: the year that puts it closest to today."""
    found = (_make_date(y, month, day) for y in (today.year - 1, today.year, today.year + 1))
    return min((d for d in found if d), key=lambda d: abs(d - today), default=None)


def _on(now: datetime, month: int | None, day: int | None, year: str | None) -> str | None:
    if month is None or day is None:
        return None
    found = _make_date(int(year), month, day) if year else _nearest(now.date(), month, day)
    return found.isoformat() if found else None


def _after(now: datetime, days: int) -> str | None:
    found = _shift(now.date(), days)
    return found.isoformat() if found else None


def _week(now: datetime, weeks: int, weekday: int) -> str | None:
    """Weekday `weekday` (Monday 0) of the week `weeks` from this one; weeks start on Monday."""
    today = now.date()
    return _after(now, 7 * weeks + weekday - today.weekday())


def _ymd(m: re.Match[str], now: datetime) -> str | None:
    if m["year"][:2] not in ("19", "20"):
        return None
    return _on(now, int(m["month"] or m["m2"]), int(m["day"] or m["d2"]), m["year"])


def _month_day(m: re.Match[str], now: datetime) -> str | None:
    return _on(now, _to_int(m["month"]), _to_int(m["day"] or m["cday"]), None)


def _slash(m: re.Match[str], now: datetime) -> str | None:
    first, second = int(m["a"]), int(m["b"])
    if len(m["a"] + m["b"]) == 2 or (first, second) == (24, 7):
        return None  # 1/2 is a fraction, 24/7 an idiom
    month, day = (second, first) if first > 12 >= second else (first, second)  # 22/11: day first
    return _on(now, month, day, m["year"])


def _named_month(m: re.Match[str], now: datetime) -> str | None:
    return _on(now, _MONTHS[m["month"]], int(m["day"]), m["year"])


def _relative(m: re.Match[str], now: datetime) -> str | None:
    return _after(now, _RELATIVE_DAYS[m[0]])


def _zh_offset(m: re.Match[str], now: datetime) -> str | None:
    count = _to_int(m["n"])
    if count is None:
        return None
    days = count * (1 if m["unit"] == "天" else 7)
    return _after(now, -days if m["dir"].endswith("前") else days)


def _en_offset(m: re.Match[str], now: datetime) -> str | None:
    days = int(m["n"]) * (1 if m["unit"] == "day" else 7)
    return _after(now, -days if m["ago"] else days)


def _zh_week(m: re.Match[str], now: datetime) -> str | None:
    return _week(now, _WEEK_SHIFT[m["shift"]] if m["shift"] else 0, _CN_WEEKDAYS[m["wd"]])


def _en_week(m: re.Match[str], now: datetime) -> str | None:
    if m["shift"]:
        return _week(now, _WEEK_SHIFT[m["shift"]], _WEEKDAYS[m["wd"]])
    return _week(now, 0, _WEEKDAYS[m["full"]])


_ZH_WEEK = "(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7])"
_MONTH_WORD = f"(?P<month>{_words(_MONTHS)})(?![a-z])"
DATE_FORMS = (
    # 2026-11-22, 2026/11/22, 2026.11.22, 2026年11月22日
    Form(
        re.compile(
            rf"(?P<year>[12]{_nb('0-9a-z.')}[09][0-9]{{2}})"
            r"(?:(?P<sep>[-/.])(?P<month>[0-9]{1,2})(?P=sep)(?P<day>[0-9]{1,2})(?![0-9]|\.[0-9])"
            r"| ?年 ?(?P<m2>[0-9]{1,2}) ?月 ?(?P<d2>[0-9]{1,2})(?: ?[日号])?(?![0-9]))"
        ),
        _ymd,
        "digit",
    ),
    # 11月22日, 11月22号, 11月22, 十一月二十二日
    Form(
        re.compile(
            rf"(?P<month>[0-9一二三四五六七八九十]{_nb('0-9年' + CN_NUMERALS)}[0-9一二]?) ?月 ?"
            rf"(?:(?P<day>[0-9]{{1,2}})(?![0-9])(?: ?[日号])?|(?P<cday>{_CN_DAY})[日号])"
        ),
        _month_day,
        "cjk",
    ),
    # 11/22, 22/11, 11/22/2026
    Form(
        re.compile(rf"(?P<a>[0-9]{_nb('0-9a-z/.:-')}[0-9]?)/(?P<b>[0-9]{{1,2}})(?:/{_YEAR})?(?![0-9/]|\.[0-9])"),
        _slash,
        "digit",
    ),
    # Nov 22, November 22nd, 2026 ; 22 November, 22nd of Nov
    Form(
        re.compile(rf"{_MONTH_WORD}\.? ?(?P<day>[0-9]{{1,2}}){_ORDINAL}(?![0-9a-z])(?:,? ?{_YEAR}(?![0-9]))?"),
        _named_month,
        "latin",
    ),
    Form(
        re.compile(
            rf"(?P<day>[0-9]{_nb('0-9a-z')}[0-9]?){_ORDINAL} ?(?:of )?{_MONTH_WORD}\.?"
            rf"(?:,? ?{_YEAR}(?![0-9]))?"
        ),
        _named_month,
        "latin",
    ),
    Form(re.compile(_words(w for w in _RELATIVE_DAYS if not w.isascii())), _relative, "cjk"),
    Form(re.compile(f"(?:{_words(w for w in _RELATIVE_DAYS if w.isascii())})(?![a-z])"), _relative, "latin"),
    # 3天后, 两周前
    Form(
        re.compile(
            rf"(?P<n>[0-9一二两三四五六七八九十]{_nb('0-9' + CN_NUMERALS)}[0-9一二两三四五六七八九十]{{0,2}})"
            r" ?个?(?P<unit>天|周|星期|礼拜)(?P<dir>之后|以后|后|之前|以前|前)"
        ),
        _zh_offset,
        "cjk",
    ),
    # in 3 days, 2 weeks ago
    Form(
        re.compile(rf"i{_nb('a-z')}n (?P<n>[0-9]{{1,3}}) (?P<unit>day|week)s?(?![a-z])(?P<ago>)"), _en_offset, "latin"
    ),
    Form(
        re.compile(rf"(?P<n>[0-9]{_nb('0-9a-z')}[0-9]{{0,2}}) (?P<unit>day|week)s? (?P<ago>ago)(?![a-z])"),
        _en_offset,
        "latin",
    ),
    # 下周一, 上周五, 这个星期天 ; 周三 (not 一周一次 or 每周一: counts and habits)
    Form(re.compile(f"(?P<shift>下下个?|下个?|上上个?|上个?|这个?|本){_ZH_WEEK}"), _zh_week, "cjk"),
    Form(
        re.compile(
            f"(?P<shift>)(?:{_words(('周', '星期', '礼拜'), '一二两三四五六七八九十几每0-9下上这本个')})"
            "(?P<wd>[一二三四五六日天1-7])"
        ),
        _zh_week,
        "cjk",
    ),
    # next Monday, last fri, this Friday ; Monday
    Form(
        re.compile(
            rf"(?:(?P<shift>{_words(('next', 'last', 'this', 'coming'))}) (?P<wd>{_words(_WEEKDAYS, '')})"
            rf"|(?P<full>{_words(_FULL_WEEKDAYS)}))(?![a-z])"
        ),
        _en_week,
        "latin",
    ),
)


def recognize_date(text: str, now: datetime) -> list[Entity]:
    """Dates -> "YYYY-MM-DD"; relative ones (明天, 下周一, next Monday) resolved against `now`."""
    return scan("date", DATE_FORMS, text, now)


# --- time --------------------------------------------------------------------

_PERIOD = "凌晨|半夜|早上|早晨|清晨|上午|早|中午|下午|午后|傍晚|晚上|夜里|夜间|晚"
_AM, _NOON, _PM, _NIGHT = ("凌晨", "半夜"), ("中午",), ("下午", "午后", "傍晚"), ("晚上", "夜里", "夜间", "晚")
_MINUTE_WORDS = {"半": 30, "一刻": 15, "三刻": 45, "整": 0}
_CN_CLOCK = "零一二两三四五六七八九十"
_COLON = r"(?P<h>[0-9]{nb}[0-9]?):(?P<min>[0-5][0-9])(?::[0-5][0-9])?+(?![0-9]|:[0-9])".format(nb=_nb("0-9:."))
_ZH_CLOCK = (
    r"[点时](?P<clock>钟)?(?:(?P<word>半|一刻|三刻|整)|(?P<min>[0-9]{1,2}|[零一二三四五六七八九十]{1,3})(?P<fen>分)?)?"
    r"(?![0-9零一二三四五六七八九十]|元|块)"
)


def _hm(hour: int | None, minute: int | None) -> str | None:
    if hour is None or minute is None or not (0 <= hour <= 24 and 0 <= minute <= 59):
        return None
    return f"{hour % 24:02d}:{minute:02d}"


def _twelve_hour(hour: int, marker: str) -> int:
    """3 pm -> 15, 12 am -> 0; 15 pm and a plain 12 o'clock keep their hour."""
    if hour > 12 or not marker:
        return hour
    return (hour % 12) + (12 if marker == "p" else 0)


def _zh_hour(hour: int, period: str | None) -> int:
    """下午3点 -> 15, 晚上12点 -> 0, 中午1点 -> 13, 凌晨12点 -> 0, 晚上1点 -> 1."""
    if period in _AM:
        return hour % 12
    if period in _NOON:
        return hour + 12 if hour < 6 else hour
    if period in _PM:
        return hour + 12 if hour < 12 else hour
    if period in _NIGHT:
        return 0 if hour in (12, 24) else hour + 12 if 5 <= hour < 12 else hour
    return hour


def _colon(m: re.Match[str], now: datetime) -> str | None:
    hour = int(m["h"])
    if hour > 23:
        return None
    if m["ampm"]:
        hour = _twelve_hour(hour, m["ampm"])
    elif m["period"]:
        hour = _zh_hour(hour, m["period"])
    return _hm(hour, int(m["min"]))


def _ampm(m: re.Match[str], now: datetime) -> str | None:
    hour = int(m["h"])
    return _hm(_twelve_hour(hour, m["ampm"]), 0) if 1 <= hour <= 12 else None


def _zh_time(m: re.Match[str], now: datetime) -> str | None:
    raw_hour, minutes, period = m["h"], m["min"], m["period"]
    if raw_hour == "一" and not (period or m["clock"] or m["word"] or minutes):
        return None  # 便宜一点, 快一点: "a little", not one o'clock
    if minutes and not m["fen"] and len(minutes) == 1:
        return None  # 三点五 is 3.5
    hour = _to_int(raw_hour)
    if m["word"]:
        minute: int | None = _MINUTE_WORDS[m["word"]]
    else:
        minute = _to_int(minutes) if minutes else 0
    return _hm(_zh_hour(hour, period) if hour is not None and hour <= 24 else None, minute)


TIME_FORMS = (
    # 15:30, 3:30 pm, 下午3:30
    Form(re.compile(_COLON + r"(?: ?(?P<ampm>[ap])\.?m\.?(?![a-z]))?(?P<period>)"), _colon, "digit"),
    Form(re.compile(f"(?P<period>{_PERIOD}) ?" + _COLON + "(?P<ampm>)"), _colon, "cjk"),
    # 3pm, 11 a.m.
    Form(re.compile(rf"(?P<h>[0-9]{_nb('0-9:.')}[0-9]?) ?(?P<ampm>[ap])\.?m\.?(?![a-z])"), _ampm, "latin"),
    Form(re.compile(f"(?:{_words(('noon', 'midday'))})(?![a-z])"), lambda m, now: "12:00", "latin"),
    Form(re.compile(f"(?:{_words(('midnight',))})(?![a-z])"), lambda m, now: "00:00", "latin"),
    Form(
        re.compile(rf"(?P<h>[0-9]{_nb('0-9')}[0-9]?) ?o'?clock(?![a-z])(?P<ampm>)"),
        _ampm,
        "latin",
    ),
    # 下午3点, 晚上八点半, 3点15分, 十点一刻
    Form(
        re.compile(
            rf"(?P<h>[0-9{_CN_CLOCK}]{_nb('0-9' + CN_NUMERALS)}[0-9{_CN_CLOCK}]{{0,2}}) ?(?P<period>)" + _ZH_CLOCK
        ),
        _zh_time,
        "cjk",
    ),
    Form(
        re.compile(f"(?P<period>{_PERIOD}) ?(?P<h>[0-9]{{1,2}}|[{_CN_CLOCK}]{{1,3}}) ?" + _ZH_CLOCK),
        _zh_time,
        "cjk",
    ),
)


def recognize_time(text: str, now: datetime) -> list[Entity]:
    """Times -> "HH:MM": 15:30, 下午3点, 晚上八点半, 3pm, 3:30 pm, noon."""
    return scan("time", TIME_FORMS, text, now)


RECOGNIZERS: dict[str, Callable[[str, datetime], list[Entity]]] = {
    "order_number": recognize_order_number,
    "amount": recognize_amount,
    "date": recognize_date,
    "time": recognize_time,
    "mobile": recognize_mobile,
}


@hookimpl
def register_entity_recognizers(register: Register) -> None:
    for entity_type, recognizer in RECOGNIZERS.items():
        register(entity_type, recognizer)
