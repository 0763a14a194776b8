"""The CLIP BPE tokenizer, with SleepLM's conventions (SOT/EOT, context 256, zero padding)."""

from __future__ import annotations

import pytest

from sleeplm.encoder.model.tokenizer import ClipTokenizer, clean_text, get_tokenizer, join_digit_runs


@pytest.fixture(scope="module")
def tok() -> ClipTokenizer:
    return get_tokenizer()


def test_vocabulary_has_49408_entries_with_sot_and_eot_last(tok):
    assert tok.vocab_size == 49408
    assert (tok.sot_token_id, tok.eot_token_id) == (49406, 49407)


def test_rows_are_sot_bpe_eot_then_zero_padding_to_256(tok):
    ids = tok(["hello world"])
    assert ids.shape == (1, 256)
    row = ids[0].tolist()
    n = row.index(49407) + 1
    assert row[0] == 49406 and row[1:n - 1] == tok.encode("hello world")
    assert row[n:] == [0] * (256 - n)


def test_digits_are_split_one_by_one(tok):
    assert tok.encode("39.05") == [tok.encode(c)[0] for c in "39.05"]


def test_cleaning_lowercases_unescapes_html_and_collapses_whitespace():
    assert clean_text("  Wake &amp;amp;  N2\n\tSleep ") == "wake & n2 sleep"


def test_case_does_not_change_ids(tok):
    assert tok.encode("REM Sleep") == tok.encode("rem sleep")


def test_long_text_is_cut_and_ends_with_eot(tok):
    ids = tok("word " * 400)[0]
    assert ids.shape == (256,) and ids[-1].item() == 49407 and (ids != 0).all()


def test_custom_context_length(tok):
    assert tok(["a b c"], context_length=8).shape == (1, 8)


def test_decode_drops_special_and_pad_ids_and_joins_numbers(tok):
    text = "Delta relative power of 39.05%, from 0.0 to 15.2 seconds."
    assert tok.decode(tok(text)[0]) == "delta relative power of 39.05 %, from 0.0 to 15.2 seconds ."


def test_decode_can_keep_the_model_spacing(tok):
    assert tok.decode(tok.encode("from 0.0 to 15.2"), join_digits=False) == "from 0 . 0 to 1 5 . 2"


@pytest.mark.parametrize(
    ("raw", "joined"),
    [
        ("3 9 . 0 5", "39.05"),
        ("0 . 0", "0.0"),
        ("( c 4 - a 1 ):", "( c4-a1 ):"),
        ("n 2 sleep", "n2 sleep"),
        ("spo 2 of 9 8 %", "spo2 of 98 %"),
        ("a 1 . 5 s burst", "a 1.5 s burst"),
        ("rate of 1 4 . 7 1 bpm , and", "rate of 14.71 bpm , and"),
        ("epoch . 3 stages", "epoch . 3 stages"),
    ],
)
def test_join_digit_runs(raw, joined):
    assert join_digit_runs(raw) == joined


def test_round_trip_of_a_caption(tok):
    text = "the patient exhibits n2 sleep features in this segment ."
    assert tok.decode(tok(text)[0]) == text


def test_contractions_are_matched_case_insensitively_as_in_openais_pattern(tok):
    # OpenAI compiles its pre-token pattern with re.IGNORECASE: "'ſ" (long s folds to s) is one
    # contraction piece, not "'" then "ſ" as a case-sensitive split (CLIPTokenizerFast's) makes it
    assert tok.encode("'ſ") != tok.encode("'") + tok.encode("ſ")
    assert tok.encode("x'ſa")[:2] == tok.encode("x'ſ")[:2]


def test_special_token_names_in_a_text_are_the_special_ids(tok):
    assert tok.encode("<start_of_text>hello<end_of_text>") == [tok.sot_token_id, *tok.encode("hello"), tok.eot_token_id]
