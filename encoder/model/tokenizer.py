"""OpenAI CLIP byte-level BPE tokenizer, as SleepLM uses it (context 256, zero padding).

The BPE runs in Hugging Face ``tokenizers``; the vocabulary file
``assets/bpe_simple_vocab_16e6.txt.gz`` is OpenAI's (MIT, see ``assets/NOTICE.md``).
Cleaning: ftfy, HTML-unescape twice, collapse whitespace, lowercase. Digits are split one by one,
so ``"39.05"`` encodes as ``3 9 . 0 5``; ``decode`` joins such runs back.
"""

from __future__ import annotations

import gzip
import html
from functools import lru_cache
from pathlib import Path
from typing import Any

import ftfy
import regex
import torch

DEFAULT_BPE_PATH = Path(__file__).resolve().parents[1] / "assets" / "bpe_simple_vocab_16e6.txt.gz"
SOT_TOKEN = "<start_of_text>"
EOT_TOKEN = "<end_of_text>"
NUM_MERGES = 49152 - 256 - 2  # merges used by CLIP: vocab 49408 = 512 byte symbols + merges + 2 specials
#: OpenAI's pre-token pattern (compiled with re.IGNORECASE there: ``(?i)``); pieces are then BPE-merged.
CLIP_PATTERN = r"""(?i)'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""

_DIGIT_SPACE = regex.compile(r"(?<=\d) (?=\d)")
_DIGIT_POINT = regex.compile(r"(?<=\d) \. (?=\d)")
#: Sleep-domain names that the digit split breaks apart: stages (n 2), EEG derivations (c 4 - a 1), spo 2.
_DOMAIN_NAMES = (
    (regex.compile(r"\bn ([1-4])\b"), r"n\1"),
    (regex.compile(r"\bc ([34]) - a ([12])\b"), r"c\1-a\2"),
    (regex.compile(r"\bspo 2\b"), "spo2"),
)


@lru_cache()
def bytes_to_unicode() -> dict[int, str]:
    """Map every byte to a printable unicode character.

    Printable Latin-1 bytes map to themselves and come first (in byte order); the other 68 bytes
    follow, mapped to ``chr(256 + k)``. This dict order is the order of the 256 base vocab entries.
    """
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping = {b: chr(b) for b in keep}
    others = [b for b in range(256) if b not in mapping]
    mapping.update({b: chr(256 + k) for k, b in enumerate(others)})
    return mapping


def clean_text(text: str) -> str:
    """ftfy fix, HTML-unescape twice, collapse whitespace, lowercase."""
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return " ".join(text.split()).lower()


def join_digit_runs(text: str) -> str:
    """``"3 9 . 0 5 %"`` -> ``"39.05 %"``, ``"n 2"`` -> ``"n2"``, ``"c 4 - a 1"`` -> ``"c4-a1"``.

    Other spacing is left as it is.
    """
    text = _DIGIT_SPACE.sub("", _DIGIT_POINT.sub(".", text))
    for pattern, repl in _DOMAIN_NAMES:
        text = pattern.sub(repl, text)
    return text


def pack_ids(rows: list[list[int]], context_length: int, sot: int, eot: int, pad: int) -> torch.Tensor:
    """``[SOT] + ids + [EOT]`` per row, padded with ``pad`` to ``context_length``; a row that is too long is
    cut and its last kept token forced to EOT (the official tokenizer's rule)."""
    out = torch.full((len(rows), context_length), pad, dtype=torch.long)
    for row, body in enumerate(rows):
        ids = [sot, *body, eot]
        if len(ids) > context_length:
            ids = ids[:context_length]
            ids[-1] = eot
        out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


class TextTokenizer:
    """What the CLIP and domain tokenizers share: a Hugging Face ``tokenizers`` pipeline run on
    :func:`clean_text` output, rows packed by :func:`pack_ids`.

    Subclasses set ``tok`` (a ``tokenizers.Tokenizer``), ``context_length``, ``pad_id``,
    ``sot_token_id``, ``eot_token_id`` and ``vocab_size``, and define ``decode``.
    """

    tok: Any
    context_length: int
    pad_id: int
    sot_token_id: int
    eot_token_id: int
    vocab_size: int

    def encode(self, text: str) -> list[int]:
        """Ids of ``text`` without SOT / EOT."""
        return self.tok.encode(clean_text(text), add_special_tokens=False).ids

    def __call__(self, texts: str | list[str], context_length: int | None = None) -> torch.Tensor:
        """``[N, context_length]`` int64 ids: ``[SOT] + ids + [EOT]`` per text, padded (see :func:`pack_ids`)."""
        if isinstance(texts, str):
            texts = [texts]
        n = context_length or self.context_length
        encoded = self.tok.encode_batch([clean_text(t) for t in texts], add_special_tokens=False)
        return pack_ids([e.ids for e in encoded], n, self.sot_token_id, self.eot_token_id, self.pad_id)


class ClipTokenizer(TextTokenizer):
    """CLIP BPE tokenizer with SleepLM's conventions.

    ``tokenizer(texts)`` returns ``[N, context_length]`` int64 ids: ``[SOT] + bpe + [EOT]``, zero-padded;
    longer sequences are cut and their last kept token set to EOT.

    The BPE runs in Hugging Face ``tokenizers`` (Rust) with OpenAI's pre-token pattern (case-insensitive,
    as in OpenAI's code) and byte-level symbols, after :func:`clean_text` (ftfy, HTML unescape, whitespace,
    lower case). ``transformers``' ``CLIPTokenizerFast`` is not used: its pattern is case-sensitive and its
    pieces are split again by GPT-2's pattern, so its ids differ from OpenAI's on some text (``"'ſ"``).
    """

    def __init__(self, bpe_path: str | Path = DEFAULT_BPE_PATH, context_length: int = 256, pad_id: int = 0) -> None:
        from tokenizers import Regex, Tokenizer, models, pre_tokenizers

        lines = gzip.open(bpe_path, "rt", encoding="utf-8").read().split("\n")
        merges = [tuple(line.split()) for line in lines[1 : NUM_MERGES + 1]]
        byte_symbols = list(bytes_to_unicode().values())
        vocab = byte_symbols + [s + "</w>" for s in byte_symbols] + ["".join(m) for m in merges]
        vocab += [SOT_TOKEN, EOT_TOKEN]
        self.encoder = {tok: i for i, tok in enumerate(vocab)}
        self.decoder = dict(enumerate(vocab))
        self.byte_decoder = {c: b for b, c in bytes_to_unicode().items()}
        self.tok = Tokenizer(models.BPE(vocab=self.encoder, merges=merges, continuing_subword_prefix="",
                                        end_of_word_suffix="</w>", unk_token=EOT_TOKEN, fuse_unk=False))
        self.tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(CLIP_PATTERN), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
        self.tok.add_special_tokens([SOT_TOKEN, EOT_TOKEN])  # spelled out in a text, they are the special ids
        self.context_length = context_length
        self.pad_id = pad_id
        self.sot_token_id = self.encoder[SOT_TOKEN]
        self.eot_token_id = self.encoder[EOT_TOKEN]
        self.vocab_size = len(vocab)

    def decode(self, ids: list[int] | torch.Tensor, join_digits: bool = True) -> str:
        """Text of ``ids`` without SOT, EOT and pad (0); digit runs re-joined unless ``join_digits=False``."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        skip = {self.sot_token_id, self.eot_token_id, self.pad_id}
        symbols = "".join(self.decoder[i] for i in ids if i not in skip)
        raw = bytearray(self.byte_decoder[c] for c in symbols).decode("utf-8", errors="replace")
        text = " ".join(raw.replace("</w>", " ").split())
        return join_digit_runs(text) if join_digits else text


class DomainTokenizer(TextTokenizer):
    """A small ``tokenizers`` (Hugging Face) tokenizer file with the ``ClipTokenizer`` interface.

    Trained on the caption corpus by :mod:`sleeplm.encoder.train.domain_tokenizer`: byte-level
    BPE, lower-case, digits one per token; ``<pad>`` = 0, ``<start_of_text>`` and ``<end_of_text>``.
    """

    def __init__(self, path: str | Path, context_length: int = 256, pad_id: int = 0) -> None:
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(path))
        self.context_length = context_length
        self.pad_id = pad_id
        self.sot_token_id = self.tok.token_to_id(SOT_TOKEN)
        self.eot_token_id = self.tok.token_to_id(EOT_TOKEN)
        self.vocab_size = self.tok.get_vocab_size()
        if self.tok.id_to_token(pad_id) != "<pad>" or self.sot_token_id is None or self.eot_token_id is None:
            raise ValueError(f"{path}: expected <pad> at id {pad_id} and {SOT_TOKEN} / {EOT_TOKEN} tokens")

    def decode(self, ids: list[int] | torch.Tensor, join_digits: bool = True) -> str:
        """Text of ``ids`` without SOT, EOT and pad (``join_digits`` kept for interface parity)."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        skip = {self.sot_token_id, self.eot_token_id, self.pad_id}
        return " ".join(self.tok.decode([i for i in ids if i not in skip], skip_special_tokens=True).split())


@lru_cache(maxsize=4)
def get_tokenizer(name: str = "clip", context_length: int = 256) -> ClipTokenizer | DomainTokenizer:
    """A cached tokenizer: ``"clip"``, a domain tokenizer ``assets/<name>.json``, or a ``.json`` path."""
    if name == "clip":
        return ClipTokenizer(context_length=context_length)
    path = Path(name) if name.endswith(".json") else DEFAULT_BPE_PATH.parent / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"unknown tokenizer {name!r} (available: 'clip' or a tokenizer file {path})")
    return DomainTokenizer(path, context_length=context_length)
