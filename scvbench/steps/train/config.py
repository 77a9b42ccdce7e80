"""Training configuration: the named recipes and the resolved settings of one run."""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from scvbench.errors import ScvbenchError
from scvbench.models import check_name
from scvbench.models.checkpoint import build_model

# torch is imported inside the functions that use it: heavy, and not
# needed by the commands that only import this module.

__all__ = [
    "LOSSES",
    "PRECISIONS",
    "RECIPES",
    "SCHEDULES",
    "TrainConfig",
    "config_record",
    "cpu_has_bfloat16",
    "forward_precision",
    "make_scheduler",
    "plateaued",
    "resolve_config",
    "untrained_state",
]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (written to ``config.json``)."""

    model: str = "deeplabv3plus"
    model_config: dict = field(default_factory=dict)
    recipe: str = "cpu"
    loss: str = "dicece"
    fold: int = 0
    seed: int = 0
    size: int = 256
    batch_size: int = 4
    iterations: int = 300
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    step_every: int = 100
    gamma: float = 0.1
    val_every: int = 50
    checkpoint_every: int = 50
    rater: str | None = None
    splits_checksum: str = ""
    schedule: str = "step"
    patch: int = 0
    foreground: float = 0.0
    patience: int = 0
    min_delta: float = 0.0
    precision: str = "float32"


#: Settings added after runs and benchmark stamps were first written, at the value that keeps
#: the behaviour from before them: a run's record holds them only where they differ, so that
#: earlier runs still resume and their benchmark stages still count as done.
_LATER_DEFAULTS = {"precision": "float32"}


def plateaued(config: TrainConfig, step: int, improved_step: int) -> bool:
    """True when ``config.patience`` validations have passed without an improvement.

    An improvement is a validation Dice at least ``config.min_delta`` above the last one that
    counted; ``patience`` 0 never stops early.

    Parameters
    ----------
    config : TrainConfig
        The run's configuration.
    step : int
        The steps done.
    improved_step : int
        The step of the last improvement (0 before the first validation).

    Returns
    -------
    bool
        Whether the run stops here.
    """
    return config.patience > 0 and step - improved_step >= config.patience * config.val_every


def config_record(config: TrainConfig) -> dict:
    """The configuration as ``config.json``, checkpoints and benchmark stamps record it.

    Parameters
    ----------
    config : TrainConfig
        The resolved configuration.

    Returns
    -------
    dict
        Its fields, less the later-added ones at their earlier behaviour.
    """
    record = asdict(config)
    for key, value in _LATER_DEFAULTS.items():
        if record[key] == value:
            del record[key]
    return record


#: The networks of the CPU recipes: a ResNet-18 DeepLabV3+ and narrow U-Nets.
_CPU_NETWORKS = {
    "deeplabv3plus": {"depth": 18, "dropout": 0.1},
    "unet": {"channels": [16, 32, 64, 128, 256]},
    "attention_unet": {"channels": [16, 32, 64, 128, 256]},
}

RECIPES: dict[str, dict] = {
    "paper": {
        "size": 512,
        "batch_size": 64,
        "iterations": 1000,
        "lr": 0.01,
        "step_every": 200,
        "val_every": 50,
        "checkpoint_every": 50,
        "model_config": {
            "deeplabv3plus": {"depth": 50, "dropout": 0.5},
            "unet": {},
            "attention_unet": {},
        },
    },
    "cpu": {
        "size": 256,
        "batch_size": 4,
        "iterations": 300,
        "optimizer": "adamw",
        "lr": 0.002,
        "step_every": 100,
        "gamma": 0.5,
        "val_every": 50,
        "checkpoint_every": 50,
        "model_config": _CPU_NETWORKS,
    },
    "cpu-patch": {
        "size": 256,
        "batch_size": 4,
        "iterations": 300,
        "optimizer": "adamw",
        "lr": 0.004,
        "schedule": "poly",
        "patch": 128,
        "foreground": 0.33,
        "val_every": 50,
        "checkpoint_every": 50,
        "model_config": _CPU_NETWORKS,
        # DeepLabV3+'s batch norm diverged at 0.004 on patches of four: eight, and a one-cycle
        # schedule to 0.003 (warm-up, then cosine annealing) reaches a given Dice in fewer steps
        # than poly from 0.002 (160 against 190 to 0.573 on the demo cohort's fold 0).
        "model_settings": {
            "deeplabv3plus": {
                "batch_size": 8,
                "lr": 0.003,
                "schedule": "onecycle",
                "iterations": 200,
            }
        },
    },
    # The official benchmark on a CPU: cpu-patch until validation Dice stops improving (by 0.002
    # in 8 validations = 2,000 iterations), at most 12,000 iterations.
    "cpu-plateau": {
        "size": 256,
        "batch_size": 4,
        "iterations": 12000,
        "optimizer": "adamw",
        "lr": 0.004,
        "schedule": "poly",
        "patch": 128,
        "foreground": 0.33,
        "val_every": 250,
        "checkpoint_every": 250,
        "patience": 8,
        "min_delta": 0.002,
        "model_config": _CPU_NETWORKS,
        "model_settings": {"deeplabv3plus": {"batch_size": 8, "lr": 0.002}},
    },
}


LOSSES = ("dicece", "cldice")

#: Arithmetic of the training steps' forward passes: ``float32``, or ``bfloat16`` autocast
#: (PyTorch's mixed precision: convolutions and matrix products in bfloat16, weights, gradients,
#: the loss and validation in float32), for CPUs with bfloat16 units (AVX-512 BF16 or AMX).
PRECISIONS = ("float32", "bfloat16")


def cpu_has_bfloat16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes in bfloat16 natively (``avx512_bf16`` or ``amx_bf16``).

    Parameters
    ----------
    cpuinfo : path
        The kernel's CPU description (Linux; elsewhere the answer is False).

    Returns
    -------
    bool
        True when the flags name a bfloat16 unit.
    """
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "").split()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def forward_precision(precision: str):
    """The context of a training step's forward pass for ``precision`` (:data:`PRECISIONS`).

    Parameters
    ----------
    precision : str
        ``float32`` or ``bfloat16``.

    Returns
    -------
    context manager
        Nothing for float32; ``torch.autocast`` on the CPU in bfloat16.
    """
    import torch

    if precision == "float32":
        return contextlib.nullcontext()
    if not cpu_has_bfloat16():
        raise ScvbenchError(
            "--precision bfloat16 needs a CPU with bfloat16 units (AVX-512 BF16 or AMX; this "
            "one has none, where it would run slower than float32): use --precision float32"
        )
    return torch.autocast("cpu", dtype=torch.bfloat16)


#: Learning-rate schedules: ``step`` (x ``gamma`` every ``step_every`` iterations), ``poly``
#: (nnU-Net's ``(1 - t / T) ** 0.9``) and ``onecycle`` (warm-up to ``lr`` over the first 10 %,
#: then cosine annealing, Smith and Topin 2019).
SCHEDULES = ("step", "poly", "onecycle")


def make_scheduler(optimiser, config: TrainConfig):
    """The learning-rate scheduler of ``config.schedule``, stepped once per iteration.

    Parameters
    ----------
    optimiser : torch.optim.Optimizer
        The run's optimiser (its ``lr`` is the peak or starting rate).
    config : TrainConfig
        ``schedule``, ``iterations``, ``step_every`` and ``gamma``.

    Returns
    -------
    torch.optim.lr_scheduler.LRScheduler
        The scheduler (its state is saved in the checkpoints).
    """
    import torch

    if config.schedule == "poly":
        return torch.optim.lr_scheduler.PolynomialLR(
            optimiser, total_iters=config.iterations, power=0.9
        )
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimiser,
            max_lr=config.lr,
            total_steps=config.iterations,
            pct_start=0.1,
            cycle_momentum=False,
        )
    return torch.optim.lr_scheduler.StepLR(optimiser, config.step_every, config.gamma)


def resolve_config(model: str, recipe: str, fold: int, **overrides) -> TrainConfig:
    """The recipe's settings for ``model``, then ``overrides`` (None values ignored).

    Parameters
    ----------
    model : str
        A registered model.
    recipe : str
        ``cpu`` or ``paper``.
    fold : int
        The fold.
    **overrides
        Settings of :class:`TrainConfig` (``model_config`` is merged into the recipe's).

    Returns
    -------
    TrainConfig
        The resolved configuration.
    """
    check_name(model)
    if recipe not in RECIPES:
        raise ScvbenchError(f"unknown recipe {recipe!r} (known: {', '.join(RECIPES)})")
    settings = dict(RECIPES[recipe])
    model_config = dict(settings.pop("model_config").get(model, {}))
    settings.update(settings.pop("model_settings", {}).get(model, {}))
    model_config.update(overrides.pop("model_config", None) or {})
    known = {f.name for f in fields(TrainConfig)}
    for key, value in overrides.items():
        if key not in known:
            raise ScvbenchError(f"unknown training setting {key!r}")
        if value is not None:
            settings[key] = value
    config = TrainConfig(
        model=model, model_config=model_config, recipe=recipe, fold=fold, **settings
    )
    if config.optimizer not in ("sgd", "adamw"):
        raise ScvbenchError(f"unknown optimizer {config.optimizer!r} (known: sgd, adamw)")
    if config.loss not in LOSSES:
        raise ScvbenchError(f"unknown loss {config.loss!r} (known: {', '.join(LOSSES)})")
    if config.size % 16:
        raise ScvbenchError(f"size must be a multiple of 16, got {config.size}")
    if config.precision not in PRECISIONS:
        raise ScvbenchError(
            f"unknown precision {config.precision!r} (known: {', '.join(PRECISIONS)})"
        )
    if config.schedule not in SCHEDULES:
        raise ScvbenchError(f"unknown schedule {config.schedule!r} (known: {', '.join(SCHEDULES)})")
    if config.patch and (config.patch % 16 or not 32 <= config.patch <= config.size):
        raise ScvbenchError(
            f"patch must be 0 (whole slices) or a multiple of 16 from 32 to the size "
            f"{config.size}, got {config.patch}"
        )
    if not 0.0 <= config.foreground <= 1.0:
        raise ScvbenchError(f"foreground must be within 0..1, got {config.foreground}")
    if config.patience < 0 or config.min_delta < 0:
        raise ScvbenchError(
            f"patience and min_delta must be 0 or more, got {config.patience} and "
            f"{config.min_delta}"
        )
    return config


def untrained_state(model: str) -> dict:
    """A checkpoint-like state of a model that learns nothing by gradient (``frangi``).

    Such a model runs with its default parameters, without ``scvbench train``; a model with
    trainable weights is refused (it needs a checkpoint).

    Parameters
    ----------
    model : str
        A registered model.

    Returns
    -------
    dict
        ``config`` and ``model`` (its state dict), as a checkpoint holds them.
    """
    check_name(model)
    config = config_record(resolve_config(model, "cpu", 0))
    config.update(recipe="none", fold=None)
    network = build_model(config)
    if any(p.requires_grad for p in network.parameters()):
        raise ScvbenchError(
            f"model {model!r} has trainable weights and no weights ship with scvbench: train it "
            f"(scvbench train BIDS_DIR --model {model} --out RUN) and pass --checkpoint "
            "RUN/model_best.pt; --model takes only models that need no training (frangi)"
        )
    return {"config": config, "model": network.state_dict()}
