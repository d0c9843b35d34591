"""Workloads of issue 11, as the compiler reads them: a two-layer MLP, a row-wise softmax
cross-entropy and a 100-step RNN (plain NumPy; hand-written gradients in bench_workloads.py)."""
import numpy as np


def mlp_loss(W1, b1, W2, b2, X, Y):
    """Two-layer MLP (784-128-10), tanh hidden layer, mean softmax cross-entropy; Y one-hot."""
    H = np.tanh(X @ W1 + b1)
    Z = H @ W2 + b2
    m = np.max(Z, axis=1, keepdims=True)
    E = np.exp(Z - m)
    lse = np.log(np.sum(E, axis=1, keepdims=True)) + m
    return -np.sum(Y * (Z - lse)) / X.shape[0]


def softmax_ce(Z, Y):
    """Mean row-wise softmax cross-entropy of logits Z against one-hot Y."""
    m = np.max(Z, axis=1, keepdims=True)
    E = np.exp(Z - m)
    lse = np.log(np.sum(E, axis=1, keepdims=True)) + m
    return -np.sum(Y * (Z - lse)) / Z.shape[0]


def rnn_loss(Wh, Wx, b, xs, h0):
    """A tanh RNN over the rows of xs (steps x inputs), hidden state h (64); loss 0.5*|h_T|^2."""
    h = h0
    for t in range(xs.shape[0]):
        h = np.tanh(Wh @ h + Wx @ xs[t] + b)
    return 0.5 * np.sum(h * h)
