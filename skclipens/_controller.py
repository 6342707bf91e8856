"""The torch part of the learned ensembles: a gate network, the ways it combines
per-backbone logits, and the training loop.

Everything here works on plain tensors; the estimators in ``_ensemble`` and
``_baselines`` own validation and the scikit-learn contract.
"""

import math
import warnings

import torch
from torch import nn
from torch.nn import functional as F

# How the gate's B outputs o turn the per-backbone logits z_b into class scores.
# The Neural Logit Controller's three:
#   "multiply": z = sum_b o_b z_b
#   "divide":   z = sum_b z_b / softplus(o_b)   (positive temperatures that divide)
#   "softmax":  z = sum_b softmax(o)_b z_b      (convex weights over backbones)
# and the mixture of experts baseline's:
#   "mixture":  p = sum_b softmax(o)_b softmax(z_b)

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


def as_tensor(array):
    """A torch view of a NumPy array, read-only ones included.

    The ensembles only read their inputs, so a view of a read-only array
    (BackboneFeatures' are) is safe; torch would warn about each one.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The given NumPy array is not writable")
        return torch.from_numpy(array)


def initial_bias(combination, n_backbones):
    """The output bias that makes an untrained gate the plain average."""
    if combination == "multiply":
        return 1.0 / n_backbones
    if combination == "divide":
        # softplus(b) = n_backbones, so z = sum_b z_b / B.
        return n_backbones + math.log(-math.expm1(-n_backbones))
    return 0.0  # a uniform softmax


class Gate(nn.Module):
    """``x -> out(activation(hidden(x * input_scale)))``, or ``out(x * input_scale)``
    without a hidden layer.

    ``input_scale`` is a fixed per-column factor, folded into the first
    layer's weights rather than applied to ``x``, so that no scaled copy of
    the input is made.
    """

    def __init__(self, input_scale, hidden_layer_size, n_backbones, activation):
        super().__init__()
        self.register_buffer("input_scale", input_scale)
        n_inputs = len(input_scale)
        # Made on the meta device, so that building a layer draws nothing from
        # torch's global generator; build_gate gives the values.
        self.hidden = None
        if hidden_layer_size:
            self.hidden = nn.Linear(n_inputs, hidden_layer_size, device="meta")
            self.hidden.to_empty(device="cpu")
            self.activation = ACTIVATIONS[activation]()
        self.out = nn.Linear(hidden_layer_size or n_inputs, n_backbones, device="meta")
        self.out.to_empty(device="cpu")

    def forward(self, x):
        first = self.out if self.hidden is None else self.hidden
        x = F.linear(x, first.weight * self.input_scale, first.bias)
        return x if self.hidden is None else self.out(self.activation(x))


def build_gate(widths, n_backbones, hidden_layer_size, activation, combination, generator):
    """A gate over the concatenation of unit-norm embeddings of the given widths.

    Each backbone's block is scaled by ``sqrt(width)``, so that every input
    coordinate has unit mean square, the scale at which the layers'
    initialisation and Adam's learning rate are meant to work (a unit-norm
    embedding's coordinates are ``1/sqrt(width)`` in size).

    The hidden layer is initialised as torch's ``nn.Linear`` does, from
    ``generator``; the output layer's weights are zero and its bias is
    :func:`initial_bias`, so the untrained gate outputs the same
    temperatures for every image: the plain average.
    """
    input_scale = torch.cat([torch.full((w,), math.sqrt(w), dtype=torch.float32) for w in widths])
    gate = Gate(input_scale, hidden_layer_size, n_backbones, activation)
    with torch.no_grad():
        if gate.hidden is not None:
            bound = 1.0 / math.sqrt(len(input_scale))
            nn.init.uniform_(gate.hidden.weight, -bound, bound, generator=generator)
            nn.init.uniform_(gate.hidden.bias, -bound, bound, generator=generator)
        gate.out.weight.zero_()
        gate.out.bias.fill_(initial_bias(combination, n_backbones))
    return gate


def temperatures(outputs, combination):
    """The per-backbone numbers as the combination uses them (see the top of this module)."""
    if combination == "multiply":
        return outputs
    if combination == "divide":
        return F.softplus(outputs)
    return torch.softmax(outputs, dim=1)


def combine(outputs, logits, combination):
    """Class scores (n, C) from gate outputs (n, B) and logits (n, B, C).

    For the logit combinations the scores are the ensemble's logits; for
    ``"mixture"`` they are log-probabilities. Either way
    ``log_softmax(scores)`` is the ensemble's log-probability.
    """
    if combination == "mixture":
        log_gate = torch.log_softmax(outputs, dim=1)
        return torch.logsumexp(log_gate[:, :, None] + torch.log_softmax(logits, dim=2), dim=1)
    t = temperatures(outputs, combination)
    if combination == "divide":
        t = 1.0 / t
    return torch.einsum("nb,nbc->nc", t, logits)


def train_gate(
    gate,
    combination,
    inputs,
    logits,
    y,
    *,
    learning_rate,
    weight_decay,
    max_iter,
    batch_size,
    tol,
    n_iter_no_change,
    generator,
):
    """Fit ``gate`` with Adam on the cross-entropy of the combined logits.

    An epoch is one pass over the data in shuffled mini-batches of
    ``batch_size`` (one full batch when the data is smaller). Training stops
    after ``max_iter`` epochs, or once the epoch's mean training loss has not
    fallen by ``tol`` for ``n_iter_no_change`` epochs in a row.

    Returns the number of epochs run and the loss of each.
    """
    inputs, logits, y = as_tensor(inputs), as_tensor(logits), as_tensor(y)
    n_samples = len(y)
    batch_size = min(batch_size, n_samples)
    optimizer = torch.optim.Adam(gate.parameters(), lr=learning_rate, weight_decay=weight_decay)
    losses, best, stalled = [], math.inf, 0
    gate.train()
    for _ in range(max_iter):
        order = torch.randperm(n_samples, generator=generator) if batch_size < n_samples else None
        total = 0.0
        for start in range(0, n_samples, batch_size):
            if order is None:
                xb, zb, yb = inputs, logits, y
            else:
                idx = order[start : start + batch_size]
                xb, zb, yb = inputs[idx], logits[idx], y[idx]
            loss = F.cross_entropy(combine(gate(xb), zb, combination), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
        losses.append(total / n_samples)
        stalled = stalled + 1 if losses[-1] > best - tol else 0
        best = min(best, losses[-1])
        if stalled >= n_iter_no_change:
            break
    gate.eval()
    return len(losses), losses
