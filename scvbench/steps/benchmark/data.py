"""The benchmark's data stages: cohort, dataset, derivatives, annotations and split.

Each stage's stamp records the checksum of what it made (SHA-256 over its folder's names and
bytes): ``cohort_checksum`` (``OUT/sourcedata``), ``dataset_checksum`` (the raw BIDS dataset,
without ``derivatives/`` and ``code/``), ``derivatives_checksum`` (``derivatives/scvbench``),
``annotations_checksum`` (``derivatives/annotations``) and ``splits_checksum``. Every stage is
deterministic, so a run continued elsewhere makes its missing data again and must get the same
checksums: a stage that does not stops the run before it is stamped, naming both. A stamp made
before a checksum was recorded gets it added, from the data in place. The ``synth`` stage is
fingerprinted by preset, seed and size; the generator's digest is recorded beside its checksum,
and the cohort's checksum reads the digest in the cohort's manifest as that recorded one
(:func:`cohort_checksum`): a cohort made again by changed code that writes the same data
continues the run (its stamp names the new digest as ``remade_by``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from scvbench.errors import ScvbenchError
from scvbench.steps.annotate import import_annotations
from scvbench.steps.benchmark.stamps import RECORD, StageBook, folder_checksum
from scvbench.steps.convert.run import convert_dataset
from scvbench.steps.derive import derive_dataset
from scvbench.steps.splits import SPLITS_FILE, load_splits, write_splits
from scvbench.steps.synth import generate_cohort

__all__ = ["cohort_checksum", "data_stages"]

MANIFEST = "truth/manifest.json"
_DIGEST = re.compile(rb'("generator_digest": ")([0-9a-f]*)(")')


def cohort_checksum(source: Path, generator: str | None = None) -> str:
    """The cohort's checksum, as if the generator ``generator`` had written it.

    The manifest names the digest of the code that wrote the cohort; every other byte is data.
    With ``generator`` (the digest recorded when the run made its cohort), a cohort made again by
    changed code (faster, or only re-documented) that writes the same data gives the run's
    checksum; without it, the checksum of the folder as it is.

    Parameters
    ----------
    source : Path
        The cohort folder (``OUT/sourcedata``).
    generator : str, optional
        The generator digest to read in the manifest's place.

    Returns
    -------
    str
        Hex SHA-256 over the folder's names and bytes.
    """
    if generator is None:
        return folder_checksum(source)
    tag = generator.encode()

    def as_written_by(data: bytes) -> bytes:
        return _DIGEST.sub(lambda m: m.group(1) + tag + m.group(3), data, count=1)

    return folder_checksum(source, rewrite={MANIFEST: as_written_by})


def _products(out: Path) -> dict[str, tuple[Path, str, object]]:
    """Per stage: the file that shows it is done, its checksum's name and how to compute it.

    Each checksum is a function of the stage's stamped outputs (the cohort's reads the stamped
    generator digest in the manifest's place).
    """
    source, bids = out / "sourcedata", out / "bids"
    derivatives = bids / "derivatives"
    return {
        "synth": (
            source / MANIFEST,
            "cohort_checksum",
            lambda stamp: cohort_checksum(source, stamp.get("generator")),
        ),
        "convert": (
            bids / "participants.tsv",
            "dataset_checksum",
            lambda stamp: folder_checksum(bids, exclude=("derivatives", "code")),
        ),
        "derive": (
            derivatives / "scvbench" / "dataset_description.json",
            "derivatives_checksum",
            lambda stamp: folder_checksum(derivatives / "scvbench"),
        ),
        "annotations": (
            derivatives / "annotations" / "dataset_description.json",
            "annotations_checksum",
            lambda stamp: folder_checksum(derivatives / "annotations"),
        ),
        "splits": (
            bids / SPLITS_FILE,
            "splits_checksum",
            lambda stamp: load_splits(bids / SPLITS_FILE)["checksum"],
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
            stamped = (before.get(name) or {}).get("outputs", {})
            if name == "synth" and stamped.get("generator") not in (None, outputs["generator"]):
                # made again by changed code: compared as the run's generator wrote it
                outputs = {**outputs, "remade_by": outputs["generator"]}
                outputs["generator"] = stamped["generator"]
            value = checksum(outputs)
            old = stamped.get(key)
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
            outputs = book.amend(name, {key: checksum(outputs)})
        if upstream is None:
            upstream = outputs[key]
            if checksum(outputs) != upstream:
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
