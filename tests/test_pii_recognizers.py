"""Built-in PII recognizers: what each finds and refuses, validators, bounded work, the hookimpl."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pluggy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk import hookspecs
from frontdesk.plugins import pii_recognizers as pr

R = pr.default_recognizers()


def found(pii_type: str, text: str) -> list[str]:
    return [e.text for e in R[pii_type](text)]


@pytest.mark.parametrize(
    ("pii_type", "text", "expected"),
    [
        ("phone", "手机13812345678，谢谢", ["13812345678"]),
        ("phone", "call 138 1234 5678 or 159-0000-1111", ["138 1234 5678", "159-0000-1111"]),
        ("phone", "+86 138-1234-5678", ["+86 138-1234-5678"]),
        ("phone", "（8613812345678）", ["8613812345678"]),
        ("phone", "１３８１２３４５６７８", ["１３８１２３４５６７８"]),  # full-width digits fold
        ("phone", "138123456789", []),  # twelve digits
        ("phone", "11012345678", []),  # no 11x mobiles
        ("phone", "订单A13812345678", []),  # inside a code
        ("landline", "电话021-87654321", ["021-87654321"]),
        ("landline", "0755-1234567转801", ["0755-1234567转801"]),
        ("landline", "(010)12345678", ["(010)12345678"]),
        ("landline", "075512345678", ["075512345678"]),
        ("phone_intl", "reach me at (415) 555-0198", ["(415) 555-0198"]),
        ("phone_intl", "Cell: +1 (646) 555-0312", ["+1 (646) 555-0312"]),
        ("phone_intl", "+41 (0)69 979 80 58-Fax", ["+41 (0)69 979 80 58"]),
        ("phone_intl", "fax 3660170548", ["3660170548"]),
        ("phone_intl", "order 3660170548", []),  # bare digits need a cue
        # the nearest cue names the number: a phone cue further back does not make an order a phone
        ("phone_intl", "我的手机号是13812345678，订单202401010001", ["13812345678"]),
        ("phone_intl", "call me on 4155550198, order no 202401010001", ["4155550198"]),
        ("phone_intl", "my order 202401010001, call 4155550198", ["4155550198"]),
        ("phone_intl", "call about the refund 4155550198", ["4155550198"]),  # "refund" is not "ref"
        ("phone_intl", "on 2024-03-15 10:30", []),
        ("phone_intl", "from 2020-2024", []),
        ("id_number", "身份证号110101199003074610，请核实", ["110101199003074610"]),
        ("id_number", "110101-19900307-4610", ["110101-19900307-4610"]),
        ("id_number", "11010119900307461x", []),  # wrong check character
        ("id_number", "110101199003071235", []),
        ("id_number", "110101199013074610", []),  # month 13
        ("id_number", "990101199003074610", []),  # no province 99
        ("id_number", "身份证110101900307123", ["110101900307123"]),
        ("id_number", "单号110101900307123", []),  # 15 digits without a cue
        ("passport", "护照号G12345678", ["G12345678"]),
        ("passport", "passport no. P1234567", ["P1234567"]),
        ("passport", "版本V20250101已发布", []),
        ("ssn", "SSN 123-45-6789", ["123-45-6789"]),
        ("ssn", "my ssn is 123456789", ["123456789"]),
        ("ssn", "ref 123456789", []),
        ("ssn", "666-45-6789 and 123-00-6789", []),
        ("iban", "IBAN DE89 3704 0044 0532 0130 00", ["DE89 3704 0044 0532 0130 00"]),
        ("iban", "GB02RVXB01271286793653", ["GB02RVXB01271286793653"]),
        ("iban", "DE89 3704 0044 0532 0130 01", []),  # mod-97 fails
        ("email", "邮箱test@qq.com，", ["test@qq.com"]),
        ("email", "a.b+c@mail.example.co.uk.", ["a.b+c@mail.example.co.uk"]),
        ("email", "not@an-address", []),
        ("ip_address", "from 192.168.1.20 and 2001:db8::1", ["192.168.1.20", "2001:db8::1"]),
        ("ip_address", "at 10:30:00 version 1.2.300.4", []),
        ("license_plate", "车牌京A88888停在门口", ["京A88888"]),
        ("license_plate", "粤B·D12345", ["粤B·D12345"]),
        ("license_plate", "京A123 中A12345", []),
        ("address", "寄到北京市朝阳区建国路100号3栋", ["北京市朝阳区建国路100号3栋"]),
        ("address", "客户反映其新家上海市浦东新区张杨路1088号", ["上海市浦东新区张杨路1088号"]),
        ("address", "我在北京", []),
        ("address", "lives at 742 Evergreen Terrace, Springfield", ["742 Evergreen Terrace"]),
        ("person", "请联系刘伟先生", ["刘伟"]),
        ("person", "持卡人吴静的银行卡", ["吴静"]),
        ("person", "张三13812345678", ["张三"]),
        ("person", "张三说了话", []),
        ("person", "my name is Sarah Mitchell and", ["Sarah Mitchell"]),
    ],
)
def test_recognizers_find_and_refuse(pii_type: str, text: str, expected: list[str]) -> None:
    assert found(pii_type, text) == expected


def test_entity_fields_are_normalised_and_located() -> None:
    text = "电话 +86 138-1234-5678"
    (ent,) = R["phone"](text)
    assert (ent.type, ent.value, ent.source) == ("phone", "13812345678", "pii")
    assert text[ent.start : ent.end] == ent.text == "+86 138-1234-5678"


def test_luhn_and_id_validators() -> None:
    assert pr.luhn_valid("4111111111111111")
    assert not pr.luhn_valid("4111111111111112")
    assert pr.id_number_valid("11010519491231002X")
    assert not pr.id_number_valid("11010519491231002")
    assert pr.iban_valid("GB82WEST12345698765432")


def test_bank_card_modes_trade_recall_for_precision() -> None:
    luhn = pr.BankCardRecognizer("luhn")
    issuer = pr.BankCardRecognizer("luhn_or_issuer")
    unionpay_without_luhn = "卡号6217001234567890"
    assert luhn(unionpay_without_luhn) == []
    assert [e.value for e in issuer(unionpay_without_luhn)] == ["6217001234567890"]
    for recognizer in (luhn, issuer):
        assert [e.text for e in recognizer("card 4111-1111-1111-1111")] == ["4111-1111-1111-1111"]
        assert recognizer("order 1234567890123456") == []  # no network, no Luhn
        assert recognizer("1 2 3 4 5 6 7 8 9 0 1 2 3") == []
    with pytest.raises(ValueError):
        pr.BankCardRecognizer("loose")  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_recognizers_never_raise(text: str) -> None:
    for pii_type, recognizer in R.items():
        for ent in recognizer(text):
            assert ent.type == pii_type
            assert text[ent.start : ent.end] == ent.text


def test_non_string_input_gives_nothing() -> None:
    for recognizer in R.values():
        assert recognizer(None) == []  # type: ignore[arg-type]
        assert recognizer("") == []


def test_every_pattern_has_bounded_width() -> None:
    """Bounded width means bounded work per start position: matching stays linear in the text."""
    patterns = [v for v in vars(pr).values() if isinstance(v, re.Pattern)]
    assert len(patterns) > 20
    for pattern in patterns:
        _, high = re._parser.parse(pattern.pattern, pattern.flags).getwidth()
        assert high <= 1000, pattern.pattern


def test_adversarial_inputs_finish_within_a_cpu_budget() -> None:
    """Catastrophic backtracking shows up as runaway CPU: the child is killed at the limit."""
    script = textwrap.dedent(
        """
        import resource
        resource.setrlimit(resource.RLIMIT_CPU, (60, 60))
        from frontdesk.plugins.pii_recognizers import default_recognizers
        n = 20_000
        texts = ["1" * n, "1 " * n, "1-" * n, "a" * n + "@", "a@" * n, "a." * n + "@b", "京A" * n,
                 "张" * n, "路1号" * n, "我叫" * n, "Mr. Aa " * n, ":" * n, "f:" * n, "1." * n,
                 "+" * n + "1", "(0)" * n, "6" * (n - 1) + "x", "身份证" + "1" * n, "号楼1" * n]
        for text in texts:
            for recognizer in default_recognizers().values():
                recognizer(text)
        print("done")
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done"


def test_plugin_registers_every_recognizer_through_the_hook() -> None:
    pm = pluggy.PluginManager("frontdesk")
    pm.add_hookspecs(hookspecs)
    pm.register(pr)
    registered: dict[str, object] = {}
    pm.hook.register_pii_recognizers(register=registered.__setitem__)
    assert set(registered) == set(R)
    assert [e.text for e in registered["phone"]("13812345678")] == ["13812345678"]  # type: ignore[operator]


def _token_matches_one_by_one(pattern: re.Pattern[str], folded: str, also: str) -> list[tuple[int, int]]:
    """The definition: after a match that does not start a token, retry one character later."""
    found, pos = [], 0
    while (m := pattern.search(folded, pos)) is not None:
        if pr._starts_token(folded, m.start(), also):
            found.append(m.span())
            pos = m.end()
        else:
            pos = m.start() + 1
    return found


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("0123456789aZ+-._%@( )中"), max_size=40),
    st.sampled_from([pr._CARD, pr._INTL_PHONE, pr._SSN, pr._EMAIL, pr._IPV4, pr._PASSPORT]),
    st.sampled_from(["", "+", "-", "+.-", "._%+-", "."]),
)
def test_skipping_a_run_finds_what_retrying_one_by_one_finds(text: str, pattern: re.Pattern[str], also: str) -> None:
    assert [m.span() for m in pr._token_matches(pattern, text, also)] == _token_matches_one_by_one(pattern, text, also)
