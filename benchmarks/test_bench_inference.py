"""Inference speed of each learned model on CPU: slices per second at the ``cpu`` recipe's size.

``scvbench`` = :func:`scvbench.steps.predict.predict_slices` as ``scvbench predict`` runs it on
a CPU (``--runtime auto``): the network exported to ONNX once (cached beside the checkpoint; the
export is not timed) and run one slice at a time by OpenVINO or ONNX Runtime (float32), or by
torch, whichever one timed slice finds fastest, each slice fitted to the network size and its
probability brought back to the image grid; ``plain`` = a plain loop:
``model.eval()``, one slice at a time under ``torch.inference_mode()``, softmax. Models are built
with the ``cpu`` recipe's configuration; 8 slices of 256 x 256 per round. Ratio = scvbench time /
plain time (below 1 is faster). ``two processes`` = ``scvbench predict --nprocs 2``: the slices
shared by two forked workers of one thread each, each with its own session (opened once, as a
worker opens it for all its participants). Run with ``make bench``.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing

import numpy as np
import pytest
import torch

from scvbench.models import create_model
from scvbench.models.runtime import EXPORTED, onnx_model, open_session
from scvbench.steps.predict import faster_runtime, predict_slices
from scvbench.steps.train import RECIPES

LEARNED = ["deeplabv3plus", "unet", "attention_unet"]
N, SIZE = 8, 256


@pytest.fixture(scope="module")
def slices():
    rng = np.random.default_rng(0)
    return rng.normal(0.5, 0.2, (N, 1, SIZE, SIZE)).astype(np.float32)


def _model(name):
    torch.manual_seed(0)
    return create_model(name, **RECIPES["cpu"]["model_config"][name]).eval()


@pytest.mark.parametrize("name", LEARNED)
def test_scvbench_predict_slices(benchmark, slices, name, tmp_path):
    model = _model(name)
    checkpoint = tmp_path / "model_best.pt"
    torch.save({"model": model.state_dict()}, checkpoint)
    path = onnx_model(model, checkpoint, SIZE)
    sessions = {runtime: open_session(runtime, path) for runtime in EXPORTED}
    runtime = faster_runtime(model, sessions, SIZE)  # as predict --runtime auto decides
    session = sessions.get(runtime)
    benchmark.extra_info["runtime"] = runtime
    benchmark.group = f"inference-{SIZE}-{name}"
    benchmark.extra_info["slices_per_round"] = N
    out = benchmark.pedantic(
        predict_slices, (model, slices, SIZE, 1, session), rounds=3, warmup_rounds=1
    )
    assert out.shape == (N, SIZE, SIZE)


@pytest.mark.parametrize("name", LEARNED)
def test_plain_eval_loop(benchmark, slices, name):
    model = _model(name)
    benchmark.group = f"inference-{SIZE}-{name}"
    benchmark.extra_info["slices_per_round"] = N

    def plain():
        model.eval()
        out = []
        with torch.inference_mode():
            for x in slices:
                out.append(torch.softmax(model(torch.from_numpy(x[None])), dim=1)[0, 1].numpy())
        return out

    assert len(benchmark.pedantic(plain, rounds=3, warmup_rounds=1)) == N


_WORKER: dict = {}


def _open(model, path, runtime):
    torch.set_num_threads(1)
    session = open_session(runtime, path, threads=1) if runtime in EXPORTED else None
    _WORKER.update(model=model, session=session)


def _segment(images):
    return predict_slices(_WORKER["model"], images, SIZE, 1, _WORKER["session"])


@pytest.mark.parametrize("name", LEARNED)
def test_scvbench_predict_two_processes(benchmark, slices, name, tmp_path):
    model = _model(name)
    checkpoint = tmp_path / "model_best.pt"
    torch.save({"model": model.state_dict()}, checkpoint)
    path = onnx_model(model, checkpoint, SIZE)
    runtime = faster_runtime(model, {r: open_session(r, path) for r in EXPORTED}, SIZE)
    benchmark.extra_info["runtime"] = runtime
    benchmark.group = f"inference-{SIZE}-{name}"
    benchmark.extra_info["slices_per_round"] = N
    context = multiprocessing.get_context("fork")
    with cf.ProcessPoolExecutor(
        2, context, initializer=_open, initargs=(model, path, runtime)
    ) as pool:
        halves = (slices[: N // 2], slices[N // 2 :])
        list(pool.map(_segment, halves))  # both workers started and warm

        def two():
            return np.concatenate(list(pool.map(_segment, halves)))

        out = benchmark.pedantic(two, rounds=3, warmup_rounds=1)
    assert out.shape == (N, SIZE, SIZE)
