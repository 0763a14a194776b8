"""A small caption-domain tokenizer (byte-level BPE, lower-case, one token per digit).

The CLIP vocabulary (49,408 entries) makes the decoder's output layer dominate a width-128
model; the caption language has a few hundred words, so a ~2k-token BPE covers it with whole
words while numbers stay digit by digit (``"39.05"`` -> ``3 9 . 0 5``), as with CLIP.
Special tokens: ``<pad>`` = 0 (the model's pad id), ``<start_of_text>`` = 1, ``<end_of_text>`` = 2.
Loaded by :class:`sleeplm.encoder.model.tokenizer.DomainTokenizer` via ``get_tokenizer(name)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sleeplm.encoder.model.tokenizer import EOT_TOKEN, SOT_TOKEN, clean_text

SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", SOT_TOKEN, EOT_TOKEN)


def train_domain_tokenizer(texts: Iterable[str], out_path: str | Path, vocab_size: int = 2048,
                           min_frequency: int = 2) -> Path:
    """Train the BPE on ``texts`` (cleaned and lower-cased like the CLIP tokenizer) and save it.

    Parameters
    ----------
    texts
        Training captions (all tracks, paraphrases included).
    out_path
        Output ``.json`` tokenizer file (e.g. ``encoder/assets/sleeplm-domain-bpe.json``).
    vocab_size
        Upper bound on the vocabulary (bytes + merges + 3 special tokens).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Lowercase()
    # pre-tokens: each digit (with its leading space, if any), words and punctuation runs
    # (GPT-2 style, leading space attached), so tokens never span words and free text still works.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r" ?[0-9]| ?[^\s0-9a-z]+| ?[a-z]+|\s+"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator((clean_text(t) for t in texts), trainer)
    for i, name in enumerate(SPECIAL_TOKENS):
        if tok.token_to_id(name) != i:
            raise RuntimeError(f"special token {name} did not get id {i}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(out_path))
    return out_path
