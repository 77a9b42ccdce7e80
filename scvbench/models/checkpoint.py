"""Checkpoints: saved atomically, loaded with ``weights_only=True`` (tensors and plain values)."""

from __future__ import annotations

from pathlib import Path

from scvbench import io
from scvbench.errors import ScvbenchError
from scvbench.models import create_model

# torch is imported inside the functions that use it: heavy, and not
# needed by the commands that only import this module.

__all__ = [
    "CHECKPOINT_BEST",
    "CHECKPOINT_LAST",
    "build_model",
    "load_checkpoint",
    "save_checkpoint",
]


CHECKPOINT_LAST = "checkpoint_last.pt"


CHECKPOINT_BEST = "model_best.pt"


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint loaded with ``weights_only=True``; a clear error when it is not ours."""
    import torch

    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ScvbenchError(f"{path}: no such checkpoint") from None
    except Exception as err:  # torch raises many kinds for damaged or foreign files
        first = (str(err).strip().splitlines() or [""])[0][:160]
        if "weights_only" in str(err).lower() or "unpickl" in type(err).__name__.lower():
            first = "it holds objects other than tensors and plain values, refused unloaded"
        raise ScvbenchError(
            f"{path}: not a loadable checkpoint ({type(err).__name__}: {first}); "
            "use a model_best.pt or checkpoint_last.pt written by scvbench train"
        ) from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise ScvbenchError(f"{path}: not a scvbench checkpoint (no model weights and config)")
    return state


def build_model(config: dict, source: str | Path = "the checkpoint"):
    """The model of a checkpoint's configuration, with its weights not yet loaded."""
    try:
        settings = config["model_config"]
        if not isinstance(settings, dict):
            raise TypeError(f"model_config is a {type(settings).__name__}, not a mapping")
        return create_model(str(config["model"]), **settings)
    except (KeyError, TypeError, ValueError) as err:
        raise ScvbenchError(
            f"{source}: its config has no usable model and model_config ({type(err).__name__}: "
            f"{err}); use a checkpoint written by scvbench train"
        ) from None


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` with ``torch.save``, atomically and reproducibly.

    ``torch.save`` writes through an open handle of the atomic write's temporary file: given a
    path it names the archive's folder after the file, and the temporary file has a random name,
    which made the same weights hash differently (the checkpoint's SHA-256 is the model's
    identity in a submission); through a handle the folder is always ``archive``, and no copy of
    the archive is held in memory.

    Parameters
    ----------
    path : Path
        The checkpoint file.
    state : dict
        Tensors and plain values.

    Returns
    -------
    None
        The file is written.
    """
    import torch

    with io.atomic_path(path) as tmp, tmp.open("wb") as handle:
        torch.save(state, handle)
