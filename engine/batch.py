"""Many videos in one run (``mouthpiece batch``): a manifest of rows, one engine load, the
reference work shared (each distinct photo's face found once; the speech backend's voice
codes come from its cache), resumable (a row whose output exists is skipped: outputs are
written atomically, so one that exists is whole), every failure kept with its reason.

A manifest is CSV with a header row, or JSON Lines (one object per line), with the fields
``script`` or ``script_file``, and optionally ``photo``, ``voice``, ``voice_text``,
``language`` (a code such as ``fr``; empty: the run's ``--lang``, else detected) and
``output`` (a file name under the output folder; default ``001.mp4``, ``002.mp4``...).
Relative paths are read from the manifest's folder; a row without a photo or voice uses the
run's own (``--photo``, ``--voice``).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from engine.errors import EngineError, InvalidInput
from engine.types import PhotoIntake, Progress, RenderOptions, RenderRequest

__all__ = ["MAX_ROWS", "Row", "Outcome", "read_manifest", "read_text", "run_batch"]

MAX_ROWS = 10_000
_MAX_MANIFEST_BYTES = 10_000_000
_MAX_SCRIPT_BYTES = 100_000
_FIELDS = ("script", "script_file", "photo", "voice", "voice_text", "language", "output")


@dataclass(frozen=True)
class Row:
    """One video of a batch, as the manifest asks for it (paths resolved)."""

    number: int  # 1-based, as a person counts the manifest's rows
    script: str
    photo: Path | None
    voice: Path | None
    voice_text: str | None
    output: PurePosixPath  # relative to the output folder
    language: str | None = None  # a supported code; None: the run's, else detected


@dataclass(frozen=True)
class Outcome:
    """How a row ended: ``done``, ``skipped`` (its output was there) or ``failed``."""

    row: int
    output: Path
    status: str
    seconds: float = 0.0
    reason: str = ""
    language: str = ""  # what the script was spoken in, when the render says


def read_text(path: Path, name: str, limit: int) -> str:
    """``path``'s UTF-8 text (a BOM dropped), reading no more than ``limit`` bytes; a one-line
    InvalidInput that calls the file ``name`` ("the script file 'talk.txt'") otherwise."""
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise InvalidInput(f"Cannot read {name}: {e.strerror}.") from e
    said = name[:1].upper() + name[1:]
    if len(data) > limit:
        raise InvalidInput(f"{said} is over {limit:,} bytes.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InvalidInput(f"{said} is not UTF-8 text.") from e


def _records(text: str, jsonl: bool) -> Iterator[dict[str, object]]:
    if jsonl:
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise InvalidInput(
                    f"Manifest line {n} is not JSON: {e.msg}.", field="manifest"
                ) from e
            if not isinstance(record, dict):
                raise InvalidInput(f"Manifest line {n} is not a JSON object.", field="manifest")
            yield record
        return
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise InvalidInput("The manifest is empty.", field="manifest")
    unknown = [f for f in reader.fieldnames if f not in _FIELDS]
    if unknown or not {"script", "script_file"} & set(reader.fieldnames):
        raise InvalidInput(
            "The manifest's header must name a script or script_file column (and may name "
            f"{', '.join(_FIELDS[2:])}); it has {', '.join(reader.fieldnames)}.",
            field="manifest",
        )
    yield from reader


def _text(record: dict[str, object], key: str) -> str:
    value = record.get(key)
    return value.strip() if isinstance(value, str) else ""


def _script(record: dict[str, object], base: Path, number: int) -> str:
    script, script_file = _text(record, "script"), _text(record, "script_file")
    if bool(script) == bool(script_file):
        raise InvalidInput(f"Row {number}: give a script or a script_file (one of them).")
    if script:
        return script
    try:
        return read_text(base / script_file, f"the script file {script_file!r}", _MAX_SCRIPT_BYTES)
    except InvalidInput as e:
        raise InvalidInput(f"Row {number}: {e.reason}") from e


def _output(record: dict[str, object], number: int, width: int) -> PurePosixPath:
    """The row's output file under the output folder: a plain relative .mp4 path (never
    absolute, never climbing out with ``..``)."""
    name = _text(record, "output") or f"{number:0{width}d}.mp4"
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or path.suffix.lower() != ".mp4":
        raise InvalidInput(
            f"Row {number}: the output {name!r} must be a .mp4 file name inside the output folder."
        )
    return path


def _language(record: dict[str, object], number: int) -> str | None:
    from spoken_text.languages import language

    code = _text(record, "language")
    if not code or code.lower() == "auto":
        return None
    try:
        return language(code).code
    except ValueError as e:
        raise InvalidInput(f"Row {number}: {e}.") from e


def read_manifest(path: Path) -> list[Row | InvalidInput]:
    """The manifest's rows in order: each a :class:`Row`, or the reason it cannot be one (the
    rest still run). InvalidInput for a manifest that cannot be read at all."""
    text = read_text(path, f"the manifest {str(path)!r}", _MAX_MANIFEST_BYTES)
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    records = list(_records(text, jsonl))
    if not records:
        raise InvalidInput("The manifest has no rows.", field="manifest")
    if len(records) > MAX_ROWS:
        raise InvalidInput(f"The manifest has {len(records)} rows; at most {MAX_ROWS}.")
    base, width = path.parent, max(3, len(str(len(records))))
    rows: list[Row | InvalidInput] = []
    for number, record in enumerate(records, start=1):
        try:
            photo, voice = _text(record, "photo"), _text(record, "voice")
            rows.append(
                Row(
                    number,
                    _script(record, base, number),
                    base / photo if photo else None,
                    base / voice if voice else None,
                    _text(record, "voice_text") or None,
                    _output(record, number, width),
                    _language(record, number),
                )
            )
        except InvalidInput as e:
            rows.append(e)
    return rows


Render = Callable[[RenderRequest, Callable[[Progress], None] | None], object]
FindFace = Callable[[Path], PhotoIntake]


def run_batch(
    rows: list[Row | InvalidInput],
    out_dir: Path,
    render: Render,
    find_face: FindFace,
    *,
    photo: Path | None = None,
    voice: Path | None = None,
    voice_text: str | None = None,
    language: str | None = None,
    options: RenderOptions | None = None,
    on_row: Callable[[int, int, Row], Callable[[Progress], None] | None] | None = None,
) -> list[Outcome]:
    """Render every row (``render``: the one engine's), skipping those whose output exists;
    each distinct photo's face is found once (``find_face``) and handed to its renders.
    ``on_row(index, total, row)`` may return a progress callback for that row."""
    options = options or RenderOptions()
    faces: dict[Path, PhotoIntake | InvalidInput] = {}
    outcomes: list[Outcome] = []
    for index, row in enumerate(rows, start=1):
        if isinstance(row, InvalidInput):
            outcomes.append(Outcome(index, out_dir, "failed", reason=row.reason))
            continue
        output = out_dir / Path(*row.output.parts)
        if output.is_file():
            outcomes.append(Outcome(row.number, output, "skipped"))
            continue
        row_photo, row_voice = row.photo or photo, row.voice or voice
        if row_photo is None or row_voice is None:
            reason = f"Row {row.number}: no {'photo' if row_photo is None else 'voice'} given."
            outcomes.append(Outcome(row.number, output, "failed", reason=reason))
            continue
        started = time.monotonic()
        try:
            face = faces.get(row_photo)
            if face is None:
                try:
                    face = faces[row_photo] = find_face(row_photo)
                except InvalidInput as e:
                    face = faces[row_photo] = e
            if isinstance(face, InvalidInput):
                raise face
            output.parent.mkdir(parents=True, exist_ok=True)
            request = RenderRequest(
                script=row.script,
                voice=row_voice,
                photo=row_photo,
                output=output,
                voice_text=row.voice_text or voice_text,
                options=replace(options),
                photo_intake=face,
                language=row.language or language,
            )
            progress = on_row(index, len(rows), row) if on_row is not None else None
            result = render(request, progress)
        except InvalidInput as e:
            outcomes.append(Outcome(row.number, output, "failed", reason=e.reason))
            continue
        except EngineError as e:
            reason = f"{type(e).__name__}: {e}"
            outcomes.append(Outcome(row.number, output, "failed", reason=reason))
            continue
        spoken_in = getattr(result, "language", "")
        outcomes.append(
            Outcome(
                row.number,
                output,
                "done",
                time.monotonic() - started,
                language=spoken_in if isinstance(spoken_in, str) else "",
            )
        )
    return outcomes
