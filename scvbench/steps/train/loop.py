"""``scvbench train``: one model, one fold of the fixed split, a named recipe; seeded and resumable.

Recipes:

- ``paper``: the study's schedule: SGD (momentum 0.9) at learning rate 0.01, lowered x0.1 every
  200 iterations (step decay; the study does not give the factor), batch 64, 512 x 512 inputs,
  1000 iterations, dropout 0.5 for ``deeplabv3plus``; validated every 50 iterations.
- ``frangi`` (any recipe) has no gradient step: its threshold is tuned on the fold's training
  slices at the recipe's size, then validated.
- ``cpu``: AdamW at learning rate 0.002, halved every 100 iterations, on 256 x 256 inputs, batch
  4, 300 iterations, a ResNet-18 encoder for ``deeplabv3plus`` and narrow U-Nets: a fold of the
  ``demo`` cohort in minutes on 2 cores (plain SGD at 0.01 left the small-batch networks
  predicting no vein at all within that budget).
- ``cpu-patch``: the ``cpu`` networks on 128 x 128 patches cut from the augmented slices, a third
  of them centred on a vein pixel (nnU-Net's foreground oversampling), AdamW at 0.004 with a
  poly schedule (DeepLabV3+: eight patches a step, one-cycle to 0.003, 200 iterations);
  validated on whole slices. It reaches a given validation Dice sooner on a CPU
  (``benchmarks/test_bench_training.py``).

Every step draws its batch and augmentation from ``(seed, step)`` alone and seeds torch with
them, so a run resumed from its last checkpoint continues exactly as an uninterrupted one. The
best model on validation Dice (vein class, inside the brain mask, mean over slices) is kept;
each validation appends a row to ``log.csv``; ``config.json`` holds the resolved configuration.
``checkpoint_last.pt`` (weights, optimiser, schedule, counters) is written every
``checkpoint_every`` steps and at the end, not at every validation (about 0.4 s for DeepLabV3+'s
200 MB): a resumed run repeats the validations after it, with the same results, and its log
keeps one row per step. Checkpoints hold only tensors and plain values and load with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from scvbench import io
from scvbench.errors import ScvbenchError
from scvbench.models import check_name, create_model
from scvbench.models.checkpoint import (
    CHECKPOINT_BEST,
    CHECKPOINT_LAST,
    load_checkpoint,
    save_checkpoint,
)
from scvbench.steps.splits import N_FOLDS, SPLITS_FILE, load_splits, reference_masks
from scvbench.steps.train.config import (
    TrainConfig,
    config_record,
    forward_precision,
    make_scheduler,
    plateaued,
    resolve_config,
)
from scvbench.steps.train.data import (
    Fit,
    PatchSampler,
    draw_batch,
    load_cases,
    train_transforms,
)
from scvbench.steps.train.record import append_log, run_summary, truncate_log, validation_dice

# MONAI and torch are imported inside the functions that use them: heavy, and not
# needed by the commands that only import this module.

__all__ = ["train", "train_folds"]

log = logging.getLogger(__name__)


def _loss(name: str):
    from monai.losses import DiceCELoss, SoftDiceclDiceLoss

    if name == "cldice":
        return SoftDiceclDiceLoss(to_onehot_y=True, softmax=True, include_background=False)
    # Dice on the vein class only: with veins a few per cent of the image, a background Dice
    # near 1 would let the network settle on predicting no vein at all.
    return DiceCELoss(to_onehot_y=True, softmax=True, include_background=False)


def _arrays(cases, fit):
    images = np.stack([fit.forward(c.image, order=1) for c in cases]).astype(np.float32)
    labels = np.stack([fit.forward(c.label, order=0) for c in cases]).astype(np.float32)
    brains = np.stack([fit.forward(c.brain, order=0) for c in cases]).astype(np.float32)
    return images, labels, brains


def _tune(model, config, config_dict, out, train_arrays, val_arrays, splits) -> dict:
    """Fit a model's parameters on the training slices in one go (no steps), then validate."""
    started = time.perf_counter()
    train_dice = model.tune(*train_arrays)
    dice = validation_dice(model, *val_arrays)
    seconds = time.perf_counter() - started
    state = {"model": model.state_dict(), "config": config_dict, "step": 0, "val_dice": dice}
    save_checkpoint(out / CHECKPOINT_BEST, state)
    save_checkpoint(
        out / CHECKPOINT_LAST, {**state, "best_dice": dice, "best_step": 0, "seconds": seconds}
    )
    io.write_json(out / "config.json", config_dict)
    (out / "log.csv").unlink(missing_ok=True)
    append_log(
        out / "log.csv",
        {
            "step": 0,
            "loss": round(1 - train_dice, 6),
            "lr": 0.0,
            "val_dice": round(dice, 6),
            "seconds": round(seconds, 2),
        },
    )
    summary = run_summary(config, 0, dice, 0, seconds, train_arrays, val_arrays, splits)
    summary["train_dice"] = train_dice
    summary["stopped"] = "tuned"
    io.write_json(out / "summary.json", summary)
    return summary


def train(
    bids_dir: str | Path,
    out: str | Path,
    config: TrainConfig,
    splits_path: str | Path | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    ddp: bool = False,
    stop_at: float | None = None,
) -> dict:
    """Train ``config`` on its fold; resume from ``out/checkpoint_last.pt`` when present.

    ``stop_after`` ends the run after that many steps in total (a checkpoint is written), as an
    interruption would. With ``ddp`` (under ``torchrun``) each process takes its share of every
    batch (the same draw as one process makes) and DistributedDataParallel averages the
    gradients; only rank 0 validates and writes. Returns a summary: steps, best validation
    Dice and its step, seconds.

    Parameters
    ----------
    bids_dir : path
        The derived dataset with its split.
    out : path
        The run folder.
    config : TrainConfig
        The resolved configuration.
    splits_path : path, optional
        The split file.
    progress : bool
        A progress bar.
    stop_after : int, optional
        Stop after this many steps in total (a checkpoint is written).
    ddp : bool
        DistributedDataParallel under ``torchrun``.
    stop_at : float, optional
        End the run at the first validation with a Dice of at least this (time-to-accuracy).

    Returns
    -------
    dict
        The run's summary (also ``summary.json``).
    """
    import torch

    if ddp and stop_at is not None:
        raise ScvbenchError("stopping at a validation Dice needs one process (no --ddp)")
    bids_dir, out = Path(bids_dir), Path(out)
    splits = load_splits(splits_path or bids_dir / SPLITS_FILE)
    if not 0 <= config.fold < len(splits["folds"]):
        raise ScvbenchError(
            f"fold {config.fold} is not in the split file (folds 0..{len(splits['folds']) - 1})"
        )
    rater = config.rater or splits["reference"]["rater"]
    reference_masks(bids_dir, rater)  # a clear error when the masks are missing
    config = replace(config, rater=rater, splits_checksum=splits["checksum"])
    fold = splits["folds"][config.fold]
    fit = Fit(config.size)
    train_arrays = _arrays(load_cases(bids_dir, fold["train"], rater), fit)
    val_arrays = _arrays(load_cases(bids_dir, fold["val"], rater), fit)
    log.info(
        "fold %d: %d training and %d validation slices",
        config.fold,
        len(train_arrays[0]),
        len(val_arrays[0]),
    )

    rank, world, started_group = 0, 1, False
    if ddp:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
            started_group = True
        rank, world = dist.get_rank(), dist.get_world_size()
        if config.batch_size % world:
            raise ScvbenchError(
                f"batch size {config.batch_size} does not split over {world} processes"
            )
        progress = progress and rank == 0
    torch.manual_seed(config.seed)
    model = create_model(config.model, **config.model_config)
    out.mkdir(parents=True, exist_ok=True)
    config_dict = config_record(config)
    precision = forward_precision(config.precision)  # refused here on a CPU without bfloat16
    layout = torch.channels_last if config.precision == "bfloat16" else torch.contiguous_format
    if hasattr(model, "tune"):  # a classical filter: tune on the training slices, no gradients
        if ddp:
            raise ScvbenchError(f"{config.model} is tuned, not trained: run it without --ddp")
        return _tune(model, config, config_dict, out, train_arrays, val_arrays, splits)
    if config.optimizer == "adamw":
        optimiser = torch.optim.AdamW(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
    else:
        optimiser = torch.optim.SGD(
            model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
    scheduler = make_scheduler(optimiser, config)
    config_path = out / "config.json"
    step, best, best_step, seconds = 0, -1.0, -1, 0.0
    # The plateau rule: the last validation that beat the best by at least min_delta.
    improved, improved_step = -1.0, 0
    last = out / CHECKPOINT_LAST
    if last.exists():
        state = load_checkpoint(last)
        if state["config"] != config_dict:
            raise ScvbenchError(
                f"{last}: written with another configuration; use a new --out folder or the "
                "same settings to resume"
            )
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, best, best_step = state["step"], state["best_dice"], state["best_step"]
        seconds = state["seconds"]
        improved = state.get("improved_dice", best)
        improved_step = state.get("improved_step", max(best_step, 0))
        # validations after the checkpoint are run again: their rows go
        truncate_log(out / "log.csv", step)
        log.info("resuming %s at step %d", out, step)
    if rank == 0:
        io.write_json(config_path, config_dict)
    core = model
    model.to(memory_format=layout)
    if ddp:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(core)
    transforms = train_transforms(size=config.size, patch=config.patch)
    sampler = (
        PatchSampler(train_arrays[1], train_arrays[2], config.patch, config.foreground)
        if config.patch
        else None
    )
    loss_fn = _loss(config.loss)
    end = config.iterations if stop_after is None else min(config.iterations, stop_after)
    stopped = "iterations"
    if plateaued(config, step, improved_step):
        end, stopped = step, "plateau"  # a resumed run that had already stopped
    bar = tqdm(total=config.iterations, initial=step, disable=not progress, desc="train")
    while step < end:
        started = time.perf_counter()
        model.train()
        x, y = draw_batch(*train_arrays, transforms, config.seed, step, config.batch_size, sampler)
        if ddp:  # this process's share of the same batch
            x, y = x[rank::world], y[rank::world]
        torch.manual_seed(config.seed * 1_000_003 + step)  # dropout of this step
        optimiser.zero_grad(set_to_none=True)
        with precision:  # (bfloat16: channels-last, the layout of oneDNN's bfloat16 kernels)
            logits = model(x.contiguous(memory_format=layout))
        loss = loss_fn(logits.float(), y)
        if not torch.isfinite(loss):
            raise ScvbenchError(f"step {step}: the loss is {loss.item()}; lower the learning rate")
        loss.backward()
        if ddp:  # the batch's loss for the log (the gradients are averaged by DDP)
            loss = loss.detach().clone()
            dist.all_reduce(loss)
            loss /= world
        optimiser.step()
        scheduler.step()
        step += 1
        seconds += time.perf_counter() - started
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if rank != 0:
            continue
        validate = step % config.val_every == 0 or step == config.iterations
        row = None
        if validate:
            dice = validation_dice(core, *val_arrays, bfloat16=config.precision == "bfloat16")
            row = {
                "step": step,
                "loss": round(loss.item(), 6),
                "lr": scheduler.get_last_lr()[0],
                "val_dice": round(dice, 6),
                "seconds": round(seconds, 2),
            }
            append_log(out / "log.csv", row)
            if dice > best:
                best, best_step = dice, step
                save_checkpoint(
                    out / CHECKPOINT_BEST,
                    {
                        "model": core.state_dict(),
                        "config": config_dict,
                        "step": step,
                        "val_dice": dice,
                    },
                )
            if dice >= improved + config.min_delta:
                improved, improved_step = dice, step
            if stop_at is not None and dice >= stop_at:
                end, stopped = step, "target"  # time-to-accuracy: the target is reached
            elif plateaued(config, step, improved_step):
                end, stopped = step, "plateau"
        if step % config.checkpoint_every == 0 or step == end:
            save_checkpoint(
                last,
                {
                    "model": core.state_dict(),
                    "optimizer": optimiser.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "config": config_dict,
                    "step": step,
                    "best_dice": best,
                    "best_step": best_step,
                    "seconds": seconds,
                    "improved_dice": improved,
                    "improved_step": improved_step,
                },
            )
    bar.close()
    summary = run_summary(config, step, best, best_step, seconds, train_arrays, val_arrays, splits)
    summary["processes"] = world
    if rank == 0 and config.precision == "bfloat16" and best_step >= 0:
        # validated in bfloat16: the kept model's float32 Dice (as predict runs it) beside it
        kept = create_model(config.model, **config.model_config)
        kept.load_state_dict(load_checkpoint(out / CHECKPOINT_BEST)["model"])
        summary["best_val_dice_float32"] = validation_dice(kept, *val_arrays)
    if stopped == "iterations" and step < config.iterations:
        stopped = "interrupted"
    summary["stopped"] = stopped
    if ddp:
        dist.barrier()
    if rank == 0:
        io.write_json(out / "summary.json", summary)
    if started_group:
        dist.destroy_process_group()
    return summary


def train_folds(
    bids_dir: str | Path,
    out: str | Path,
    model: str,
    fold: int | str,
    recipe: str = "cpu",
    splits_path: str | Path | None = None,
    progress: bool = True,
    ddp: bool = False,
    **overrides,
) -> list[tuple[int, Path, dict]]:
    """Train ``model`` on one fold, or on every fold (``fold="all"``, runs in ``out/fold-K``).

    Parameters
    ----------
    bids_dir, out : path
        The derived dataset and the run folder.
    model, recipe : str
        A registered model and a recipe of :data:`RECIPES`.
    fold : int or "all"
        The fold of the split file.
    splits_path : path, optional
        The split file (default: the dataset's).
    progress, ddp : bool
        A progress bar; DistributedDataParallel under ``torchrun``.
    **overrides
        Settings over the recipe's (see :func:`resolve_config`).

    Returns
    -------
    list of (fold, run folder, summary)
        One per fold; empty in the processes of a DDP run other than rank 0, which write nothing.
    """
    check_name(model)
    folds = list(range(N_FOLDS)) if fold == "all" else [int(fold)]
    done = []
    for k in folds:
        config = resolve_config(model, recipe, k, **overrides)
        run_dir = Path(out) / f"fold-{k}" if fold == "all" else Path(out)
        summary = train(bids_dir, run_dir, config, splits_path, progress=progress, ddp=ddp)
        if not ddp or int(os.environ.get("RANK", "0")) == 0:
            done.append((k, run_dir, summary))
    return done
