"""The torch part of the learned ensembles: a gate network, the ways it combines
per-backbone logits, and the training loop.

Everything here works on plain tensors; the estimators in ``_ensemble`` and
``_baselines`` own validation and the scikit-learn contract.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

#: How the gate's B outputs ``o`` turn the per-backbone logits ``z_b`` into
#: class scores. The first three are the Neural Logit Controller's;
#: ``"mixture"`` is the mixture of experts baseline.
COMBINATIONS = {
    # z = sum_b o_b z_b
    "multiply": "temperatures multiply the logits: z = sum_b t_b(x) z_b(x)",
    # z = sum_b z_b / softplus(o_b)
    "divide": "positive temperatures divide the logits: z = sum_b z_b(x) / t_b(x)",
    # z = sum_b softmax(o)_b z_b
    "softmax": "weights from a softmax over backbones: z = sum_b w_b(x) z_b(x)",
    # p = sum_b softmax(o)_b softmax(z_b)
    "mixture": "a gate mixes probabilities: p = sum_b g_b(x) softmax(z_b(x))",
}

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


def initial_bias(combination, n_backbones):
    """The output bias that makes an untrained gate the plain average."""
    if combination == "multiply":
        return 1.0 / n_backbones
    if combination == "divide":
        # softplus(b) = n_backbones, so z = sum_b z_b / B.
        return n_backbones + math.log(-math.expm1(-n_backbones))
    return 0.0  # a uniform softmax


def build_gate(n_inputs, n_backbones, hidden_layer_size, activation, combination, generator):
    """An MLP with one hidden layer (or a linear map when ``hidden_layer_size`` is 0).

    The hidden layer is initialised as torch's ``nn.Linear`` does, from
    ``generator``; the output layer's weights are zero and its bias is
    :func:`initial_bias`, so the untrained gate outputs the same
    temperatures for every image: the plain average.
    """
    # Layers are made on the meta device, so that building them draws nothing
    # from torch's global generator, then given their values here.
    layers = []
    width = n_inputs
    if hidden_layer_size:
        hidden = nn.Linear(n_inputs, hidden_layer_size, device="meta").to_empty(device="cpu")
        bound = 1.0 / math.sqrt(n_inputs)
        with torch.no_grad():
            nn.init.uniform_(hidden.weight, -bound, bound, generator=generator)
            nn.init.uniform_(hidden.bias, -bound, bound, generator=generator)
        layers += [hidden, ACTIVATIONS[activation]()]
        width = hidden_layer_size
    out = nn.Linear(width, n_backbones, device="meta").to_empty(device="cpu")
    with torch.no_grad():
        out.weight.zero_()
        out.bias.fill_(initial_bias(combination, n_backbones))
    layers.append(out)
    return nn.Sequential(*layers)


def temperatures(outputs, combination):
    """The per-backbone numbers as the combination uses them (see COMBINATIONS)."""
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
    inputs = torch.from_numpy(inputs)
    logits = torch.from_numpy(logits)
    y = torch.from_numpy(y)
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
