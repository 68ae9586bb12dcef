"""Built-in personal-data recognizers: `register(pii_type, recognizer)`, recognizer(text) -> [Entity].

Each recognizer is a bounded-width regular expression plus checks in Python
(checksums, dates, prefixes, context cues). Patterns begin with a literal or a
character class, so the regex engine skips ahead quickly; whether a match starts
a token (no ASCII letter or digit before it) is checked in Python, retrying past
the run of letters and digits it sits in when it does not, which finds what a
look-behind would. Bounded width and that rule keep the work linear in the length
of the text. Recognizers never raise: any `str` gives a list, possibly empty.

Text is matched after folding full-width ASCII (０-９, Ａ-Ｚ, ＠, ：...) and the
ideographic space to their ASCII forms, one character for one, so offsets into
the folded text are offsets into the original.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Literal

from frontdesk.hookspecs import hookimpl
from frontdesk.types import Entity

Recognizer = Callable[[str], list[Entity]]
BankCardMode = Literal["luhn", "luhn_or_issuer"]

# --- checksums and validators ---------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check used by payment cards."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# First two digits of GB/T 2260 area codes: provinces, regions and municipalities.
_PROVINCES = frozenset(
    {
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
    }
)


def _valid_date(year: int, month: int, day: int) -> bool:
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today()


def id_number_valid(number: str) -> bool:
    """An 18-character resident ID (GB 11643): province prefix, birth date and check character."""
    if len(number) != 18 or not number[:17].isascii() or not number[:17].isdigit():
        return False
    if number[:2] not in _PROVINCES or number[2:6] == "0000":
        return False
    if not _valid_date(int(number[6:10]), int(number[10:12]), int(number[12:14])):
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


# Card networks: (lowest prefix, highest prefix, shortest length, longest length).
_CARD_NETWORKS = (
    ("4", "4", 13, 19),  # Visa
    ("51", "55", 16, 16),  # Mastercard
    ("2221", "2720", 16, 16),  # Mastercard 2-series
    ("34", "34", 15, 15),  # American Express
    ("37", "37", 15, 15),
    ("6011", "6011", 16, 19),  # Discover
    ("644", "649", 16, 19),
    ("35", "35", 16, 19),  # JCB
    ("2131", "2131", 15, 15),
    ("1800", "1800", 15, 15),
    ("300", "305", 14, 19),  # Diners Club
    ("309", "309", 14, 19),
    ("36", "36", 14, 19),
    ("38", "39", 16, 19),
    ("50", "50", 12, 19),  # Maestro
    ("56", "58", 12, 19),
    ("6", "6", 12, 19),  # Maestro, UnionPay (62), RuPay (60), Discover (65)
    ("2200", "2204", 16, 19),  # Mir
    ("81", "82", 16, 19),  # UnionPay, RuPay
)
# Luhn-failing numbers still taken as cards: UnionPay and two legacy domestic account ranges.
ISSUER_PREFIXES = ("62", "9558", "95599")


def card_network_known(digits: str) -> bool:
    """True when the number's prefix and length fit a known card network."""
    n = len(digits)
    return any(
        lo <= digits[: len(lo)] <= hi and low_len <= n <= high_len for lo, hi, low_len, high_len in _CARD_NETWORKS
    )


def iban_valid(iban: str) -> bool:
    """ISO 13616 mod-97 check."""
    moved = iban[4:] + iban[:4]
    return 15 <= len(iban) <= 34 and int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


# --- shared per-text work ---------------------------------------------------------------------

_FOLD = str.maketrans({chr(0xFF01 + i): chr(0x21 + i) for i in range(94)} | {"\u3000": " "})
_FULL_WIDTH = re.compile("[\uff01-\uff5e\u3000]")
_DIGIT = re.compile("[0-9]")
_HAN = re.compile("[\u4e00-\u9fff]")
_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True, slots=True)
class _View:
    folded: str
    has_digit: bool
    has_han: bool  # Chinese characters: gates the Chinese-only patterns


@lru_cache(maxsize=8)
def _view(text: str) -> _View:
    # cached: the masker runs every recognizer over the same string
    folded = text.translate(_FOLD) if _FULL_WIDTH.search(text) else text
    return _View(folded, _DIGIT.search(folded) is not None, _HAN.search(folded) is not None)


def _starts_token(folded: str, start: int, also: str = "") -> bool:
    return start == 0 or (folded[start - 1] not in _ALNUM and folded[start - 1] not in also)


@lru_cache(maxsize=16)
def _token_run(also: str) -> re.Pattern[str]:
    """A run of characters after which no position starts a token."""
    return re.compile(f"[0-9A-Za-z{re.escape(also)}]*")


def _token_matches(pattern: re.Pattern[str], folded: str, also: str = "") -> Iterator[re.Match[str]]:
    """Matches that start a token: not right after an ASCII letter or digit (or a char in `also`)."""
    run = _token_run(also)
    pos = 0
    while (m := pattern.search(folded, pos)) is not None:
        if _starts_token(folded, m.start(), also):
            yield m
            pos = m.end()
        else:
            # no position inside the run the match starts in can start a token: go past it
            # (one step for a long digit string, not one search per digit)
            pos = run.match(folded, m.start()).end() + 1


def _digits(text: str) -> str:
    return "".join(ch for ch in text if "0" <= ch <= "9")


def _cue_before(cue: re.Pattern[str], folded: str, start: int, window: int) -> bool:
    return cue.search(folded, max(0, start - window), start) is not None


def _last_end(cue: re.Pattern[str], folded: str, start: int, end: int) -> int:
    """Where the last match of `cue` in folded[start:end] ends; -1 for none."""
    last = -1
    for m in cue.finditer(folded, start, end):
        last = m.end()
    return last


def _entity(pii_type: str, value: str, text: str, start: int, end: int) -> Entity:
    return Entity(pii_type, value, text[start:end], start, end, "pii")


def _recognizer(func: Callable[[str, _View], list[Entity]]) -> Recognizer:
    """Make a matcher taking (original, view) a recognizer: any `str` works, nothing raises."""

    def recognizer(text: str) -> list[Entity]:
        if not isinstance(text, str) or not text:
            return []
        return func(text, _view(text))

    recognizer.__name__ = recognizer.__qualname__ = func.__name__.lstrip("_")
    recognizer.__doc__ = func.__doc__
    return recognizer


# --- mainland China mobile and landline -----------------------------------------------------

_MOBILE = re.compile(r"1[3-9][0-9][ -]?[0-9]{4}[ -]?[0-9]{4}(?![0-9A-Za-z])")
_COUNTRY_CODE = re.compile(r"(?:(?:\+|00)86[ -]?|\(\+?86\) ?|86[ -]?)\Z")


def _mobiles(folded: str) -> Iterator[tuple[int, int]]:
    """(start, end) of mainland mobile numbers, a written +86 / 0086 / 86 prefix included."""
    pos = 0
    while (m := _MOBILE.search(folded, pos)) is not None:
        cc = _COUNTRY_CODE.search(folded, max(0, m.start() - 6), m.start())
        start = cc.start() if cc else m.start()
        if _starts_token(folded, start, "+"):
            yield start, m.end()
            pos = m.end()
        else:
            pos = m.start() + 1


@_recognizer
def _phone(text: str, view: _View) -> list[Entity]:
    """Mainland mobile numbers: 11 digits from 13x to 19x, optional +86/86, spaces or dashes."""
    if not view.has_digit:
        return []
    return [_entity("phone", _digits(view.folded[s:e])[-11:], text, s, e) for s, e in _mobiles(view.folded)]


_LANDLINE = re.compile(
    r"0(?:10|2[0-9]|[3-9][0-9]{2})(?:\) ?|[ -]?)[1-9][0-9]{2,3}[ -]?[0-9]{4}"
    r"(?: ?(?:转|ext\.?|x) ?[0-9]{1,5})?(?![0-9A-Za-z])"
)


@_recognizer
def _landline(text: str, view: _View) -> list[Entity]:
    """Mainland fixed lines: area code 010, 02x or 0xxx, then 7 or 8 digits (010-12345678, (0755)1234567)."""
    if not view.has_digit:
        return []
    folded, out = view.folded, []
    for m in _token_matches(_LANDLINE, folded, "+"):
        start = m.start() - 1 if m.start() and folded[m.start() - 1] == "(" else m.start()
        if _starts_token(folded, start, "+"):
            out.append(_entity("landline", _digits(m.group()), text, start, m.end()))
    return out


# --- international / English phone numbers --------------------------------------------------

_PHONE_BODY = r"[0-9][0-9]{0,14}(?:[ .-][0-9]{1,8}){0,6}(?![0-9A-Za-z]|[.-][0-9])"
_INTL_PHONE = re.compile(
    rf"\+[1-9][0-9]{{0,2}}[ .-]?(?:\((?:0|[0-9]{{1,5}})\)[ .-]?)?{_PHONE_BODY}"
    rf"|\((?:0|[0-9]{{1,5}})\)[ .-]?{_PHONE_BODY}|{_PHONE_BODY}"
)
_PHONE_PREFIX = re.compile(r"^\+[0-9]{1,3}[ .-]?|\([0-9]{0,5}\)[ .-]?")
_GROUP_SEP = re.compile(r"[ .-]")
_PHONE_CUE = re.compile(
    r"(?i:phone|tel|call|cell|mobile|fax|contact|whatsapp|sms|text me|reach|dial)|电话|手机|致电|联系|拨打"
)
# what else a bare run of digits is said to be: when one of these is nearer than a phone cue, the
# number is that ("my phone is 138..., order 202401010001")
_OTHER_NUMBER_CUE = re.compile(
    r"(?i:\b(?:order|tracking|invoice|ticket|account|acct|ref|reference|case|booking|policy)s?\b)"
    r"|订单|单号|运单|快递|发票|工单|账号|账户|卡号|编号|保单"
)
_PHONE_CUE_AFTER = re.compile(r"(?i) ?-? ?\(?(?:office|fax|home|work|mobile|cell)\b")
# dates (2024-03-15, 15.03.2024, with or without a time after) and year ranges (2020-2024)
_NOT_PHONE = re.compile(
    r"(?:19|20)[0-9]{2}([./ -])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12][0-9]|3[01])(?![0-9])"
    r"|(?:0?[1-9]|[12][0-9]|3[01])([./ -])(?:0?[1-9]|1[0-2])\2(?:19|20)[0-9]{2}(?![0-9])"
    r"|(?:19|20)[0-9]{2} ?- ?(?:19|20)[0-9]{2}$"
)


def _phone_cue_nearest(folded: str, start: int, window: int) -> bool:
    """A phone cue within `window` characters before `start`, and no other kind of number named after it."""
    since = max(0, start - window)
    phone = _last_end(_PHONE_CUE, folded, since, start)
    return phone >= 0 and phone > _last_end(_OTHER_NUMBER_CUE, folded, since, start)


@_recognizer
def _phone_intl(text: str, view: _View) -> list[Entity]:
    """Phone numbers in international and English formats: +44 20 7946 0958, (415) 555-0198;
    an ungrouped run of digits only next to a cue ("call", "fax", 电话...)."""
    if not view.has_digit:
        return []
    folded, out = view.folded, []
    for m in _token_matches(_INTL_PHONE, folded, "+.-"):
        written = m.group()
        digits = _digits(written)
        if not 8 <= len(digits) <= 15 or _NOT_PHONE.match(written):
            continue
        if written.isdigit():
            if not (_phone_cue_nearest(folded, m.start(), 24) or _PHONE_CUE_AFTER.match(folded, m.end())):
                continue  # a bare run of digits is an order number until a cue says "phone"
        elif min(map(len, _GROUP_SEP.split(_PHONE_PREFIX.sub("", written)))) < 2:
            continue  # "1 2 3 4 5 6 7 8" and "3 10 12 14 16" are lists, not numbers
        out.append(_entity("phone_intl", digits, text, *m.span()))
    return out


# --- identity documents ---------------------------------------------------------------------

_ID18 = re.compile(r"[1-9][0-9]{5}[ -]?[0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{3}[0-9Xx](?![0-9A-Za-z])")
_ID15 = re.compile(r"[1-9][0-9]{14}(?![0-9A-Za-z])")
_ID_CUE = re.compile(r"身份证|证件|\b[Ii][Dd]\b")


@_recognizer
def _id_number(text: str, view: _View) -> list[Entity]:
    """Resident ID numbers: 18 characters with a valid check digit, date and province; the old
    15-digit form only after a cue such as 身份证, as it has no check digit."""
    if not view.has_digit:
        return []
    folded, out = view.folded, []
    for m in _token_matches(_ID18, folded):
        value = m.group().replace(" ", "").replace("-", "").upper()
        if id_number_valid(value):
            out.append(_entity("id_number", value, text, *m.span()))
    if _ID_CUE.search(folded):
        for m in _token_matches(_ID15, folded):
            value = m.group()
            if (
                value[:2] in _PROVINCES
                and _valid_date(1900 + int(value[6:8]), int(value[8:10]), int(value[10:12]))
                and _cue_before(_ID_CUE, folded, m.start(), 12)
            ):
                out.append(_entity("id_number", value, text, *m.span()))
    return out


_PASSPORT = re.compile(r"[A-Z][A-Z]?[0-9]{6,9}(?![0-9A-Za-z])")
_PASSPORT_STRONG = re.compile(r"[EG][0-9]{8}|E[A-HJ-NP-Z][0-9]{7}")
_PASSPORT_CUE = re.compile(r"护照|(?i:passport)")


@_recognizer
def _passport(text: str, view: _View) -> list[Entity]:
    """Passport numbers: Chinese E12345678 / EA1234567 / G12345678 anywhere; other letter+digit
    forms (D1234567, P1234567...) only after 护照 or "passport"."""
    if not view.has_digit:
        return []
    folded = view.folded
    return [
        _entity("passport", m.group(), text, *m.span())
        for m in _token_matches(_PASSPORT, folded)
        if _PASSPORT_STRONG.fullmatch(m.group()) or _cue_before(_PASSPORT_CUE, folded, m.start(), 16)
    ]


_SSN = re.compile(r"[0-8][0-9]{2}([- ]?)[0-9]{2}\1[0-9]{4}(?![0-9A-Za-z]|-[0-9])")
_SSN_CUE = re.compile(r"(?i:ssn|social security)")


@_recognizer
def _ssn(text: str, view: _View) -> list[Entity]:
    """US social security numbers 123-45-6789 (never 000, 666 or 9xx areas); nine bare digits
    only after "SSN"."""
    if not view.has_digit:
        return []
    folded, out = view.folded, []
    for m in _token_matches(_SSN, folded, "-"):
        digits = _digits(m.group())
        if digits[:3] in ("000", "666") or digits[3:5] == "00" or digits[5:] == "0000":
            continue
        if m.group(1) or _cue_before(_SSN_CUE, folded, m.start(), 24):
            out.append(_entity("ssn", digits, text, *m.span()))
    return out


# --- payment cards and bank accounts --------------------------------------------------------

_CARD = re.compile(r"[0-9](?:[ -]?[0-9]){11,18}(?![0-9A-Za-z])")
_CARD_SEP = re.compile(r"[ -]")


class BankCardRecognizer:
    """Payment and bank cards, 12-19 digits, grouped or not.

    mode "luhn": the Luhn check passes and the prefix and length fit a card network.
    mode "luhn_or_issuer" (default): also 16-19-digit numbers that fail Luhn but start with a
    domestic issuer prefix (UnionPay 62..., legacy 9558/95599 accounts), as some real
    domestic cards carry no Luhn digit. More cards caught, a few more order numbers taken
    for cards: ops/eval/privacy.py measures both.
    """

    def __init__(self, mode: BankCardMode = "luhn_or_issuer", issuer_prefixes: tuple[str, ...] = ISSUER_PREFIXES):
        if mode not in ("luhn", "luhn_or_issuer"):
            raise ValueError(f"unknown bank card mode {mode!r}")
        self.mode = mode
        self.issuer_prefixes = issuer_prefixes
        self.__name__ = f"bank_card[{mode}]"

    def is_card(self, digits: str) -> bool:
        if luhn_valid(digits) and card_network_known(digits):
            return True
        return self.mode == "luhn_or_issuer" and 16 <= len(digits) <= 19 and digits.startswith(self.issuer_prefixes)

    def __call__(self, text: str) -> list[Entity]:
        if not isinstance(text, str) or not text:
            return []
        view = _view(text)
        if not view.has_digit:
            return []
        out = []
        for m in _token_matches(_CARD, view.folded):
            groups = _CARD_SEP.split(m.group())
            if len(groups) > 1 and min(map(len, groups)) < 3:
                continue  # "1 2 3 ..." or "12-34-..." is not how cards are written
            digits = "".join(groups)
            if self.is_card(digits):
                out.append(_entity("bank_card", digits, text, *m.span()))
        return out


_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![0-9A-Za-z])")


@_recognizer
def _iban(text: str, view: _View) -> list[Entity]:
    """International bank account numbers (IBAN) that pass the mod-97 check."""
    if not view.has_digit:
        return []
    out = []
    for m in _token_matches(_IBAN, view.folded):
        value = m.group().replace(" ", "")
        if iban_valid(value):
            out.append(_entity("iban", value, text, *m.span()))
    return out


# --- network identifiers --------------------------------------------------------------------

_EMAIL = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9][A-Za-z0-9-]{0,62}"
    r"(?:\.[A-Za-z0-9-]{1,63}){0,6}\.[A-Za-z]{2,24}(?![A-Za-z0-9-]|\.[A-Za-z0-9])"
)


@_recognizer
def _email(text: str, view: _View) -> list[Entity]:
    """E-mail addresses."""
    if "@" not in view.folded:
        return []
    return [_entity("email", m.group().lower(), text, *m.span()) for m in _token_matches(_EMAIL, view.folded, "._%+-")]


_IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?![0-9A-Za-z]|\.[0-9])")
_IPV6 = re.compile(r"(?<![0-9A-Za-z:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Za-z:])")


@_recognizer
def _ip_address(text: str, view: _View) -> list[Entity]:
    """IPv4 and IPv6 addresses."""
    folded, out = view.folded, []
    if view.has_digit and "." in folded:
        for m in _token_matches(_IPV4, folded, "."):
            octets = m.group().split(".")
            if all(int(o) <= 255 and (o == "0" or o[0] != "0") for o in octets):
                out.append(_entity("ip_address", m.group(), text, *m.span()))
    if ":" in folded:
        for m in _IPV6.finditer(folded):
            written = m.group()
            if len(written) < 6 or sum(c != ":" for c in written) < 3:
                continue  # "::1"-like crumbs are not worth masking; times (10:30:00) fail below
            try:
                value = str(ipaddress.IPv6Address(written))
            except ValueError:
                continue
            out.append(_entity("ip_address", value, text, *m.span()))
    return out


# --- vehicles -------------------------------------------------------------------------------

_PLATE = re.compile(
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Za-hj-np-z]"
    r"[·• ]?(?:[DFdf][A-HJ-NP-Za-hj-np-z0-9][0-9]{4}|[0-9]{5}[DFdf]"
    r"|[A-HJ-NP-Za-hj-np-z0-9]{4}[A-HJ-NP-Za-hj-np-z0-9挂学警港澳])(?![0-9A-Za-z])"
)
_PLATE_SEP = re.compile(r"[·• ]")


@_recognizer
def _license_plate(text: str, view: _View) -> list[Entity]:
    """Mainland licence plates: 京A12345, 粤B·D12345 (new energy), 沪A1234挂."""
    if not (view.has_digit and view.has_han):
        return []
    out = []
    for m in _PLATE.finditer(view.folded):
        value = _PLATE_SEP.sub("", m.group()).upper()
        if sum(ch.isdigit() for ch in value) >= 3:  # real plates carry at least three digits
            out.append(_entity("license_plate", value, text, *m.span()))
    return out


# --- addresses and names (best effort) ------------------------------------------------------

# Characters that end a Chinese place or person name: function words and common verbs.
_STOP = frozenset(
    "的了是在和与及或说到至往去寄送发收住址给把被让向对从为请您你我他她它们这那有没不也都就还又要想会能已"
)
_ROAD = re.compile(
    r"(?:路|街|大道|巷|胡同|弄)[0-9]{1,5}(?:-[0-9]{1,4})?号"
    r"|(?:小区|花园|公寓|家园|新村|苑)(?=[0-9A-Za-z]{1,5}(?:号楼|栋|幢|座|单元))"
)
_ZH_TAIL = re.compile(
    r"(?:[0-9A-Za-z]{1,5}(?:号楼|栋|幢|座|单元|层|楼|室|号)|[\u4e00-\u9fff]{2,8}?(?:大厦|广场|中心|大楼)){1,6}"
)
_REGION = re.compile(
    "北京|天津|上海|重庆|河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东"
    "|海南|四川|贵州|云南|陕西|甘肃|青海|台湾|内蒙古|广西|西藏|宁夏|新疆|香港|澳门"
)
_STREET = re.compile(
    r" (?:Street|St|Road|Rd|Avenue|Ave|Boulevard|Blvd|Lane|Ln|Drive|Dr|Terrace|Way|Court|Ct|Place|Pl|Square|Sq"
    r"|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Trail|Row)\b"
)
_EN_ADDRESS = re.compile(
    r"[0-9][0-9]{0,5}(?: [0-9]{1,6})?(?: [A-Z][A-Za-z]{1,20}){1,4} (?:Street|St|Road|Rd|Avenue|Ave"
    r"|Boulevard|Blvd|Lane|Ln|Drive|Dr|Terrace|Way|Court|Ct|Place|Pl|Square|Sq|Parkway|Pkwy"
    r"|Highway|Hwy|Circle|Cir|Trail|Row)\b\.?"
    r"(?:,? (?:Apt|Suite|Unit|Flat|#)\.? ?[0-9A-Za-z]{1,6})?"
)


def _place_start(folded: str, anchor: int) -> int:
    """Walk left from a road or estate name over at most 24 place-name characters, then start at
    the first province or municipality name when there is one (drops "客户反映其" before it)."""
    start = anchor
    while start > 0 and anchor - start < 24:
        ch = folded[start - 1]
        if not "\u4e00" <= ch <= "\u9fff" or ch in _STOP:
            break
        start -= 1
    region = _REGION.search(folded, start, anchor)
    return region.start() if region else start


@_recognizer
def _address(text: str, view: _View) -> list[Entity]:
    """Street addresses: Chinese 省/市/区 + 路/街 + 号 (+ 栋/单元/室), English "742 Evergreen Terrace"."""
    if not view.has_digit:
        return []
    folded, out = view.folded, []
    for m in _ROAD.finditer(folded) if view.has_han else ():
        start = _place_start(folded, m.start())
        if m.start() - start < 2:
            continue  # "一路3号" and a bare "路5号" name no place
        tail = _ZH_TAIL.match(folded, m.end())
        end = tail.end() if tail else m.end()
        out.append(_entity("address", folded[start:end], text, start, end))
    for m in _token_matches(_EN_ADDRESS, folded) if _STREET.search(folded) else ():
        out.append(_entity("address", m.group(), text, *m.span()))
    return out


_SURNAMES = (
    "欧阳|司马|诸葛|上官|东方|皇甫|尉迟|公孙|慕容|令狐|宇文|长孙|司徒|夏侯|端木|独孤|南宫|"
    "[王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏"
    "吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱"
    "严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁"
    "尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳"
    "时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师仇"
    "栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩佘池查麻苑迟邝]"
)
# Characters that rarely stand in a given name but often follow one (先生, 的, 完成...).
_NAME_STOP = (
    "".join(sorted(_STOP))
    + "先女士姐经理师医护电话手机号码证卡身份地址工作单位公司男岁年月日今昨完成来说打办申投诉反映称确诊患"
)
_GIVEN = rf"(?:(?![{_NAME_STOP}])[\u4e00-\u9fff])"
_ZH_NAME = rf"(?:{_SURNAMES}){_GIVEN}{{1,2}}"
_ZH_PERSON_CUE = re.compile(
    r"(?:我叫|我是|本人|姓名|名字叫|名字是|叫做|联系人|持卡人|登记人|用户|寄件人|收件人|收货人|客户|患者"
    r"|病人|承租方|出租方|承租人|申请人|投保人|被保险人|户主|开户人|户名|账户名|乘客|旅客|员工|业主"
    rf"|经办人|负责人|签收人|家属)[:： ]{{0,2}}({_ZH_NAME})"
)
_TITLE = re.compile("先生|女士|小姐|老师|经理|医生")
_NAME_BEFORE = re.compile(rf"{_ZH_NAME}\Z")
_EN_PERSON_HINT = re.compile("ame|ear|Mr|Ms|Mx|Dr|Miss|Prof|pplicant|atient|ardholder")
_EN_WORD = r"[A-ZÀ-ÖØ-Þ][^\W\d_]{1,20}(?:['’-][^\W\d_]{1,20})?"
_EN_PERSON = re.compile(
    r"(?:[Mm]y name is|[Nn]ame is|[Nn]ame:|[Dd]ear|[Aa]pplicant:|[Pp]atient:|[Cc]ardholder:"
    r"|(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?) "
    rf"({_EN_WORD}(?: [A-Z](?:\.|(?= )))?(?: {_EN_WORD}){{0,2}})"
)


def _name_before(folded: str, end: int) -> tuple[int, int] | None:
    m = _NAME_BEFORE.search(folded, max(0, end - 4), end)
    return (m.start(), end) if m else None


@_recognizer
def _person(text: str, view: _View) -> list[Entity]:
    """Names after cues (我叫, 姓名：, 持卡人, "my name is", Mr.), before titles (先生, 女士) or
    right before a mobile number (张三13812345678)."""
    folded, spans = view.folded, []
    if view.has_han:
        spans += (m.span(1) for m in _ZH_PERSON_CUE.finditer(folded))
        spans += filter(None, (_name_before(folded, m.start()) for m in _TITLE.finditer(folded)))
    if view.has_han and view.has_digit:
        for start, _ in _mobiles(folded):
            gap = start - 1 if start and folded[start - 1] in ",，:：" else start
            name = _name_before(folded, gap)
            if name and not (name[0] and "\u4e00" <= folded[name[0] - 1] <= "\u9fff"):
                spans.append(name)
    if _EN_PERSON_HINT.search(folded):
        spans += (m.span(1) for m in _token_matches(_EN_PERSON, folded))
    return [_entity("person", folded[s:e], text, s, e) for s, e in dict.fromkeys(spans)]


# --- the plugin -----------------------------------------------------------------------------

DEFAULT_BANK_CARD_MODE: BankCardMode = "luhn_or_issuer"


def default_recognizers(*, bank_card_mode: BankCardMode = DEFAULT_BANK_CARD_MODE) -> dict[str, Recognizer]:
    """Every built-in recognizer by PII type, the bank card trade-off chosen by `bank_card_mode`."""
    return {
        "phone": _phone,
        "landline": _landline,
        "phone_intl": _phone_intl,
        "id_number": _id_number,
        "passport": _passport,
        "ssn": _ssn,
        "bank_card": BankCardRecognizer(bank_card_mode),
        "iban": _iban,
        "email": _email,
        "ip_address": _ip_address,
        "license_plate": _license_plate,
        "address": _address,
        "person": _person,
    }


@hookimpl
def register_pii_recognizers(register: Callable[[str, Recognizer], None]) -> None:
    for pii_type, recognizer in default_recognizers().items():
        register(pii_type, recognizer)
