"""Inference speed of each learned model on CPU: 512 x 512 slices per second.

``scvbench`` = :func:`scvbench.steps.predict.predict_slices` (``torch.inference_mode()``, the
default batch size: 1 slice on a CPU, where batches of 8 ran 1.3-2x slower per slice; the faster
of the contiguous and channels-last layouts, timed once per model; the slice fitted to the network
size and the probabilities brought back to the image grid); ``plain`` = a plain loop:
``model.eval()``, one slice at a time under ``torch.no_grad()``. Models are built with the
``cpu`` recipe's configuration; 8 slices per round. Ratio = scvbench time / plain time (below 1
is faster). Run with ``make bench``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scvbench.models import create_model
from scvbench.steps.predict import predict_slices
from scvbench.steps.train import RECIPES

LEARNED = ["deeplabv3plus", "unet", "attention_unet"]
N = 8


@pytest.fixture(scope="module")
def slices():
    rng = np.random.default_rng(0)
    return rng.normal(0.5, 0.2, (N, 1, 512, 512)).astype(np.float32)


def _model(name):
    torch.manual_seed(0)
    return create_model(name, **RECIPES["cpu"]["model_config"][name]).eval()


@pytest.mark.parametrize("name", LEARNED)
def test_scvbench_predict_slices(benchmark, slices, name):
    model = _model(name)
    benchmark.group = f"inference-512-{name}"
    benchmark.extra_info["slices_per_round"] = N
    out = benchmark.pedantic(predict_slices, (model, slices, 512), rounds=3, warmup_rounds=1)
    assert out.shape == (N, 512, 512)


@pytest.mark.parametrize("name", LEARNED)
def test_plain_eval_loop(benchmark, slices, name):
    model = _model(name)
    benchmark.group = f"inference-512-{name}"
    benchmark.extra_info["slices_per_round"] = N

    def plain():
        model.eval()
        out = []
        with torch.no_grad():
            for x in slices:
                out.append(torch.softmax(model(torch.from_numpy(x[None])), dim=1)[0, 1].numpy())
        return out

    assert len(benchmark.pedantic(plain, rounds=3, warmup_rounds=1)) == N
