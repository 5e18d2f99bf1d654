"""A scikit-learn MLP's forward pass through accel.linear on Arrays matches predict_proba:
float32 within 1e-4, float64 within 1e-10, and no prediction differs, on every backend."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import accel
from accel import backends

sklearn = pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def mlp():
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(hidden_layer_sizes=(64, 32), activation="tanh", max_iter=60,
                              random_state=0).fit(x, y)  # fmt: skip
    return model, x


def forward(model, x, backend, dtype):
    h = accel.asarray(x.astype(dtype), backend=backend)
    last = len(model.coefs_) - 1
    for i, (w, b) in enumerate(zip(model.coefs_, model.intercepts_, strict=True)):
        wa = accel.asarray(w.astype(dtype), backend=backend)
        ba = accel.asarray(b.astype(dtype), backend=backend)
        h = accel.linear(h, wa, ba, activation=None if i == last else model.activation)
    return accel.softmax(h).numpy()


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-4), (np.float64, 1e-10)])
def test_mlp_forward_matches_predict_proba(backend, mlp, dtype, tol):
    model, x = mlp
    if np.dtype(dtype) not in backends.get(backend.split("-")[0]).dtypes():
        pytest.skip("dtype not run here")
    expected = model.predict_proba(x)
    probs = forward(model, x, backend.split("-")[0], dtype)
    np.testing.assert_allclose(probs, expected, atol=tol, rtol=0)
    assert np.array_equal(probs.argmax(axis=1), expected.argmax(axis=1))
