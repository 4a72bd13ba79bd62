"""Token heads (issue 24, point 3): they learn a local trace that a mean over tokens dilutes,
and the token cache resumes where a killed run stopped."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def _local_trace(n=240, width=32, seed=0):
    """Tokens where the label is a local region (20 of 196 tokens) shifted along a direction, in one
    block, and the other tokens shifted back, so that the mean over tokens carries no label."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2, 196, width)).astype(np.float16)
    y = np.arange(n) % 2
    d = rng.normal(size=width)
    d /= np.linalg.norm(d)
    for i in np.flatnonzero(y == 1):
        start = rng.integers(0, 196 - 20)
        shift = np.full((196, 1), -3 * 20 / 176)     # the rest moves back: the mean over tokens is unchanged
        shift[start:start + 20] = 3
        x[i, 1] += (shift * d).astype(np.float16)
    return x, y


@pytest.mark.parametrize("kind,lr,epochs", [("attention", 3e-3, 20), ("topk", 3e-2, 30)])
def test_patch_heads_find_a_local_trace_that_the_mean_hides(kind, lr, epochs):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from artcheck.lab.patch_head import fit_patch_head, patch_logits

    x, y = _local_trace()
    tr, te = np.arange(0, 180), np.arange(180, 240)
    model = fit_patch_head(kind, [x], tr, y, np.ones(len(y)), epochs=epochs, lr=lr, batch=32, weight_decay=0.0)
    auc = roc_auc_score(y[te], patch_logits(model, x, te))
    mean = x.astype(np.float32).mean(2).reshape(len(y), -1)
    base = roc_auc_score(y[te], LogisticRegression(C=1.0, max_iter=500).fit(mean[tr], y[tr]).decision_function(mean[te]))
    print(f"{kind}: held-out AUC {auc:.3f}; logistic regression on mean tokens {base:.3f}")
    assert auc > 0.8 and auc > base + 0.15


def test_token_cache_resumes_and_refuses_other_images(tmp_path):
    from artcheck.lab.tokens import TokenCache

    paths = [f"/x/{i}.png" for i in range(3)]
    c = TokenCache(tmp_path, paths, blocks=(11,))
    c.tokens[1] = 1.0
    c.done[1] = 1
    c.done.flush(), c.tokens.flush()
    again = TokenCache(tmp_path, paths)
    assert list(again.done) == [0, 1, 0] and float(again.tokens[1].max()) == 1.0 and not again.complete
    with pytest.raises(ValueError, match="caches other images"):
        TokenCache(tmp_path, paths[:2])
