"""The benchmark's data stages: cohort, dataset, derivatives, annotations and split.

Each stage's stamp records the checksum of what it made (SHA-256 over its folder's names and
bytes): ``cohort_checksum`` (``OUT/sourcedata``), ``dataset_checksum`` (the raw BIDS dataset,
without ``derivatives/`` and ``code/``), ``derivatives_checksum`` (``derivatives/scvbench``),
``annotations_checksum`` (``derivatives/annotations``) and ``splits_checksum``. Every stage is
deterministic, so a run continued elsewhere makes its missing data again and must get the same
checksums: a stage that does not stops the run before it is stamped, naming both. A stamp made
before a checksum was recorded gets it added, from the data in place. The ``synth`` stage is
fingerprinted by preset, seed and size; the generator's digest is recorded beside its checksum.
"""

from __future__ import annotations

import json
from pathlib import Path

from scvbench.errors import ScvbenchError
from scvbench.steps.annotate import import_annotations
from scvbench.steps.benchmark.stamps import RECORD, StageBook, folder_checksum
from scvbench.steps.convert.run import convert_dataset
from scvbench.steps.derive import derive_dataset
from scvbench.steps.splits import SPLITS_FILE, load_splits, write_splits
from scvbench.steps.synth import generate_cohort

__all__ = ["data_stages"]


def _products(out: Path) -> dict[str, tuple[Path, str, object]]:
    """Per stage: the file that shows it is done, its checksum's name and how to compute it."""
    source, bids = out / "sourcedata", out / "bids"
    derivatives = bids / "derivatives"
    return {
        "synth": (
            source / "truth" / "manifest.json",
            "cohort_checksum",
            lambda: folder_checksum(source),
        ),
        "convert": (
            bids / "participants.tsv",
            "dataset_checksum",
            lambda: folder_checksum(bids, exclude=("derivatives", "code")),
        ),
        "derive": (
            derivatives / "scvbench" / "dataset_description.json",
            "derivatives_checksum",
            lambda: folder_checksum(derivatives / "scvbench"),
        ),
        "annotations": (
            derivatives / "annotations" / "dataset_description.json",
            "annotations_checksum",
            lambda: folder_checksum(derivatives / "annotations"),
        ),
        "splits": (
            bids / SPLITS_FILE,
            "splits_checksum",
            lambda: load_splits(bids / SPLITS_FILE)["checksum"],
        ),
    }


def _work(out: Path, settings: dict, nprocs: int, progress: bool) -> dict:
    """Per stage, the function that makes its data; returns the stage's outputs."""
    source, bids, key = out / "sourcedata", out / "bids", out / "key.csv"

    def synth() -> dict:
        generate_cohort(
            source,
            preset=settings["preset"],
            n_subjects=settings["subjects"],
            seed=settings["seed"],
            nprocs=nprocs,
            progress=progress,
        )
        manifest = json.loads((source / "truth" / "manifest.json").read_text())
        size = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
        return {
            "subjects": manifest["n_subjects"],
            "bytes": size,
            "generator": manifest["generator_digest"],
        }

    def convert() -> dict:
        report = convert_dataset(
            source / "dicom",
            bids,
            demographics=source / "demographics.csv",
            fazekas=source / "fazekas.csv",
            key_file=key,
            nprocs=nprocs,
        )
        problems = [f"sub-{k}: {v}" for k, v in sorted(report.failed.items())]
        problems += list(report.sheet_problems)
        if problems:
            raise ScvbenchError("convert: " + "; ".join(problems))
        return {"participants": len(report.converted) + len(report.up_to_date)}

    def derive() -> dict:
        report = derive_dataset(bids, nprocs=nprocs, progress=progress)
        if report.failed:
            raise ScvbenchError(
                "derive: " + "; ".join(f"sub-{k}: {v}" for k, v in sorted(report.failed.items()))
            )
        return {"participants": len(report.derived) + len(report.up_to_date)}

    def annotations() -> dict:
        report = import_annotations(source / "annotations", bids, key_file=key)
        if report.refused:
            raise ScvbenchError("annotations: " + "; ".join(report.refused.values()))
        return {"files": len(report.imported), "skipped_shapes": len(report.skipped_shapes)}

    def splits() -> dict:
        write_splits(bids)
        return {}

    return {
        "synth": synth,
        "convert": convert,
        "derive": derive,
        "annotations": annotations,
        "splits": splits,
    }


def data_stages(book: StageBook, out: Path, settings: dict, nprocs: int, progress: bool):
    """Run (or skip) synth, convert, derive, annotations and splits.

    Parameters
    ----------
    book : StageBook
        The run's stamps.
    out : Path
        The benchmark folder.
    settings : dict
        The run's settings (``preset``, ``seed``, ``subjects``, ``total_stages``).
    nprocs : int
        Processes.
    progress : bool
        Progress bars.

    Returns
    -------
    tuple of (str, dict)
        The cohort checksum and the split document.
    """
    products, work = _products(out), _work(out, settings, nprocs, progress)
    # A run continued from its state (another machine, or a wiped scratch folder) has the data
    # stages' stamps but not their outputs: they run again and must give the stamped checksums.
    before, gone = {}, False
    for name, (product, _, _) in products.items():
        gone = gone or (book.stamped(name) and not product.exists())
        if gone:
            before[name] = book.forget(name, "its outputs are not in this folder")
    # The cohort is asked for by preset, seed and size; the generator that made it is recorded
    # (a faster generator that writes the same bytes continues the run), and its checksum is
    # what identifies it.
    cohort = {
        "preset": settings["preset"],
        "seed": settings["seed"],
        "subjects": settings["subjects"],
    }
    upstream = None
    for index, (name, (_, key, checksum)) in enumerate(products.items(), start=1):

        def make(name=name, key=key, checksum=checksum) -> dict:
            outputs = work[name]()
            value = checksum()
            old = (before.get(name) or {}).get("outputs", {}).get(key)
            if old is not None and old != value:
                raise ScvbenchError(
                    f"{name}: made again, its {key} is {value[:12]}, not the run's {old[:12]}; "
                    "this installation makes other data (compare the library versions in "
                    f"{out / RECORD}); continue the run where it was made"
                )
            return {**outputs, key: value}

        fingerprint = cohort if upstream is None else {"cohort": upstream}
        outputs = book.run(name, fingerprint, make, index, settings["total_stages"])
        if key not in outputs:  # stamped before the checksum was recorded
            outputs = book.amend(name, {key: checksum()})
        if upstream is None:
            upstream = outputs[key]
            if checksum() != upstream:
                raise ScvbenchError(
                    f"{out / 'sourcedata'}: the cohort changed since it was generated (checksum "
                    "differs); remove the benchmark folder and run again"
                )
        elif name == "splits":
            document = load_splits(out / "bids" / SPLITS_FILE)
            if document["checksum"] != outputs[key]:
                raise ScvbenchError(
                    f"{out / 'bids' / SPLITS_FILE}: changed since the split was made; remove "
                    "the benchmark folder and run again"
                )
    return upstream, document
