"""``scvbench predict``: a trained model's vein masks as a submission (a BIDS derivative dataset).

For each participant the slices to segment are the ones the reference labels (any rater, so that
evaluation finds every case) or, without reference masks, the MinIP's analysis slices. Slices go
through the network in batches under ``torch.inference_mode()`` at the training size
(:class:`scvbench.steps.train.data.Fit`), and the vein probability is brought back exactly onto
the MinIP grid. Written per participant, in ``OUT/sub-<label>/anat/``:

- ``sub-<label>_acq-swi_label-vein_mask.nii.gz``: binary (uint8), probability >= ``threshold``
  inside the brain mask, 0 on slices not predicted;
- ``sub-<label>_acq-swi_label-vein_probseg.nii.gz``: the vein probability (float32);
- a sidecar for each with ``PredictedSlices``, ``Threshold`` and ``Sources``;

and ``OUT/dataset_description.json`` with ``GeneratedBy`` naming the model, its configuration and
the checkpoint's SHA-256. Each participant's files are written atomically.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from scvbench import __version__, io
from scvbench.bids import layout
from scvbench.bids.spec import DERIVATIVES
from scvbench.defaults import DEFAULTS
from scvbench.errors import ScvbenchError
from scvbench.io import load_canonical
from scvbench.models.checkpoint import build_model, load_checkpoint
from scvbench.models.runtime import candidate_runtimes, onnx_model, open_session
from scvbench.parallel import map_participants, worker_count
from scvbench.steps.splits import labelled_slices
from scvbench.steps.train.data import Fit, load_cases

# torch is imported inside the functions that use it: heavy, and not
# needed by the commands that only import this module.

__all__ = ["faster_runtime", "predict", "predict_slices"]

log = logging.getLogger(__name__)


def _slices_to_predict(bids_dir: Path, label: str, deriv: Path) -> list[int]:

    labelled: set[int] = set()
    anat = bids_dir / "derivatives" / "annotations" / f"sub-{label}" / "anat"
    for mask in sorted(anat.glob(f"sub-{label}_acq-swi_label-vein_desc-*_mask.nii.gz")):
        labelled |= set(labelled_slices(mask))
    if labelled:
        return sorted(labelled)
    minip = deriv / DERIVATIVES["minip"].relpath(label, ".json")
    try:
        return sorted(int(k) for k in json.loads(minip.read_text())["AnalysisSlices"])
    except (OSError, ValueError, KeyError) as err:
        raise ScvbenchError(f"{minip}: cannot read AnalysisSlices ({err}); run derive") from None


def default_batch_size() -> int:
    """Slices per forward pass: 8 on a GPU; 1 on a CPU, where larger batches ran slower.

    On 2 CPU cores a batch of 8 slices of 512 x 512 took 1.3-2x as long per slice as one slice
    at a time (``benchmarks/test_bench_inference.py``): the activations no longer fit the cache.

    Returns
    -------
    int
        8 with CUDA, else 1.
    """
    import torch

    return 8 if torch.cuda.is_available() else 1


def _memory_format(model, sample):
    """The faster of contiguous and channels-last layouts for ``model`` (timed once, cached).

    Convolutions with batch norm often run faster channels-last on a CPU (DeepLabV3+ and the
    Attention U-Net here), others do not (the U-Net); one timed pass of each on the first
    slice decides, and the model keeps the winner.
    """
    import torch

    cached = getattr(model, "_scvbench_memory_format", None)
    if cached is not None:
        return cached
    best, best_time = torch.contiguous_format, float("inf")
    if any(True for _ in model.parameters()):
        for layout in (torch.contiguous_format, torch.channels_last):
            model.to(memory_format=layout)
            x = sample.contiguous(memory_format=layout)
            model(x)  # warm-up
            started = time.perf_counter()
            model(x)
            elapsed = time.perf_counter() - started
            if elapsed < best_time:
                best, best_time = layout, elapsed
        model.to(memory_format=best)
    model._scvbench_memory_format = best
    return best


def faster_runtime(model, sessions: dict, size: int, repeats: int = 3) -> str:
    """The runtime that runs a slice of ``size`` fastest here: a key of ``sessions`` or ``torch``.

    Which wins depends on the network and the CPU (OpenVINO for most networks on the CPUs
    measured, PyTorch or ONNX Runtime for some); ``--runtime auto`` times each once and keeps
    the fastest.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    sessions : dict
        Runtime name -> the same network exported (:func:`scvbench.models.runtime.open_session`).
    size : int
        The input size.
    repeats : int
        Timed runs of each, after one warm-up.

    Returns
    -------
    str
        A key of ``sessions``, or ``torch``.
    """
    import torch

    sample = np.zeros((1, 1, size, size), np.float32)
    sample[0, 0, size // 4 : -size // 4, size // 4 : -size // 4] = 0.5
    times = {}
    with torch.inference_mode():
        layout = _memory_format(model, torch.from_numpy(sample))
        runs = {name: (lambda s=session: s(sample)) for name, session in sessions.items()}
        runs["torch"] = lambda: model(torch.from_numpy(sample).contiguous(memory_format=layout))
        for name, run in runs.items():
            run()  # warm-up
            started = time.perf_counter()
            for _ in range(repeats):
                run()
            times[name] = time.perf_counter() - started
    log.info(
        "runtime auto: %s per slice",
        ", ".join(f"{name} {1000 * t / repeats:.1f} ms" for name, t in times.items()),
    )
    return min(times, key=times.get)


def predict_slices(
    model, images: np.ndarray, size: int, batch_size: int | None = None, session=None
) -> np.ndarray:
    """Vein probability of (n, 1, rows, cols) normalised slices, on their own grid.

    Under ``torch.inference_mode()``, in batches of ``batch_size`` (default
    :func:`default_batch_size`), on the model's device, in the faster memory layout; or through
    ``session`` (:func:`scvbench.models.runtime.open_session`, the same network exported).

    Parameters
    ----------
    model : torch.nn.Module
        A network that returns two-class logits.
    images : ndarray
        Normalised slices (n, 1, rows, cols).
    size : int
        The training input size.
    batch_size : int, optional
        Slices per forward pass (default: :func:`default_batch_size`).
    session : callable, optional
        Logits of a float32 batch, in place of ``model``.

    Returns
    -------
    ndarray
        The vein probability (n, rows, cols).
    """
    import torch

    batch_size = batch_size or default_batch_size()
    fit = Fit(size)
    shape = images.shape[-2:]
    fitted = np.stack([fit.forward(x, order=1) for x in images]).astype(np.float32)
    out = np.empty((len(images), *shape), np.float32)
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    with torch.inference_mode():
        if session is None:
            layout = _memory_format(model, torch.from_numpy(fitted[:1]).to(device))
        for start in range(0, len(fitted), batch_size):
            if session is not None:  # the two-class softmax in NumPy: torch's threads stay idle
                logits = session(fitted[start : start + batch_size])
                with np.errstate(over="ignore"):
                    prob = 1.0 / (1.0 + np.exp(logits[:, :1] - logits[:, 1:2]))
            else:
                x = torch.from_numpy(fitted[start : start + batch_size]).to(device)
                logits = model(x.contiguous(memory_format=layout))
                prob = torch.softmax(logits, dim=1)[:, 1:2].float().cpu().numpy()
            for i, p in enumerate(prob):
                out[start + i] = fit.inverse(p, shape, order=1)[0]
    return np.clip(out, 0.0, 1.0)


def _write_description(
    bids_dir: Path, deriv: Path, out: Path, config: dict, checkpoint: Path | None
) -> None:
    """``dataset_description.json`` of the submission: GeneratedBy the model, then scvbench."""
    out.mkdir(parents=True, exist_ok=True)
    io.write_json(
        out / "dataset_description.json",
        {
            "Name": f"scvbench predictions: {config['model']}",
            "BIDSVersion": "1.10.0",
            "DatasetType": "derivative",
            "GeneratedBy": [
                {
                    "Name": config["model"],
                    "Description": (
                        f"{config['recipe']} recipe, fold {config['fold']}, seed "
                        f"{config['seed']}; checkpoint sha256 {layout.sha256(checkpoint)}"
                        if checkpoint is not None
                        else f"{config['model']} with its default parameters; nothing trained"
                    ),
                    "Configuration": config,
                },
                {"Name": "scvbench", "Version": __version__, "CodeURL": layout.CODE_URL},
            ],
            "DatasetLinks": {
                "raw": os.path.relpath(bids_dir.resolve(), out.resolve()),
                "scvbench": os.path.relpath(deriv.resolve(), out.resolve()),
            },
        },
    )


def predict(
    bids_dir: str | Path,
    checkpoint: str | Path | dict,
    out: str | Path,
    participants: list[str] | None = None,
    threshold: float = DEFAULTS.threshold,
    batch_size: int | None = None,
    progress: bool = True,
    derivatives: str | Path | None = None,
    runtime: str = "auto",
    nprocs: int = 1,
) -> list[str]:
    """Write the submission for ``participants`` (default: all derived); returns their ids.

    ``checkpoint`` is a file written by ``scvbench train`` or an already loaded state (a dict
    with ``config`` and ``model``: see :func:`scvbench.steps.train.untrained_state`).
    ``derivatives`` is the folder holding the ``scvbench`` derivatives (default
    ``BIDS_DIR/derivatives``).

    Parameters
    ----------
    bids_dir : path
        The derived dataset.
    checkpoint : path or dict
        A checkpoint of ``scvbench train`` or a loaded state.
    out : path
        The submission folder.
    participants : list of str, optional
        Participants to segment (default: all derived).
    threshold : float
        Vein where the probability is at least this.
    batch_size : int, optional
        Slices per forward pass.
    progress : bool
        A progress bar.
    derivatives : path, optional
        Where the ``scvbench`` derivatives are.
    runtime : str
        ``auto``, ``openvino``, ``onnx`` or ``torch`` (:mod:`scvbench.models.runtime`).
    nprocs : int
        Participants segmented at once on a CPU, each in a forked process with one thread
        (one process: the network uses every thread). The masks do not depend on it.

    Returns
    -------
    list of str
        The participants segmented.
    """
    if not 0.0 < threshold < 1.0:
        raise ScvbenchError(f"threshold must be between 0 and 1, got {threshold}")
    bids_dir, out = Path(bids_dir), Path(out)
    source = None if isinstance(checkpoint, dict) else Path(checkpoint)
    state = checkpoint if source is None else load_checkpoint(source)
    config = state["config"]
    import torch

    model = build_model(config, source or "the checkpoint")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise ScvbenchError(
            f"{checkpoint}: weights do not fit model {config['model']!r} "
            f"({str(err).splitlines()[0]})"
        ) from None
    candidates = candidate_runtimes(runtime, model, source)
    exported = None
    sessions = {}
    if candidates != ("torch",):
        exported = onnx_model(model, source, config["size"])
        sessions = {name: open_session(name, exported) for name in candidates if name != "torch"}
    elif torch.cuda.is_available():
        model = model.to("cuda")
    chosen = candidates[0]
    if len(candidates) > 1:
        chosen = faster_runtime(model, sessions, config["size"])
    session = sessions.pop(chosen, None)
    del sessions  # the runtimes not chosen are closed before any worker forks
    labels = layout.find_participants(bids_dir, participants)
    deriv = layout.derivative_dir(bids_dir, "scvbench", derivatives)
    missing = [
        label for label in labels if not (deriv / DERIVATIVES["minip"].relpath(label)).is_file()
    ]
    if missing:
        raise ScvbenchError(
            f"{deriv}: no MinIP for sub-{missing[0]}"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
            + "; run scvbench derive first"
        )
    _write_description(bids_dir, deriv, out, config, source)
    workers = 1 if torch.cuda.is_available() else worker_count(nprocs, len(labels))
    _NETWORK.clear()
    _NETWORK.update(model=model, config=config, session=session, threads=0)
    if workers > 1:  # each forked worker opens its own one-thread session of the same export
        _NETWORK.update(session=None, threads=1, export=session and (chosen, exported))
    jobs = [(bids_dir, deriv, derivatives, out, label, threshold, batch_size) for label in labels]
    done = {}
    for job, written, _ in map_participants(_segment, jobs, workers, "predict", progress=progress):
        done[job[4]] = written
    return [done[label] for label in labels]


#: What the participants of one ``predict`` share: the network, its configuration, the session
#: of the chosen runtime (or, in forked workers, the runtime and export each worker opens) and
#: the workers' threads.
_NETWORK: dict = {}


def _segment(job) -> str:
    """One participant's probability and mask files (in the calling process or a worker)."""
    bids_dir, deriv, derivatives, out, label, threshold, batch_size = job
    network = _NETWORK
    if network["threads"] and network.get("pid") != os.getpid():  # first job of a worker
        import torch

        torch.set_num_threads(network["threads"])
        network["pid"] = os.getpid()
        if network.get("export"):
            network["session"] = open_session(*network["export"], threads=network["threads"])
    config = network["config"]
    slices = _slices_to_predict(bids_dir, label, deriv)
    cases = load_cases(
        bids_dir, [f"sub-{label}"], slices={f"sub-{label}": slices}, derivatives=derivatives
    )
    minip, affine = load_canonical(deriv / DERIVATIVES["minip"].relpath(label))
    prob = np.zeros(minip.shape, np.float32)
    mask = np.zeros(minip.shape, np.uint8)
    if cases:
        images = np.stack([c.image for c in cases])
        predicted = predict_slices(
            network["model"], images, config["size"], batch_size, network["session"]
        )
        for case, p in zip(cases, predicted, strict=True):
            prob[:, :, case.slice] = p
            mask[:, :, case.slice] = (p >= threshold) & (case.brain[0] > 0)
    sidecar = {
        "Description": f"Superficial cerebral veins predicted by {config['model']}",
        "PredictedSlices": [c.slice for c in cases],
        "Threshold": threshold,
        "Sources": [layout.bids_uri(DERIVATIVES["minip"].relpath(label), "scvbench")],
    }
    anat = out / f"sub-{label}" / "anat"
    io.save_nifti(anat / Path(DERIVATIVES["vein_probseg"].relpath(label)).name, prob, affine)
    io.write_json(anat / Path(DERIVATIVES["vein_probseg"].relpath(label, ".json")).name, sidecar)
    io.save_nifti(anat / Path(DERIVATIVES["vein_mask"].relpath(label)).name, mask, affine)
    io.write_json(
        anat / Path(DERIVATIVES["vein_mask"].relpath(label, ".json")).name,
        {**sidecar, "Type": "ROI"},
    )
    return f"sub-{label}"
