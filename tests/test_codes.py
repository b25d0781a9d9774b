"""Share-link codes: generation, explicit-code rules, reserved and profane words."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sharelinks.http.errors import ApiError
from sharelinks.shareables import codes


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=10**6))
def test_random_codes_are_lowercase_lookalike_free_and_clean(_: int) -> None:
    code = codes.random_code()
    assert len(code) == codes.RANDOM_LENGTH >= 8
    assert set(code) <= set(codes.ALPHABET)
    assert not set(code) & set("01oilIO")
    assert codes.profane_word(code) is None
    assert not any(len(w) > 1 and w in code for w in codes.RESERVED_WORDS)
    assert codes.check_explicit(code) == code  # a generated code would pass the explicit rules too


def test_alphabet_has_31_symbols_and_no_lookalikes() -> None:
    assert len(set(codes.ALPHABET)) == len(codes.ALPHABET) == 31


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("abc", "code_out_of_range"),
        ("a" * 51, "code_out_of_range"),
        ("alex 01", "code_illegal_character"),
        ("alex.01", "code_illegal_character"),
        ("ålex01", "code_illegal_character"),
        ("admin", "code_contains_reserved_word"),
        ("ADMIN", "code_contains_reserved_word"),
        ("my-admin", "code_contains_reserved_word"),
        ("v1_promo", "code_contains_reserved_word"),
        ("console", "code_contains_reserved_word"),
        ("fuckyou", "code_profane_word"),
        ("sh1tstorm", "code_profane_word"),  # leetspeak: 1 -> i
        ("5hit", "code_profane_word"),  # 5 -> s
        ("b1tch", "code_profane_word"),
        ("f-u-c-k", "code_profane_word"),  # separators dropped
        ("ass", "code_out_of_range"),  # length is checked first
        ("my-ass", "code_profane_word"),  # short words match a whole segment
    ],
)
def test_explicit_code_rules(code: str, error: str) -> None:
    with pytest.raises(ApiError) as raised:
        codes.check_explicit(code)
    assert raised.value.code == error


@pytest.mark.parametrize("code", ["alex01", "Alex_01", "happiness", "classic", "passport", "grape-42", "assets1"])
def test_innocent_codes_pass(code: str) -> None:
    assert codes.check_explicit(code) == code


def test_reserved_word_is_reported() -> None:
    with pytest.raises(ApiError) as raised:
        codes.check_explicit("promo-api")
    assert raised.value.parameters == {"code": "promo-api", "reserved_word": "api"}


def test_name_codes_fold_accents_and_count_up() -> None:
    assert codes.fold_name("José-María") == "josemaria"
    candidates = codes.name_candidates("Alex")
    assert candidates[0] == "alex01" and candidates[1] == "alex02" and len(candidates) == 99
    assert codes.name_candidates("") == [] and codes.name_candidates("李") == []


def test_profane_names_never_become_codes() -> None:
    assert codes.name_candidates("Shit") == []


def test_name_fallback_has_random_suffix() -> None:
    code = codes.name_fallback("Alex")
    assert code.startswith("alex-") and len(code) == 9


def test_suggestions_are_valid_codes() -> None:
    for suggestion in codes.suggestions_for("alex01"):
        assert codes.check_explicit(suggestion) == suggestion


def _plain_codes_with_blocklisted_words() -> st.SearchStrategy[str]:
    """Codes a generator could make (lowercase, no "1", no separators), often with a blocklisted
    word, as typed or in leetspeak, at the start, the end or inside."""
    whole, edges, anywhere = codes._matchers()
    leet = str.maketrans({"o": "0", "e": "3", "a": "4", "s": "5", "t": "7"})
    words = sorted(w for w in (*whole, *edges, *(anywhere.pattern.replace("\\", "").split("|") if anywhere else ()))
                   if codes._PLAIN(w))  # fmt: skip
    fill = st.text(alphabet="abcdefghjkmnpqrstuvwxyz0234567890", max_size=6)
    word = st.sampled_from(words).flatmap(lambda w: st.sampled_from([w, w.translate(leet)]))
    return st.one_of(fill.filter(bool), st.builds(lambda a, w, b: a + w + b, fill, word, fill))


@settings(max_examples=2000)
@given(_plain_codes_with_blocklisted_words())
def test_the_generated_code_check_answers_as_the_general_one(code: str) -> None:
    assert codes._PLAIN(code)
    assert codes._profane_plain(code) == (codes.profane_word(code) is not None)
