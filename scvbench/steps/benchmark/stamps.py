"""Stage stamps and the run record of ``scvbench benchmark``: what is done, with which inputs.

A stage is done when ``OUT/stages/<stage>.json`` exists with the same **fingerprint** (the
settings and upstream checksums that decide its output); then it is skipped. A stamp with
another fingerprint stops the run: the folder holds work made with other settings. Stamps are
written atomically after the stage's outputs, so a killed stage has no stamp and runs again
(training continues from its last checkpoint).
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from scvbench import __version__, io
from scvbench.errors import ScvbenchError
from scvbench.steps.benchmark.state import RECORD, save_state

__all__ = ["RECORD", "StageBook", "folder_checksum", "versions"]


def folder_checksum(
    root: Path,
    exclude: tuple[str, ...] = (),
    rewrite: dict[str, Callable[[bytes], bytes]] | None = None,
) -> str:
    """SHA-256 over every file under ``root``: relative path and content, in sorted order.

    Parameters
    ----------
    root : Path
        The folder.
    exclude : tuple of str
        Top-level names left out.
    rewrite : dict, optional
        Relative POSIX path to a function of the file's bytes: the file is hashed as it returns
        them (for a small file whose content names something other than the data).

    Returns
    -------
    str
        Hex SHA-256.
    """
    rewrite = rewrite or {}
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if relative.parts[0] in exclude:
            continue
        digest.update(relative.as_posix().encode() + b"\0")
        if relative.as_posix() in rewrite:
            digest.update(rewrite[relative.as_posix()](path.read_bytes()))
        else:
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def versions() -> dict:
    """Versions of Python, scvbench and the libraries whose numbers a run depends on.

    Returns
    -------
    dict
        Package name to version (None when not installed).
    """
    out = {"python": platform.python_version(), "scvbench": __version__}
    for name in (
        "torch",
        "monai",
        "numpy",
        "scipy",
        "scikit-image",
        "onnxruntime",
        "openvino",
        "pandas",
    ):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class StageBook:
    """The stamps of one benchmark folder and its run record.

    Parameters
    ----------
    out : Path
        The benchmark folder.
    settings : dict
        The run's settings (recorded).
    progress : bool
        Print a line per stage.
    state : Path, optional
        A folder that mirrors the run's portable state after every stage
        (:mod:`scvbench.steps.benchmark.state`).
    """

    def __init__(
        self, out: Path, settings: dict, progress: bool = True, state: Path | None = None
    ) -> None:
        self.out, self.progress, self.state = out, progress, state
        self.folder = out / "stages"
        path = out / RECORD
        self.record = json.loads(path.read_text()) if path.is_file() else {"stages": {}}
        self.record["settings"] = settings
        self.record.setdefault("started", _now())
        self.record["sessions"] = self.record.get("sessions", 0) + 1
        self.record["versions"] = versions()

    def _stamp(self, name: str) -> Path:
        return self.folder / f"{name.replace(':', '_')}.json"

    def done(self, name: str, fingerprint: dict) -> dict | None:
        """The stamp of ``name`` when the stage is done with ``fingerprint``, else None.

        Parameters
        ----------
        name : str
            The stage.
        fingerprint : dict
            What decides its output.

        Returns
        -------
        dict or None
            The stamp (with the stage's ``outputs``).
        """
        path = self._stamp(name)
        if not path.is_file():
            return None
        stamp = json.loads(path.read_text())
        if stamp.get("fingerprint") != json.loads(json.dumps(fingerprint)):
            changed = sorted(
                k
                for k in set(stamp.get("fingerprint", {})) | set(fingerprint)
                if stamp.get("fingerprint", {}).get(k) != fingerprint.get(k)
            )
            raise ScvbenchError(
                f"{path}: stage {name} was run with other settings or inputs ({', '.join(changed)} "
                f"differ); continue with the same settings or use a new benchmark folder"
            )
        return stamp

    def stamped(self, name: str) -> bool:
        """Whether ``name`` has a stamp (whatever its fingerprint).

        Parameters
        ----------
        name : str
            The stage.

        Returns
        -------
        bool
            True when the stage was done.
        """
        return self._stamp(name).is_file()

    def amend(self, name: str, outputs: dict) -> dict:
        """Add ``outputs`` to the stamp of a done stage; return all its outputs.

        Parameters
        ----------
        name : str
            A stamped stage.
        outputs : dict
            Outputs to add (JSON-able).

        Returns
        -------
        dict
            The stage's outputs, ``outputs`` included.
        """
        path = self._stamp(name)
        stamp = json.loads(path.read_text())
        stamp["outputs"] = {**stamp["outputs"], **outputs}
        io.write_json(path, stamp)
        self.save()
        return stamp["outputs"]

    def forget(self, name: str, why: str) -> dict | None:
        """Remove the stamp of ``name`` so that the stage runs again; return the old stamp.

        Parameters
        ----------
        name : str
            The stage.
        why : str
            Why it runs again (printed).

        Returns
        -------
        dict or None
            The removed stamp, or None when there was none.
        """
        path = self._stamp(name)
        if not path.is_file():
            return None
        stamp = json.loads(path.read_text())
        path.unlink()
        self.record["stages"].pop(name, None)
        self._say(f"{name}: {why}; it runs again")
        return stamp

    def run(self, name: str, fingerprint: dict, work, index: int, total: int) -> dict:
        """Run ``work()`` unless the stage is done; stamp it. Returns the stage's outputs.

        Parameters
        ----------
        name : str
            The stage.
        fingerprint : dict
            What decides its output.
        work : callable
            Does the stage; returns its outputs (a JSON-able dict).
        index, total : int
            Its place in the run, for the progress line.

        Returns
        -------
        dict
            The stage's outputs (from the stamp when it was done before).
        """
        stamp = self.done(name, fingerprint)
        if stamp is not None:
            self._say(f"[{index}/{total}] {name}: done before ({stamp['finished']}), skipped")
            return stamp["outputs"]
        self._say(f"[{index}/{total}] {name} ...")
        started = time.perf_counter()
        outputs = work() or {}
        seconds = round(time.perf_counter() - started, 1)
        stamp = {
            "stage": name,
            "fingerprint": fingerprint,
            "outputs": outputs,
            "seconds": seconds,
            "finished": _now(),
            "scvbench": __version__,
        }
        io.write_json(self._stamp(name), stamp)
        self.record["stages"][name] = {"seconds": seconds, "finished": stamp["finished"]}
        self.save()
        self._say(f"[{index}/{total}] {name}: done in {seconds} s")
        return outputs

    def save(self, **fields) -> None:
        """Write the run record (``OUT/benchmark.json``) with ``fields`` added.

        Parameters
        ----------
        **fields
            Entries of the record to set.

        Returns
        -------
        None
        """
        self.record.update(fields)
        self.record["updated"] = _now()
        io.write_json(self.out / RECORD, self.record)
        if self.state is not None:
            save_state(self.out, self.state)

    def _say(self, line: str) -> None:
        if self.progress:
            print(line, flush=True)
