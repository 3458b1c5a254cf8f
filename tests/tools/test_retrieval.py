import numpy as np

from lai.tools.retrieval import minilm_embedder, nearest

QUESTIONS = [
    "Sam has 345 marbles and loses 178. How many are left?",
    "A baker makes 24 trays of 6 buns. How many buns?",
    "It takes 150 minutes to fly. How many hours and minutes is that?",
    "Mia had 902 stickers and gave away 457. How many does she have?",
    "Each box holds 8 pens. How many pens are in 13 boxes?",
    "The train left at 9:15 and arrived at 11:40. How long was the trip in minutes?",
    "What is the capital of France?",
]


def test_neighbours_are_the_exact_nearest_by_cosine():
    embed = minilm_embedder()
    queries, corpus = QUESTIONS[:2], QUESTIONS[2:]
    idx, scores = nearest(queries, corpus, k=2, embed=embed)
    q, c = embed(queries), embed(corpus)
    sims = q @ c.T  # unit vectors: cosine
    for i in range(len(queries)):
        expected = np.argsort(-sims[i])[:2]
        assert list(idx[i]) == list(expected)
        assert np.allclose(scores[i], sims[i][expected], atol=1e-5)
    # meaning, not just words: the subtraction question finds the other subtraction question
    assert corpus[idx[0][0]].startswith("Mia had 902")
    assert corpus[idx[1][0]].startswith("Each box holds 8")


def test_k_larger_than_corpus_and_empty_inputs():
    """Always shape (len(queries), min(k, len(corpus))), empty inputs included."""
    idx, scores = nearest(["a question"], ["only one"], k=3, embed=minilm_embedder())
    assert idx.tolist() == [[0]] and scores.shape == (1, 1) and -1.0 <= scores[0, 0] <= 1.0
    idx, scores = nearest([], ["x", "y"], k=1)
    assert idx.shape == scores.shape == (0, 1)
    idx, scores = nearest(["a", "b"], [], k=2)
    assert idx.shape == scores.shape == (2, 0)
