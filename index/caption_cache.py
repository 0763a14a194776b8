"""In-process caches for chat turns: a night's model input, generated captions, figures, text embeddings.

An epoch question needs the night's preprocessed epochs (read + preprocess an EDF: seconds) and
the model's captions (a batched greedy decode: seconds on a CPU). Reference captions, features and
metrics are already in the workspace (ingest wrote them); these caches hold what ingest did not
keep, so that a repeated or concurrent epoch question costs a lookup.

* :class:`OnceLRU`: a bounded, thread-safe LRU where concurrent misses of the same key wait for
  one computation (single flight) instead of each running it.
* :class:`ChatCache`: one for signals (a few nights, keyed by recording and file), one for
  captions (keyed by model sha256, recording, epoch, track, ``max_len``), one for rendered figures
  (PNG bytes keyed by a digest of everything the figure is drawn from, see
  :func:`sleeplm.agent.plots.figure_key`) and one for text embeddings of queries (keyed by model
  sha256 and the exact text; :class:`CachedTextModel` puts it in front of a model).

The caches live in memory only (nothing is written beside the read-only workspace); they are
emptied when the workspace changes (an upload) and lost when the server stops.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Nights of preprocessed model input kept (an 8-h night is about 74 MB of float32).
DEFAULT_SIGNAL_NIGHTS = 3
DEFAULT_EVENT_NIGHTS = 32
#: Generated captions kept (one per epoch and track; a caption is a few hundred bytes).
DEFAULT_CAPTIONS = 50_000
#: Rendered figures kept (PNG bytes; an epoch's 10-channel plot is about 100 kB, a hypnogram less).
DEFAULT_FIGURES = 256
#: Query text embeddings kept (one vector of the model's width each: 2 kB at 512 floats).
DEFAULT_TEXT_VECTORS = 4096


@dataclass(frozen=True)
class CacheStats:
    """Counts of one cache: lookups answered from memory, computed, waited for another thread."""

    hits: int
    misses: int
    waits: int
    size: int


class OnceLRU:
    """A bounded LRU mapping in which each missing key is computed once, however many ask at once.

    Parameters
    ----------
    max_items : how many values are kept (least recently used dropped first); 0 keeps none, but
        concurrent requests of a key still share one computation.
    """

    def __init__(self, max_items: int):
        if max_items < 0:
            raise ValueError(f"max_items must be >= 0, got {max_items}")
        self.max_items = max_items
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._pending: dict[Hashable, Future] = {}
        self._hits = self._misses = self._waits = 0

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value of ``key``, computed by ``compute()`` only when nobody has it or is computing it."""
        return self.get_many([key], lambda keys: {keys[0]: compute()})[key]

    def get_many(self, keys: Iterable[Hashable],
                 compute: Callable[[list[Hashable]], Mapping[Hashable, Any]]) -> dict[Hashable, Any]:
        """The values of ``keys``; ``compute(missing)`` is called once with the keys this call must compute.

        Keys another thread is computing are waited for, not computed again. An exception in
        ``compute`` is raised here and in every thread waiting for the same keys, and nothing is kept.

        Raises
        ------
        KeyError
            When ``compute`` does not return a value for every key it was given.
        """
        found: dict[Hashable, Any] = {}
        mine: list[Hashable] = []
        waits: dict[Hashable, Future] = {}
        with self._lock:
            for k in dict.fromkeys(keys):
                if k in self._items:
                    self._items.move_to_end(k)
                    found[k] = self._items[k]
                    self._hits += 1
                elif k in self._pending:
                    waits[k] = self._pending[k]
                    self._waits += 1
                else:
                    self._pending[k] = Future()
                    mine.append(k)
                    self._misses += 1
        if mine:
            try:
                values = compute(list(mine))
                missing = [k for k in mine if k not in values]
                if missing:
                    raise KeyError(f"the computation returned no value for {missing[:3]}")
            except BaseException as exc:
                with self._lock:
                    for k in mine:
                        self._pending.pop(k).set_exception(exc)
                raise
            with self._lock:
                for k in mine:
                    found[k] = values[k]
                    if self.max_items:
                        self._items[k] = values[k]
                        self._items.move_to_end(k)
                    self._pending.pop(k).set_result(values[k])
                while len(self._items) > self.max_items:
                    self._items.popitem(last=False)
        for k, fut in waits.items():
            found[k] = fut.result()
        return found

    def clear(self) -> None:
        """Forget every kept value (computations in flight still finish for their callers)."""
        with self._lock:
            self._items.clear()

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, self._waits, len(self._items))


@dataclass
class ChatCache:
    """What the chat sessions of one server share: nights' model input, captions, figures, query vectors, and the
    fact reader's event-head probabilities of nights.

    Keys are built by the callers: signals by ``(recording, path, size, mtime)``, captions by
    :meth:`caption_key`, figures by a digest of their inputs, text vectors by :class:`CachedTextModel`.
    Call :meth:`clear` whenever the workspace's content changes (``workers`` are kept).
    """

    signal_nights: int = DEFAULT_SIGNAL_NIGHTS
    max_captions: int = DEFAULT_CAPTIONS
    max_figures: int = DEFAULT_FIGURES
    max_text_vectors: int = DEFAULT_TEXT_VECTORS
    #: Nights whose event-head probabilities are kept (an 8-h night's are about 0.6 MB).
    event_nights: int = DEFAULT_EVENT_NIGHTS
    #: Where a night's recording is read and preprocessed (seconds of work that holds the GIL): a
    #: process pool on the page, so that other sessions' turns go on meanwhile; None: the calling thread.
    workers: Executor | None = None
    signals: OnceLRU = field(init=False)
    captions: OnceLRU = field(init=False)
    figures: OnceLRU = field(init=False)
    text_vectors: OnceLRU = field(init=False)
    event_probs: OnceLRU = field(init=False)

    def __post_init__(self) -> None:
        self.signals = OnceLRU(self.signal_nights)
        self.captions = OnceLRU(self.max_captions)
        self.figures = OnceLRU(self.max_figures)
        self.text_vectors = OnceLRU(self.max_text_vectors)
        self.event_probs = OnceLRU(self.event_nights)

    @staticmethod
    def caption_key(model_sha256: str, recording: str, epoch_index: int, track: str,
                    max_len: int) -> tuple[str, str, int, str, int]:
        """The key of one generated caption (greedy decoding: the same key gives the same text)."""
        return (model_sha256, recording, int(epoch_index), track, int(max_len))

    def clear(self) -> None:
        self.signals.clear()
        self.captions.clear()
        self.figures.clear()
        self.text_vectors.clear()
        self.event_probs.clear()


class CachedTextModel:
    """A model whose single-text ``encode_text`` calls are answered from a shared cache.

    Every other attribute is the wrapped model's. Only calls with exactly one text are cached (a
    query's embedding: :meth:`sleeplm.index.queries.Cohort.embed_query`), so a cached vector is the
    one the model returns for that text alone, bit for bit; batches go to the model unchanged.
    Each caller gets its own copy of the vector.

    Parameters
    ----------
    model : the loaded model (anything with ``encode_text(list[str]) -> array [n, dim]``).
    cache : where vectors are kept (e.g. :attr:`ChatCache.text_vectors`).
    model_sha256 : the weights' identity, part of every key.
    """

    def __init__(self, model: Any, cache: OnceLRU, model_sha256: str):
        self.wrapped = model
        self._cache = cache
        self._sha = model_sha256

    def encode_text(self, texts: list[str] | str, *args: Any, **kwargs: Any) -> np.ndarray:
        texts = [texts] if isinstance(texts, str) else list(texts)
        if len(texts) != 1 or args or kwargs:
            return self.wrapped.encode_text(texts, *args, **kwargs)
        vec = self._cache.get((self._sha, texts[0]), lambda: np.array(self.wrapped.encode_text(texts)[0]))
        return np.array(vec)[None, :]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)
