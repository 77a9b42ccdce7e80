"""Training (loss goes down, exact resume), prediction (a valid submission), bad checkpoints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import torch

from scvbench import io
from scvbench.cli import main
from scvbench.errors import ScvbenchError
from scvbench.models.checkpoint import load_checkpoint
from scvbench.steps.splits import assignment_checksum
from scvbench.steps.train import resolve_config, train
from scvbench.steps.train.data import Fit, load_cases
from scvbench.steps.train.loop import _arrays, _loss

SMALL = {"channels": [8, 16, 32, 64, 128]}


@pytest.fixture(scope="module")
def split_file(derived, tmp_path_factory):
    """A hand-made split of the tiny cohort: one development participant trains, one validates."""
    bids, _, _ = derived
    masks = sorted((bids / "derivatives" / "annotations").glob("sub-*/anat/*desc-rater1_mask.json"))
    development = [
        p.name.split("_")[0] for p in masks if len(json.loads(p.read_text())["LabelledSlices"]) > 1
    ]
    association = [p.name.split("_")[0] for p in masks if p.name.split("_")[0] not in development]
    assert len(development) == 2
    splits = {
        "schema_version": "1.0",
        "seed": 0,
        "reference": {"dataset": "annotations", "rater": "rater1"},
        "test": [],
        "folds": [{"train": development[:1], "val": development[1:]}] * 4,
        "association": association,
    }
    splits["checksum"] = assignment_checksum(splits)
    path = tmp_path_factory.mktemp("splits") / "splits.json"
    io.write_json(path, splits)
    return path


def _config(**overrides):
    settings = {"iterations": 8, "batch_size": 2, "size": 64, "model_config": SMALL}
    settings.update(overrides)
    config = resolve_config(
        "unet",
        "cpu",
        0,
        **{k: v for k, v in settings.items() if k not in ("val_every", "checkpoint_every", "lr")},
    )
    from dataclasses import replace

    return replace(
        config,
        val_every=settings.get("val_every", 4),
        checkpoint_every=settings.get("checkpoint_every", 4),
        lr=settings.get("lr", config.lr),
    )


def _train_loss(bids, participants, state_dict, config):
    from scvbench.models import create_model

    model = create_model("unet", **SMALL)
    model.load_state_dict(state_dict)
    model.eval()
    images, labels, _ = _arrays(load_cases(bids, participants, "rater1"), Fit(config.size))
    with torch.inference_mode():
        return float(_loss("dicece")(model(torch.from_numpy(images)), torch.from_numpy(labels)))


def test_a_few_steps_reduce_the_loss(derived, split_file, tmp_path):
    bids, _, _ = derived
    config = _config(iterations=30, lr=0.05)
    torch.manual_seed(config.seed)
    from scvbench.models import create_model

    initial = create_model("unet", **SMALL).state_dict()
    summary = train(bids, tmp_path / "run", config, split_file, progress=False)
    assert summary["steps"] == 30
    final = load_checkpoint(tmp_path / "run" / "checkpoint_last.pt")["model"]
    participants = json.loads(split_file.read_text())["folds"][0]["train"]
    before = _train_loss(bids, participants, initial, config)
    after = _train_loss(bids, participants, final, config)
    assert after < 0.9 * before, (before, after)
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert log[0] == "step,loss,lr,val_dice,seconds" and len(log) == 1 + 30 // 4 + 1
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model"] == "unet" and saved["splits_checksum"]
    best = load_checkpoint(tmp_path / "run" / "model_best.pt")
    assert best["config"] == saved and 0 <= best["val_dice"] <= 1


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"patch": 32, "foreground": 0.5, "schedule": "poly"},
        {"schedule": "onecycle"},
        {"patch": 32, "precision": "bfloat16"},
    ],
    ids=["slices-step", "patches-poly", "slices-onecycle", "patches-bfloat16"],
)
def test_resume_continues_from_the_same_step(derived, split_file, tmp_path, settings):
    # Whole slices or patches drawn around veins, any schedule, float32 or bfloat16 forward
    # passes: a run stopped and resumed ends with the weights of the uninterrupted run.
    from scvbench.steps.train.config import cpu_has_bfloat16

    if settings.get("precision") == "bfloat16" and not cpu_has_bfloat16():
        pytest.skip("this CPU has no bfloat16 units (avx512_bf16, amx_bf16)")
    bids, _, _ = derived
    config = _config(**settings)
    first = train(bids, tmp_path / "whole", config, split_file, progress=False)
    if config.precision == "bfloat16":  # validated in bfloat16; the kept model's float32 Dice too
        assert abs(first["best_val_dice_float32"] - first["best_val_dice"]) < 0.05
    else:
        assert "best_val_dice_float32" not in first
    part = train(bids, tmp_path / "split", config, split_file, progress=False, stop_after=3)
    assert part["steps"] == 3
    assert load_checkpoint(tmp_path / "split" / "checkpoint_last.pt")["step"] == 3
    resumed = train(bids, tmp_path / "split", config, split_file, progress=False)
    assert resumed["steps"] == 8
    whole = load_checkpoint(tmp_path / "whole" / "checkpoint_last.pt")["model"]
    again = load_checkpoint(tmp_path / "split" / "checkpoint_last.pt")["model"]
    for key in whole:
        torch.testing.assert_close(again[key], whole[key], rtol=1e-5, atol=1e-6)
    # resuming with other settings is refused
    with pytest.raises(ScvbenchError, match="another configuration"):
        train(
            bids, tmp_path / "split", _config(**settings, iterations=9), split_file, progress=False
        )


def test_resume_repeats_the_validations_after_the_last_checkpoint(derived, split_file, tmp_path):
    # checkpoint_last.pt is written every checkpoint_every steps, not at every validation: a run
    # killed after validating at step 6 resumes from step 4, validates 6 again and keeps one row
    bids, _, _ = derived
    config = _config(val_every=2, checkpoint_every=4)
    whole = train(bids, tmp_path / "whole", config, split_file, progress=False)
    run = tmp_path / "killed"
    train(bids, run, config, split_file, progress=False, stop_after=4)
    kept = (run / "checkpoint_last.pt").read_bytes()
    train(bids, run, config, split_file, progress=False, stop_after=7)
    assert load_checkpoint(run / "checkpoint_last.pt")["step"] == 7  # the end of a run is kept
    (run / "checkpoint_last.pt").write_bytes(kept)  # as if killed at step 7 before its save
    steps = [row.split(",")[0] for row in (run / "log.csv").read_text().splitlines()[1:]]
    assert steps == ["2", "4", "6"]
    resumed = train(bids, run, config, split_file, progress=False)
    assert resumed["steps"] == 8 and resumed["best_val_dice"] == whole["best_val_dice"]
    rows = [
        [line.split(",")[:4] for line in (folder / "log.csv").read_text().splitlines()]
        for folder in (run, tmp_path / "whole")
    ]
    assert rows[0] == rows[1]  # step, loss, lr, Dice (the seconds differ)
    # a damaged log is named, and neither it nor the checkpoint is touched
    (run / "checkpoint_last.pt").write_bytes(kept)
    (run / "log.csv").write_text("step,loss\n2,0.5\nnot a step,0.4\n")
    with pytest.raises(ScvbenchError, match=r"log\.csv: not the log scvbench train writes"):
        train(bids, run, config, split_file, progress=False)
    assert (run / "log.csv").read_text() == "step,loss\n2,0.5\nnot a step,0.4\n"
    assert (run / "checkpoint_last.pt").read_bytes() == kept


def test_predict_writes_a_valid_submission(derived, split_file, tmp_path):
    bids, _, _ = derived
    train(bids, tmp_path / "run", _config(), split_file, progress=False)
    out = bids / "derivatives" / "unet-test"
    try:
        args = ["predict", str(bids), "--checkpoint", str(tmp_path / "run" / "model_best.pt")]
        assert main([*args, "--out", str(out), "--quiet"]) == 0
        description = json.loads((out / "dataset_description.json").read_text())
        assert description["GeneratedBy"][0]["Name"] == "unet"
        assert description["DatasetType"] == "derivative"
        for minip_path in sorted(
            (bids / "derivatives" / "scvbench").glob("sub-*/anat/*minip_T2starw.nii.gz")
        ):
            label = minip_path.name.split("_")[0]
            minip = nib.load(minip_path)
            mask = nib.load(out / label / "anat" / f"{label}_acq-swi_label-vein_mask.nii.gz")
            prob = nib.load(out / label / "anat" / f"{label}_acq-swi_label-vein_probseg.nii.gz")
            assert mask.shape == minip.shape and prob.shape == minip.shape
            np.testing.assert_allclose(mask.affine, minip.affine, atol=1e-4)
            values = np.asarray(mask.dataobj)
            assert set(np.unique(values)) <= {0, 1}
            probability = np.asarray(prob.dataobj)
            assert (
                np.isfinite(probability).all() and probability.min() >= 0 and probability.max() <= 1
            )
            sidecar = json.loads(
                (out / label / "anat" / f"{label}_acq-swi_label-vein_mask.json").read_text()
            )
            reference = json.loads(
                next(
                    (bids / "derivatives" / "annotations" / label / "anat").glob(
                        "*rater1_mask.json"
                    )
                ).read_text()
            )
            # every slice any rater labelled (other tests add raters to this cohort)
            assert set(reference["LabelledSlices"]) <= set(sidecar["PredictedSlices"])
            others = np.setdiff1d(np.arange(minip.shape[2]), sidecar["PredictedSlices"])
            assert not probability[:, :, others].any()
        assert main(["validate", "-r", str(bids)]) == 0
        # the default on a CPU is ONNX Runtime, its export cached beside the checkpoint
        exports = list((tmp_path / "run").glob("model_best.pt.*.onnx"))
        assert len(exports) == 1 and len(exports[0].name.split(".")[2]) == 16
        stamp = exports[0].stat().st_mtime_ns
        torch_out = tmp_path / "torch-run"
        assert main([*args, "--out", str(torch_out), "--quiet", "--runtime", "torch"]) == 0
        assert main([*args, "--out", str(tmp_path / "again"), "--quiet"]) == 0
        assert exports[0].stat().st_mtime_ns == stamp  # reused, not exported again
        ov_out, onnx_out = tmp_path / "openvino-run", tmp_path / "onnx-run"
        assert main([*args, "--out", str(ov_out), "--quiet", "--runtime", "openvino"]) == 0
        assert main([*args, "--out", str(onnx_out), "--quiet", "--runtime", "onnx"]) == 0
        # participants in two forked processes of one thread each: the same files, every runtime
        # (auto, which wrote out, takes the runtime that ran one slice fastest at the time)
        for runtime, single in (("onnx", onnx_out), ("openvino", ov_out), ("torch", torch_out)):
            two = tmp_path / f"two-{runtime}"
            extra = ["--nprocs", "2", "--runtime", runtime]
            assert main([*args, "--out", str(two), "--quiet", *extra]) == 0
            # (the top-level description links the dataset relative to each folder)
            files = sorted(p.relative_to(single) for p in single.glob("sub-*/anat/*"))
            assert files and files == sorted(p.relative_to(two) for p in two.glob("sub-*/anat/*"))
            for name in files:
                if name.suffix != ".gz":
                    assert (single / name).read_bytes() == (two / name).read_bytes()
                    continue
                a = np.asarray(nib.load(single / name).dataobj)
                b = np.asarray(nib.load(two / name).dataobj)
                if runtime != "torch":  # ONNX Runtime and OpenVINO sum alike in 1 thread or 2
                    np.testing.assert_array_equal(a, b)
                elif "probseg" in name.name:  # PyTorch's convolutions round by thread count
                    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
                else:  # the same mask but where the probability lies at the threshold
                    p = np.asarray(
                        nib.load(single / str(name).replace("_mask", "_probseg")).dataobj
                    )
                    assert np.array_equal(a[np.abs(p - 0.5) > 1e-5], b[np.abs(p - 0.5) > 1e-5])
        for path in sorted(
            [
                *out.glob("sub-*/anat/*_label-vein_mask.nii.gz"),
                *ov_out.glob("sub-*/anat/*mask.nii.gz"),
                *onnx_out.glob("sub-*/anat/*mask.nii.gz"),
            ]
        ):
            fast = np.asarray(nib.load(path).dataobj) > 0
            plain = np.asarray(nib.load(torch_out / path.relative_to(path.parents[2])).dataobj) > 0
            both = fast.sum() + plain.sum()
            assert both == 0 or 2 * (fast & plain).sum() / both >= 0.999
            probseg = path.name.replace("_mask", "_probseg")
            np.testing.assert_allclose(
                np.asarray(nib.load(path.with_name(probseg)).dataobj),
                np.asarray(
                    nib.load(
                        (torch_out / path.relative_to(path.parents[2])).with_name(probseg)
                    ).dataobj
                ),
                atol=1e-4,
            )
    finally:
        shutil.rmtree(out, ignore_errors=True)


@pytest.mark.parametrize("runtime", ["onnx", "openvino"])
@pytest.mark.parametrize("name", ["unet", "attention_unet", "deeplabv3plus"])
def test_onnx_export_gives_the_networks_probabilities(name, runtime, tmp_path):
    # Every built-in network exported to ONNX and run by ONNX Runtime and by OpenVINO (in float32
    # even on a CPU with bfloat16 units): the logits of torch within float rounding, any batch.
    from scvbench.models import create_model
    from scvbench.models.runtime import onnx_model, open_session
    from scvbench.steps.train import RECIPES

    torch.manual_seed(0)
    model = create_model(name, **RECIPES["cpu"]["model_config"][name]).eval()
    for module in model.modules():  # batch-norm statistics away from the identity
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    checkpoint = tmp_path / "model_best.pt"
    torch.save({"model": model.state_dict()}, checkpoint)
    session = open_session(runtime, onnx_model(model, checkpoint, 64))
    x = np.random.default_rng(0).normal(0.5, 0.3, (3, 1, 64, 64)).astype(np.float32)
    with torch.inference_mode():
        want = model(torch.from_numpy(x)).numpy()
    got = session(x)
    assert got.shape == want.shape
    # float rounding only: logits within 1e-5 of their range (random weights make them large)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


def test_a_new_export_removes_the_checkpoints_older_ones(tmp_path, monkeypatch):
    # an export of another version (or of an earlier checkpoint of that name) is never asked
    # for again: writing the new one removes it; other files beside it stay
    from scvbench.models import create_model, runtime
    from scvbench.steps.train import RECIPES

    torch.manual_seed(0)
    model = create_model("unet", **RECIPES["cpu"]["model_config"]["unet"]).eval()
    checkpoint = tmp_path / "model_best.pt"
    torch.save({"model": model.state_dict()}, checkpoint)
    monkeypatch.setattr(runtime, "EXPORT", "scvbench-onnx-older")
    older = runtime.onnx_model(model, checkpoint, 64)
    kept = [tmp_path / "model_best.pt.notes.onnx", tmp_path / "other.pt.0123456789abcdef.onnx"]
    for path in kept:
        path.write_bytes(b"x")
    monkeypatch.undo()
    current = runtime.onnx_model(model, checkpoint, 64)
    assert current != older and current.is_file() and not older.exists()
    assert all(path.is_file() for path in kept)
    stamp = current.stat().st_mtime_ns
    assert runtime.onnx_model(model, checkpoint, 64) == current  # reused, nothing removed
    assert current.stat().st_mtime_ns == stamp and all(path.is_file() for path in kept)


def test_openvino_runs_without_its_telemetry(tmp_path):
    # import openvino would write a client ID and usage count under ~/intel (and send an event
    # where there is a network): scvbench's session imports it with its telemetry stand-in.
    from scvbench.models import create_model
    from scvbench.models.runtime import onnx_model
    from scvbench.steps.train import RECIPES

    torch.manual_seed(0)
    model = create_model("unet", **RECIPES["cpu"]["model_config"]["unet"]).eval()
    checkpoint = tmp_path / "model_best.pt"
    torch.save({"model": model.state_dict()}, checkpoint)
    export = onnx_model(model, checkpoint, 64)
    home = tmp_path / "home"
    home.mkdir()
    code = (
        "import sys, numpy as np\n"
        "from scvbench.models.runtime import OpenVinoSession\n"
        "out = OpenVinoSession(sys.argv[1])(np.zeros((1, 1, 64, 64), np.float32))\n"
        "assert out.shape == (1, 2, 64, 64)\n"
    )
    # without CI in the environment: the telemetry stays off there on its own
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    subprocess.run(
        [sys.executable, "-c", code, str(export)], env={**env, "HOME": str(home)}, check=True
    )
    assert list(home.rglob("*")) == []


def test_bad_checkpoints_and_arguments(derived, split_file, tmp_path, capsys):
    bids, _, _ = derived
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    train(bids, tmp_path / "run", _config(), split_file, progress=False)
    state = load_checkpoint(tmp_path / "run" / "model_best.pt")
    state["config"] = {**state["config"], "model_config": {"channels": [4, 8, 16, 32, 64]}}
    mismatched = tmp_path / "mismatched.pt"
    torch.save(state, mismatched)

    class Evil:
        def __reduce__(self):
            return (print, ("pickled code ran",))

    evil = tmp_path / "evil.pt"
    torch.save({"model": Evil(), "config": {}}, evil)
    out = tmp_path / "out"
    for checkpoint, message in (
        (corrupt, "not a loadable checkpoint"),
        (foreign, "not a scvbench checkpoint"),
        (mismatched, "weights do not fit"),
        (evil, "not a loadable checkpoint"),
        (tmp_path / "missing.pt", "no such checkpoint"),
    ):
        code = main(["predict", str(bids), "--checkpoint", str(checkpoint), "--out", str(out)])
        captured = capsys.readouterr()
        assert code == 1 and message in captured.err and "pickled code ran" not in captured.out
        assert captured.err.count("\n") == 1
        assert not out.exists()
    base = [
        "train",
        str(bids),
        "--out",
        str(tmp_path / "x"),
        "--splits",
        str(split_file),
        "--quiet",
    ]
    assert main([*base, "--model", "unett", "--fold", "0"]) == 1
    assert "did you mean unet" in capsys.readouterr().err
    assert main([*base, "--model", "unet", "--fold", "5"]) == 1
    assert "fold 5 is not in the split file" in capsys.readouterr().err
    assert main([*base, "--model", "unet", "--fold", "one"]) == 2


def test_frangi_threshold_is_tuned_on_the_training_slices_only(derived, split_file, tmp_path):
    bids, _, _ = derived
    config = resolve_config("frangi", "cpu", 0, size=64)
    summary = train(bids, tmp_path / "a", config, split_file, progress=False)
    assert summary["steps"] == 0 and 0 <= summary["best_val_dice"] <= 1
    tuned = float(load_checkpoint(tmp_path / "a" / "model_best.pt")["model"]["threshold"])
    assert tuned != pytest.approx(0.05)  # moved from the default
    # another validation set: the same threshold (validation never tunes it)
    splits = json.loads(split_file.read_text())
    splits["folds"] = [{"train": f["train"], "val": splits["association"]} for f in splits["folds"]]
    splits["association"] = []
    splits["checksum"] = assignment_checksum(splits)
    other = tmp_path / "other.json"
    io.write_json(other, splits)
    train(bids, tmp_path / "b", config, other, progress=False)
    again = float(load_checkpoint(tmp_path / "b" / "model_best.pt")["model"]["threshold"])
    assert again == tuned


def test_fold_all_trains_every_fold(derived, split_file, tmp_path, capsys):
    bids, _, _ = derived
    args = ["train", str(bids), "--model", "frangi", "--fold", "all", "--size", "64"]
    assert (
        main([*args, "--out", str(tmp_path / "runs"), "--splits", str(split_file), "--quiet"]) == 0
    )
    for k in range(4):
        assert (tmp_path / "runs" / f"fold-{k}" / "model_best.pt").is_file()
        assert (
            json.loads((tmp_path / "runs" / f"fold-{k}" / "config.json").read_text())["fold"] == k
        )
    assert capsys.readouterr().out.count("frangi fold") == 4


def test_cldice_loss_trains(derived, split_file, tmp_path):
    bids, _, _ = derived
    summary = train(
        bids, tmp_path / "cl", _config(iterations=2, loss="cldice"), split_file, progress=False
    )
    assert summary["steps"] == 2
    assert json.loads((tmp_path / "cl" / "config.json").read_text())["loss"] == "cldice"


def test_train_cli_reports_the_float32_dice_of_bfloat16_runs(derived, split_file, tmp_path, capsys):
    from scvbench.steps.train.config import cpu_has_bfloat16

    if not cpu_has_bfloat16():
        pytest.skip("this CPU has no bfloat16 units (avx512_bf16, amx_bf16)")
    bids, _, _ = derived
    args = ["train", str(bids), "--model", "unet", "--fold", "0", "--splits", str(split_file)]
    args += ["--size", "64", "--iterations", "2", "--batch-size", "2", "--precision", "bfloat16"]
    args += ["--model-config", json.dumps(SMALL), "--quiet"]
    assert main([*args, "--out", str(tmp_path / "bf16")]) == 0
    summary = json.loads((tmp_path / "bf16" / "summary.json").read_text())
    assert f"(float32: {summary['best_val_dice_float32']:.3f})" in capsys.readouterr().out


def test_ddp_with_two_processes_matches_one(derived, split_file, tmp_path):
    """torchrun, 2 processes, gloo on CPU: the same weights as one process (within tolerance)."""
    from pathlib import Path

    bids, _, _ = derived
    settings = {"channels": [8, 16, 32, 64, 128], "dropout": 0.0}
    # the paper recipe's SGD: updates proportional to the gradients (Adam would blow the float
    # noise of near-zero gradients, such as a bias before instance norm, up to whole steps)
    common = [
        "--model",
        "unet",
        "--fold",
        "0",
        "--recipe",
        "paper",
        "--splits",
        str(split_file),
        "--iterations",
        "3",
        "--batch-size",
        "2",
        "--size",
        "64",
        "--model-config",
        json.dumps(settings),
        "--quiet",
    ]
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [
            str(torchrun),
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "scvbench",
            "train",
            str(bids),
            *common,
            "--out",
            str(tmp_path / "ddp"),
            "--ddp",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("unet fold 0") == 1  # rank 0 reports
    assert main(["train", str(bids), *common, "--out", str(tmp_path / "one")]) == 0
    ddp = load_checkpoint(tmp_path / "ddp" / "checkpoint_last.pt")
    one = load_checkpoint(tmp_path / "one" / "checkpoint_last.pt")
    assert ddp["step"] == one["step"] == 3 and ddp["config"] == one["config"]
    for key in one["model"]:
        torch.testing.assert_close(ddp["model"][key], one["model"][key], rtol=1e-4, atol=1e-5)
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["processes"] == 2


def test_baseline_record_from_a_real_run(derived, split_file, tmp_path):
    """scvbench baselines: train, predict, evaluate the test split, write the card."""
    from scvbench.steps.baselines import record_baseline

    bids, _, _ = derived
    splits = json.loads(split_file.read_text())
    development = splits["folds"][0]["train"] + splits["folds"][0]["val"]
    association = splits["association"]
    splits.update(  # a split with a test participant: train on one, validate on another
        test=development[1:],
        folds=[{"train": development[:1], "val": association[:1]}] * 4,
        association=association[1:],
    )
    splits["checksum"] = assignment_checksum(splits)
    path = tmp_path / "splits.json"
    io.write_json(path, splits)
    results = record_baseline(
        bids, tmp_path / "runs", "frangi", 0, "cpu", tmp_path / "baselines", path, size=64
    )
    card = (tmp_path / "baselines" / "frangi" / "README.md").read_text()
    saved = json.loads((tmp_path / "baselines" / "frangi" / "results.json").read_text())
    assert saved["test_dice"] == results["test_dice"] and results["test_dice"]["slices"] >= 1
    assert 0 <= results["test_dice"]["mean"] <= 1
    assert f"{results['test_dice']['mean']:.3f}" in card and "## Hardware and time" in card
    cases = tmp_path / "runs" / "frangi" / "evaluation-test" / "cases.tsv"
    assert cases.is_file()  # the same numbers as scvbench evaluate
    assert json.loads((tmp_path / "baselines" / "frangi" / "config.json").read_text())["size"] == 64


def test_patches_are_centred_on_veins_at_the_chosen_rate():
    from scvbench.steps.train.data import PatchSampler

    labels = np.zeros((3, 1, 64, 64), np.float32)
    labels[:, 0, 30:34, 10:12] = 1  # a small vein left of centre
    brains = np.zeros_like(labels)
    brains[:, 0, 8:56, 8:56] = 1
    for rate in (0.0, 0.5, 1.0):
        sampler = PatchSampler(labels, brains, patch=32, foreground=rate)
        rng = np.random.default_rng(0)
        centres = [sampler.centre(rng, i % 3) for i in range(2000)]
        on_vein = np.mean([labels[0, 0, r, c] > 0 for r, c in centres])
        inside = np.mean([brains[0, 0, r, c] > 0 for r, c in centres])
        assert inside == 1.0
        # the vein covers 8 of 2304 brain pixels: off-vein draws land on it 0.35 % of the time
        assert abs(on_vein - (rate + (1 - rate) * 8 / 2304)) < 0.035, (rate, on_vein)
    window = sampler.cut(labels[0], (2, 62))  # at the corner: zeros beyond the slice
    assert window.shape == (1, sampler.window, sampler.window) and sampler.window >= 1.5 * 32
    half = sampler.window // 2
    assert window[0, half - 2 : half + 2, : half - 62].sum() == 0


def test_bad_patch_settings_are_refused():
    for settings, message in (
        ({"patch": 40}, "multiple of 16"),
        ({"patch": 512}, "multiple of 16 from 32 to the size"),
        ({"foreground": 1.5}, "within 0..1"),
        ({"schedule": "cosine"}, "unknown schedule"),
    ):
        with pytest.raises(ScvbenchError, match=message):
            resolve_config("unet", "cpu", 0, **settings)


def test_training_stops_at_a_target_dice(derived, split_file, tmp_path):
    # time-to-accuracy: the run ends at the first validation reaching the target
    bids, _, _ = derived
    config = _config(iterations=12, val_every=3)
    summary = train(bids, tmp_path / "run", config, split_file, progress=False, stop_at=0.0)
    assert summary["steps"] == 3
    assert load_checkpoint(tmp_path / "run" / "checkpoint_last.pt")["step"] == 3
    with pytest.raises(ScvbenchError, match="needs one process"):
        train(bids, tmp_path / "ddp", config, split_file, progress=False, ddp=True, stop_at=0.5)


def test_training_stops_when_validation_dice_plateaus(derived, split_file, tmp_path):
    # Only the first validation can improve by 1.0: two validations later the run ends, and a
    # run interrupted before that and resumed ends at the same step with the same weights.
    bids, _, _ = derived
    config = _config(iterations=30, val_every=3, checkpoint_every=3, patience=2, min_delta=1.0)
    whole = train(bids, tmp_path / "whole", config, split_file, progress=False)
    assert (whole["steps"], whole["stopped"]) == (9, "plateau")
    part = train(bids, tmp_path / "split", config, split_file, progress=False, stop_after=5)
    assert (part["steps"], part["stopped"]) == (5, "interrupted")
    resumed = train(bids, tmp_path / "split", config, split_file, progress=False)
    assert (resumed["steps"], resumed["stopped"]) == (9, "plateau")
    again = train(bids, tmp_path / "split", config, split_file, progress=False)
    assert (again["steps"], again["stopped"]) == (9, "plateau")
    a = load_checkpoint(tmp_path / "whole" / "checkpoint_last.pt")["model"]
    b = load_checkpoint(tmp_path / "split" / "checkpoint_last.pt")["model"]
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-6)
    log = (tmp_path / "whole" / "log.csv").read_text().splitlines()
    assert len(log) == 1 + 3


def test_precision_is_recorded_only_where_it_changes_the_run(tmp_path, monkeypatch):
    # float32, the behaviour from before the setting, leaves the record (config.json, checkpoints,
    # benchmark stamps) as it was, so that earlier runs resume; bfloat16 is recorded.
    from scvbench.steps.train import config as train_config

    plain = resolve_config("deeplabv3plus", "cpu-plateau", 0)
    assert "precision" not in train_config.config_record(plain)
    fast = resolve_config("deeplabv3plus", "cpu-plateau", 0, precision="bfloat16")
    assert train_config.config_record(fast)["precision"] == "bfloat16"
    with pytest.raises(ScvbenchError, match="unknown precision 'half'"):
        resolve_config("unet", "cpu", 0, precision="half")
    # bfloat16 only on a CPU with bfloat16 units, read from the kernel's flags
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor : 0\nflags : fpu avx2 avx512f amx_bf16 amx_tile\n")
    assert train_config.cpu_has_bfloat16(cpuinfo)
    cpuinfo.write_text("processor : 0\nflags : fpu avx2 fma\n")
    assert not train_config.cpu_has_bfloat16(cpuinfo)
    assert not train_config.cpu_has_bfloat16(tmp_path / "missing")
    monkeypatch.setattr(train_config, "cpu_has_bfloat16", lambda: False)
    with pytest.raises(ScvbenchError, match="needs a CPU with bfloat16 units"):
        train_config.forward_precision("bfloat16")


def test_plateau_rule():
    from scvbench.steps.train import plateaued

    config = resolve_config("unet", "cpu-plateau", 0)
    assert (config.patience, config.min_delta, config.val_every) == (8, 0.002, 250)
    assert not plateaued(config, 1999, 0) and plateaued(config, 2000, 0)
    assert not plateaued(resolve_config("unet", "cpu", 0), 10**6, 0)  # patience 0: never
    with pytest.raises(ScvbenchError, match="patience and min_delta"):
        resolve_config("unet", "cpu", 0, patience=-1)
