"""CPU inference for ``scvbench predict``: each checkpoint exported once to ONNX, cached beside it.

The first prediction with a checkpoint exports its network to ONNX (``torch.onnx.export``, opset
17, one slice of the training input size: MONAI's ResNet shortcuts fix the batch size when traced)
and saves it next to the checkpoint as ``<checkpoint>.<key>.onnx``, the key the first 16 hex digits
of the SHA-256 of the checkpoint's SHA-256, the export's version, opset and input size; later
predictions load that file, and a changed checkpoint (or export) gets a new one (the older exports
of that checkpoint are removed). DeepLabV3+ is exported with its decoder as Winograd matrix
products (:mod:`scvbench.models.winograd`: the same function in a quarter of the decoder's
multiply-adds), the U-Net with its two-channel output layer in sub-pixel form
(:mod:`scvbench.models.subpixel`: the same function in kernels that fill the vector units). Two
runtimes run it: OpenVINO's CPU plugin (:class:`OpenVinoSession`; compiled in float32, its default
on a CPU with bfloat16 units being bfloat16) and ONNX Runtime's CPU provider
(:class:`OnnxSession`), each with its graph optimisations (convolutions fused with their batch norm
and activation, blocked layouts, kernels for the CPU's vector units). Their float rounding differs
from torch's in the last bits: the masks agree to Dice >= 0.999 (``tests/test_train_predict.py``
checks every built-in network in both).

``auto`` (the default) times one slice in each, and in torch, on a network with learned weights
on a CPU and keeps the fastest; torch otherwise (a GPU, the Frangi filter, an in-memory state).
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from scvbench import io
from scvbench.bids.layout import sha256
from scvbench.errors import ScvbenchError

# torch, onnx, onnxruntime and openvino are imported inside the functions that use them: heavy,
# and not needed by the commands that only import this module.

__all__ = [
    "EXPORTED",
    "RUNTIMES",
    "OnnxSession",
    "OpenVinoSession",
    "candidate_runtimes",
    "import_openvino",
    "onnx_model",
    "open_session",
]

log = logging.getLogger(__name__)

#: Inference back ends of ``scvbench predict --runtime``.
RUNTIMES = ("auto", "openvino", "onnx", "torch")

#: The runtimes that run the ONNX export (in the order ``auto`` times them).
EXPORTED = ("openvino", "onnx")

OPSET = 17

#: Version of the export's form: part of the cache key, so that a changed export is redone.
EXPORT = "scvbench-onnx-3"  # 2: DeepLabV3+'s decoder in Winograd form; 3: sub-pixel U-Net output


def candidate_runtimes(requested: str, model, checkpoint: Path | None) -> tuple[str, ...]:
    """The runtimes ``requested`` allows for ``model`` (see the module docstring).

    Parameters
    ----------
    requested : str
        One of :data:`RUNTIMES`.
    model : torch.nn.Module
        The network.
    checkpoint : Path or None
        Its checkpoint file (None: an in-memory state, which has nothing to cache beside).

    Returns
    -------
    tuple of str
        One runtime, or, for ``auto`` with a trained network on a CPU, ``openvino``, ``onnx``
        and ``torch`` to be timed.
    """
    import torch

    if requested not in RUNTIMES:
        raise ScvbenchError(f"unknown runtime {requested!r} (known: {', '.join(RUNTIMES)})")
    learned = any(p.requires_grad for p in model.parameters())
    if requested in EXPORTED and (not learned or checkpoint is None):
        raise ScvbenchError(
            f"--runtime {requested} needs a trained network's checkpoint file; use --runtime torch"
        )
    if requested == "auto":
        on_cpu = not torch.cuda.is_available()
        return (*EXPORTED, "torch") if learned and on_cpu and checkpoint is not None else ("torch",)
    return (requested,)


def open_session(runtime: str, path: str | os.PathLike[str], threads: int | None = None):
    """A session of ``runtime`` (one of :data:`EXPORTED`) on the ONNX file ``path``.

    Parameters
    ----------
    runtime : str
        ``openvino`` or ``onnx``.
    path : path
        The ONNX file.
    threads : int, optional
        Threads of one inference (default: torch's thread count).

    Returns
    -------
    OpenVinoSession or OnnxSession
        ``session(batch) -> logits``.
    """
    sessions = {"openvino": OpenVinoSession, "onnx": OnnxSession}
    return sessions[runtime](path, threads)


def onnx_model(model, checkpoint: Path, size: int) -> Path:
    """The ONNX file of ``checkpoint``'s network, exported now unless already beside it.

    Parameters
    ----------
    model : torch.nn.Module
        The network with the checkpoint's weights.
    checkpoint : Path
        The checkpoint file (names and keys the cached export).
    size : int
        The input size (rows and columns) the network is exported at.

    Returns
    -------
    Path
        ``<checkpoint>.<key>.onnx``.
    """
    import torch

    key = f"{sha256(checkpoint)}:{EXPORT}:{OPSET}:{size}"
    path = checkpoint.with_name(
        f"{checkpoint.name}.{hashlib.sha256(key.encode()).hexdigest()[:16]}.onnx"
    )
    if path.is_file():
        return path
    from scvbench.models.subpixel import subpixel_form
    from scvbench.models.winograd import export_form

    model = model.eval().to("cpu", memory_format=torch.contiguous_format)
    model = export_form(model, size)  # DeepLabV3+: its decoder as Winograd matrix products
    model = subpixel_form(model)  # U-Net: its two-channel output layer by phases
    sample = torch.zeros(1, 1, size, size)
    try:
        with (
            io.atomic_path(path) as tmp,
            torch.inference_mode(False),
            torch.no_grad(),
            warnings.catch_warnings(),
        ):
            # The TorchScript-based exporter (deprecated in favour of torch.export's, which
            # needs onnxscript) exports these networks whole with torch pinned at 2.13; MONAI's
            # instance norm (no running statistics) is rightly exported in its training form.
            # Tracing warns where shapes become constants: the export is for one slice of
            # ``size`` x ``size``, what predict feeds it.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (sample,),
                str(tmp),
                dynamo=False,
                opset_version=OPSET,
                input_names=["image"],
                output_names=["logits"],
            )
    except OSError as err:
        raise ScvbenchError(
            f"{path}: cannot write the ONNX export beside the checkpoint ({err}); make the "
            "folder writable or use --runtime torch"
        ) from None
    log.info("exported %s to %s", checkpoint.name, path.name)
    _remove_older_exports(checkpoint, path)
    return path


def _remove_older_exports(checkpoint: Path, current: Path) -> None:
    """Delete the checkpoint's other exports (``<checkpoint>.<16 hex digits>.onnx``).

    They are of earlier export versions or of an earlier checkpoint of that name: no prediction
    asks for them again.
    """
    stale = [
        other
        for other in checkpoint.parent.glob(f"{glob.escape(checkpoint.name)}.*.onnx")
        if other != current and _is_key(other.name[len(checkpoint.name) + 1 : -len(".onnx")])
    ]
    for other in stale:
        other.unlink(missing_ok=True)
    if stale:
        log.info("removed %d older export(s) of %s", len(stale), checkpoint.name)


def _is_key(text: str) -> bool:
    return len(text) == 16 and all(c in "0123456789abcdef" for c in text)


class _SliceSession:
    """A runtime that runs one slice at a time: ``session(batch) -> logits`` (float32 arrays)."""

    def run_one(self, image: np.ndarray) -> np.ndarray:
        """Logits ``(1, 2, rows, cols)`` of one C-contiguous slice ``(1, 1, rows, cols)``."""
        raise NotImplementedError

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Logits ``(n, 2, rows, cols)`` of a batch ``(n, 1, rows, cols)``, one slice a run."""
        batch = np.asarray(batch, dtype=np.float32)
        return np.concatenate(
            [self.run_one(np.ascontiguousarray(batch[i : i + 1])) for i in range(len(batch))]
        )


class OnnxSession(_SliceSession):
    """An ONNX Runtime session on the CPU: ``session(batch) -> logits`` (both float32 arrays).

    Parameters
    ----------
    path : path
        The ONNX file.
    threads : int, optional
        Threads of one operator (default: torch's thread count, the CPUs scvbench may use).
    """

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None):
        import onnxruntime
        import torch

        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings of the graph optimiser are not the user's
        # no spinning between runs: the slice's fitting and softmax run on the same cores
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )

    def run_one(self, image: np.ndarray) -> np.ndarray:
        """Logits ``(1, 2, rows, cols)`` of one C-contiguous slice ``(1, 1, rows, cols)``."""
        return self.session.run(["logits"], {"image": image})[0]


def import_openvino():
    """The ``openvino`` module, imported without its usage telemetry.

    ``import openvino`` starts the telemetry of its model converter (``openvino_telemetry``, a
    dependency of the wheel): it writes a client ID and a usage count under ``~/intel`` and, on a
    machine with a network, sends an event, unless the user opted out. scvbench never converts
    models with it; with ``openvino_telemetry`` marked missing before the first import, OpenVINO
    takes its own stand-in that records and sends nothing (tested: no file under the home).

    Returns
    -------
    module
        ``openvino``.
    """
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)  # None: "import" raises ImportError
    import openvino

    return openvino


class OpenVinoSession(_SliceSession):
    """An OpenVINO CPU inference in float32: ``session(batch) -> logits`` (float32 arrays).

    Compiled for latency (one stream), float32 arithmetic (OpenVINO would otherwise run in
    bfloat16 on a CPU that has it, and the masks would no longer be the network's), threads not
    pinned to cores (forked workers share them).

    Parameters
    ----------
    path : path
        The ONNX file.
    threads : int, optional
        Threads of one inference (default: torch's thread count, the CPUs scvbench may use).
    """

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None):
        import torch

        openvino = import_openvino()
        config = {
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,
            "INFERENCE_NUM_THREADS": int(threads or torch.get_num_threads()),
            "INFERENCE_PRECISION_HINT": "f32",
            "ENABLE_CPU_PINNING": False,
        }
        compiled = openvino.Core().compile_model(str(path), "CPU", config)
        self.request = compiled.create_infer_request()

    def run_one(self, image: np.ndarray) -> np.ndarray:
        """Logits ``(1, 2, rows, cols)`` of one C-contiguous slice ``(1, 1, rows, cols)``."""
        return self.request.infer({0: image})[0].copy()  # the request reuses its output buffer
