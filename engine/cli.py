"""`mouthpiece` command line: render, doctor, models, verify. Thin: parse, configure, call.

Exit status: 0 success; 2 invalid input or usage (one ``error:`` line on stderr);
1 internal failure or unavailable backend; 130 interrupted; ``verify``: 3 when no mark in
the file says it is AI-generated (no manifest saying so, no job token, no watermark, no label).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from engine.errors import BackendUnavailable, Cancelled, EngineError, InvalidInput
from engine.media.label import DEFAULT_TEXT
from engine.nativelog import native_noise_filtered
from engine.settings import EngineSettings
from engine.types import Progress, RenderOptions, RenderRequest

if TYPE_CHECKING:
    from engine.batch import Outcome
    from engine.verify import Verdict

__all__ = ["main", "build_parser", "render_options"]

#: a script file is read no further than this (the script limits then apply to its text)
_MAX_SCRIPT_FILE_BYTES = 10_000_000

log = logging.getLogger("mouthpiece")


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one ``error:`` line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _engine_options(r: argparse.ArgumentParser) -> None:
    """The backends' and each video's options, shared by ``render`` and ``batch``."""
    r.add_argument(
        "--tts",
        help="speech backend: auto (default: per language, the best usable here), espeak "
        "(offline, every language), pocket or neutts (English)",
    )
    r.add_argument(
        "--lang",
        metavar="CODE",
        help="the script's language: auto (default: detected), en, fr, de, es, it, pt or nl",
    )
    r.add_argument(
        "--lipsync",
        help="lip-sync backend: auto (default: the best usable here), warp, musetalk or diff2lip",
    )
    r.add_argument("--tts-backbone", help="NeuTTS Air GGUF path or hub id")
    r.add_argument("--tts-codec", help="NeuCodec weights (directory or file) or hub id")
    r.add_argument(
        "--lipsync-model", help="MuseTalk models folder (released layout) or Diff2Lip checkpoint"
    )
    r.add_argument("--lipsync-steps", type=int, help="Diff2Lip sampling steps (1-100, default 25)")
    r.add_argument(
        "--lipsync-batch",
        type=int,
        help="Diff2Lip frames per forward; 0 = auto (the default: 1 on CPU, 16 on CUDA)",
    )
    r.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    r.add_argument(
        "--max-bytes", type=int, help="byte budget of the MP4 (Discord 10485760, Telegram 50000000)"
    )
    r.add_argument("--seed", type=int, default=0, help="seed for sampling, blinks and head motion")
    r.add_argument("--label", default=DEFAULT_TEXT, help="visible caption (default: %(default)s)")
    r.add_argument("--no-label", action="store_true", help="no visible caption")
    r.add_argument("--no-blinks", action="store_true", help="eyes stay open")
    r.add_argument("--no-head-motion", action="store_true", help="the head stays still")
    r.add_argument("--no-motion", action="store_true", help="neither blinks nor head motion")
    r.add_argument(
        "--head-motion",
        type=float,
        metavar="LEVEL",
        help="head motion level, 0 (still) to 2; default 1 (MOUTHPIECE_HEAD_MOTION)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mouthpiece", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs and tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("render", help="render a talking video")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--script", help="the text to speak")
    src.add_argument("--script-file", type=Path, help="a UTF-8 text file with the script")
    r.add_argument(
        "--voice", type=Path, required=True, help="reference voice note (any common audio format)"
    )
    r.add_argument("--voice-text", help="what is said in the voice note (needed by --tts neutts)")
    r.add_argument(
        "--photo", type=Path, required=True, help="front-facing portrait (JPEG, PNG, WebP)"
    )
    r.add_argument("-o", "--output", type=Path, required=True, help="the MP4 to write")
    r.add_argument(
        "--preview",
        type=Path,
        metavar="FILE",
        help="first write FILE: the opening words (about 3 s) as a video, to check the look early",
    )
    _engine_options(r)
    r.add_argument("--json", action="store_true", help="print the result as JSON on stdout")

    b = sub.add_parser(
        "batch",
        help="many videos in one run: a CSV or JSONL manifest, one engine load, resumable",
    )
    b.add_argument("manifest", type=Path, help="CSV (with a header) or .jsonl: one row a video")
    b.add_argument(
        "-o", "--out-dir", type=Path, required=True, help="folder for the videos (made if missing)"
    )
    b.add_argument("--voice", type=Path, help="the voice note for rows that name none")
    b.add_argument("--voice-text", help="what is said in --voice (needed by --tts neutts)")
    b.add_argument("--photo", type=Path, help="the photo for rows that name none")
    _engine_options(b)
    b.add_argument("--json", action="store_true", help="print the outcomes as JSON on stdout")

    sub.add_parser("doctor", help="which backends can run on this machine, and why not")

    v = sub.add_parser(
        "verify", help="which of Mouthpiece's marks a video carries, and which job made it"
    )
    v.add_argument("file", type=Path, help="an MP4 (or a WebM, or any file with an audio track)")
    v.add_argument("--json", action="store_true", help="print the verdict as JSON on stdout")
    v.add_argument(
        "--db",
        type=Path,
        default=None,
        help="the bot's database, to name the job and requester a mark maps to (default: "
        "$MOUTHPIECE_DATA_DIR/mouthpiece.sqlite3 when it exists)",
    )

    m = sub.add_parser("models", help="list, fetch or check model weights")
    msub = m.add_subparsers(dest="models_command", required=True, parser_class=_Parser)
    msub.add_parser("list", help="known models, licences and where they go")
    f = msub.add_parser("fetch", help="download a model into data/models/")
    f.add_argument("name")
    c = msub.add_parser("check", help="verify downloaded files against recorded checksums")
    c.add_argument("name")
    p = msub.add_parser(
        "prune-vocab", help="derive a faster NeuTTS GGUF without the text tokens prompts never use"
    )
    p.add_argument("source", type=Path, help="a NeuTTS Air .gguf (Q4 or Q8)")
    p.add_argument("-o", "--output", type=Path, help="default: SOURCE with .pruned.gguf")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    commands = {
        "render": _render,
        "batch": _batch,
        "doctor": _doctor,
        "verify": _verify,
        "models": _models,
    }
    quiet = contextlib.nullcontext() if args.verbose else native_noise_filtered()
    try:
        with quiet:
            return commands[args.command](args)
    except KeyboardInterrupt:
        return _fail(130, "interrupted")
    except Exception as e:
        return _report(e, verbose=args.verbose)


def _report(e: Exception, *, verbose: bool) -> int:
    """The exit status and one ``error:`` line for a failure."""
    if isinstance(e, InvalidInput):
        return _fail(2, e.reason)
    if isinstance(e, ValueError):  # bad settings values (environment) and option values
        return _fail(2, str(e))
    if isinstance(e, BackendUnavailable):
        if verbose:
            log.exception("backend unavailable")
        return _fail(1, str(e))
    if isinstance(e, Cancelled):
        return _fail(130, "cancelled")
    if isinstance(e, EngineError):
        log.debug("engine error", exc_info=True)
        return _fail(1, f"{type(e).__name__}: {e}")
    if verbose:
        log.exception("internal error")
    return _fail(1, f"internal error: {type(e).__name__}: {e} (run with --verbose for details)")


def _verify(args: argparse.Namespace) -> int:
    """One screen: each mark, what it says, and (with the bot's database) the job it maps
    to. Exit 0 when any mark says the file is AI-generated, 3 when none does."""
    from dataclasses import replace

    from engine.pipeline import Engine
    from engine.provenance.stamp import trust_anchor
    from engine.verify import verify

    settings = EngineSettings.from_env()
    jail = Engine.intake_jail_for(settings)
    verdict = verify(args.file, jail=jail, trust_anchor_pem=trust_anchor(settings))
    db = args.db or _default_db()
    if db is not None:
        verdict = replace(verdict, jobs=tuple(_jobs_of(db, verdict)))
    if args.json:
        print(json.dumps(verdict.to_json()))
    else:
        print("\n".join(verify_report(verdict, args.file.name, db)))
    return 0 if verdict.says_generated else 3


def verify_report(verdict: Verdict, name: str, db: Path | None = None) -> list[str]:
    """The lines ``mouthpiece verify`` prints: each mark, then the jobs it maps to."""
    from engine.verify import report_lines

    out = [f"file: {name}", *report_lines(verdict)]
    if db is None:
        out.append("job: (no bot database here; pass --db to name the job a token maps to)")
    elif not verdict.jobs:
        out.append("job: not in the bot's records (another installation, or older than its log)")
    for job in verdict.jobs:
        where = f"server {job['scope']}" if job["scope"] else "direct messages"
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(job["at"]))
        down = ", taken down" if job["taken_down"] else ""
        out.append(
            f"job: {job['job_id']} on {job['platform']}, {where}, requested by user "
            f"{job['user_id']} at {when} ({job['status']}{down})"
        )
    return out


def _default_db() -> Path | None:
    data = os.environ.get("MOUTHPIECE_DATA_DIR")
    path = Path(data) / "mouthpiece.sqlite3" if data else None
    return path if path is not None and path.is_file() else None


def _jobs_of(db: Path, verdict: Verdict) -> list[dict[str, Any]]:
    """What the token, or a job id the file names, maps to in the bot's audit log."""
    import sqlite3
    from dataclasses import asdict

    from job_marks.lookup import who_made

    job_id = verdict.manifest_job or verdict.job_id
    try:
        found = who_made(db, token=verdict.token, job_id=job_id)
    except sqlite3.Error as e:
        raise InvalidInput(f"The database {db} cannot be read: {e}", field="options") from e
    return [asdict(j) for j in found]


def _fail(code: int, message: str) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return code


def _settings(args: argparse.Namespace) -> EngineSettings:
    """The engine's settings from the environment and the command line's options, checked."""
    settings = EngineSettings.from_env(
        tts=args.tts,
        lipsync=args.lipsync,
        tts_backbone=args.tts_backbone,
        tts_codec=args.tts_codec,
        lipsync_model=args.lipsync_model,
        lipsync_steps=args.lipsync_steps,
        lipsync_batch=args.lipsync_batch,
        device=args.device,
        tts_seed=args.seed,
        head_motion=args.head_motion,
    )
    if args.lipsync_steps is not None and not 1 <= args.lipsync_steps <= 100:
        raise InvalidInput(
            f"--lipsync-steps must be between 1 and 100, not {args.lipsync_steps}.", field="options"
        )
    if args.lipsync_batch is not None and args.lipsync_batch < 0:
        raise InvalidInput(
            f"--lipsync-batch must be 0 (auto) or more, not {args.lipsync_batch}.",
            field="options",
        )
    if args.head_motion is not None and not 0 <= args.head_motion <= 2:
        raise InvalidInput(
            f"--head-motion must be between 0 (still) and 2, not {args.head_motion}.",
            field="options",
        )
    return settings


def _language(args: argparse.Namespace) -> str | None:
    """``--lang``, checked (None: detect it from each script)."""
    from spoken_text.languages import language

    code = args.lang
    if not code or code.strip().lower() == "auto":
        return None
    try:
        return language(code).code
    except ValueError as e:
        raise InvalidInput(f"--lang: {e}.", field="options") from e


def _render(args: argparse.Namespace) -> int:
    from engine.pipeline import Engine

    script = _read_script(args)
    settings = _settings(args)
    if args.output.suffix.lower() != ".mp4":
        raise InvalidInput(
            f"The output must be an .mp4 file, not {args.output.name!r}.", field="options"
        )
    options = render_options(args)
    request = RenderRequest(
        script=script,
        voice=args.voice,
        photo=args.photo,
        output=args.output,
        voice_text=args.voice_text,
        options=options,
        language=_language(args),
    )
    preview = args.preview
    if preview is not None and (preview.suffix.lower() != ".mp4" or preview == args.output):
        raise InvalidInput(
            f"The preview must be an .mp4 file other than the output, not {preview.name!r}.",
            field="options",
        )
    bar = _ProgressBar(sys.stderr) if sys.stderr.isatty() else None
    engine = Engine(settings)
    _say_eta(engine.lipsync, options)
    if preview is not None:  # the opening first: the same voice, face and options
        from spoken_text import opening

        face = engine.inspect_photo(args.photo)  # found once, for both renders
        request = replace(request, photo_intake=face)
        engine.render(replace(request, script=opening(script), output=preview), on_progress=bar)
        if bar:
            bar.finish()
        print(f"preview: {preview}", file=sys.stderr, flush=True)
    result = engine.render(request, on_progress=bar)
    if bar:
        bar.finish()
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        found = _result_json(result)
        if preview is not None:
            found["preview"] = str(preview)
        print(json.dumps(found))
    else:
        print(result.output)
    return 0


def _batch(args: argparse.Namespace) -> int:
    """Every row of the manifest with one engine; a summary table on stderr (or JSON on
    stdout); exit 1 when any row failed, each failure with its reason."""
    from engine.batch import read_manifest, run_batch
    from engine.pipeline import Engine

    settings = _settings(args)
    rows = read_manifest(args.manifest)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    engine = Engine(settings)
    bar = _ProgressBar(sys.stderr) if sys.stderr.isatty() else None

    def on_row(index: int, total: int, row: object) -> Callable[[Progress], None] | None:
        if bar is not None:
            bar.prefix = f"[{index}/{total}] "
        return bar

    outcomes = run_batch(
        rows,
        args.out_dir,
        lambda request, progress: engine.render(request, on_progress=progress),
        engine.inspect_photo,
        photo=args.photo,
        voice=args.voice,
        voice_text=args.voice_text,
        language=_language(args),
        options=render_options(args),
        on_row=on_row,
    )
    if bar:
        bar.finish()
    if args.json:
        print(json.dumps([{**asdict(o), "output": str(o.output)} for o in outcomes]))
    else:
        for line in batch_table(outcomes):
            print(line, file=sys.stderr)
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def batch_table(outcomes: Sequence[Outcome]) -> list[str]:
    """A plain-text summary: one line a row, then the counts."""
    lines = [f"{'row':>5}  {'status':<8} {'seconds':>8}  output / reason"]
    for o in outcomes:
        seconds = f"{o.seconds:8.1f}" if o.status == "done" else f"{'':>8}"
        detail = o.reason if o.status == "failed" else str(o.output)
        lines.append(f"{o.row:>5}  {o.status:<8} {seconds}  {detail}")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "skipped", "failed")}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return lines


def render_options(args: argparse.Namespace) -> RenderOptions:
    """The per-render options a parsed ``render`` command line asks for."""
    return RenderOptions(
        max_bytes=args.max_bytes,
        seed=args.seed,
        blinks=not (args.no_blinks or args.no_motion),
        head_motion=not (args.no_head_motion or args.no_motion),
        label=None if args.no_label else (args.label or None),
        lipsync_steps=args.lipsync_steps,
    )


def _say_eta(lipsync: object, options: RenderOptions) -> None:
    """Before a slow render (diffusion on CPU), say how slow, measured on this machine."""
    device = getattr(lipsync, "device", None)
    estimate = getattr(lipsync, "estimate_seconds", None)
    if estimate is None or getattr(device, "type", "cpu") != "cpu":
        return
    per_second = estimate(options.fps, options)
    if per_second is None or per_second < 5:
        return
    name = getattr(lipsync, "name", "lip sync")
    print(
        f"note: {name} on CPU takes about {per_second:.0f} s of compute per second of video "
        f"here (measured; about {per_second / 6:.0f} min for 10 s of video, less where the "
        "speech pauses)",
        file=sys.stderr,
    )


def _read_script(args: argparse.Namespace) -> str:
    from engine.batch import read_text

    if args.script is not None:
        return str(args.script)
    path: Path = args.script_file
    try:
        return read_text(path, f"the script file {str(path)!r}", _MAX_SCRIPT_FILE_BYTES)
    except InvalidInput as e:
        raise InvalidInput(e.reason, field="script") from e


def _result_json(result: object) -> dict[str, object]:
    from dataclasses import asdict

    out = asdict(result)  # type: ignore[call-overload]
    out["output"] = str(out["output"])
    return out


def _doctor(args: argparse.Namespace) -> int:
    from engine.backends import doctor

    rows = doctor(EngineSettings.from_env())
    for row in rows:
        mark = "ok " if row.usable else "no "
        print(f"{mark} {row.kind:<8} {row.name:<9} {row.reason}")
    return 0


def _models(args: argparse.Namespace) -> int:
    from engine import models

    settings = EngineSettings.from_env()
    if args.models_command == "prune-vocab":
        return _prune_vocab(args.source, args.output)
    if args.models_command == "list":
        for spec in models.MODELS.values():
            where = models.model_dir(settings.models_dir, spec.name)
            state = "present" if where.is_dir() else "absent"
            print(f"{spec.name:<10} {state:<8} {spec.licence:<40} {spec.description}")
        return 0
    if args.models_command == "fetch":
        path = models.fetch(
            args.name, settings.models_dir, on_progress=lambda m: print(m, file=sys.stderr)
        )
        print(path)
        return 0
    rows = models.verify(args.name, settings.models_dir)
    for row in rows:
        print(f"{'ok ' if row.ok else 'BAD'} {row.path}: {row.detail}")
    return 0 if all(r.ok for r in rows) else 1


def _prune_vocab(source: Path, output: Path | None) -> int:
    from engine.tts._neutts_prune import prune_vocab

    if not source.is_file():
        raise BackendUnavailable(f"{source} not found")
    target = output or source.with_suffix(".pruned.gguf")
    r = prune_vocab(source, target)
    print(
        f"{r.output}: {r.tokens_after:,} of {r.tokens_before:,} tokens kept, "
        f"{r.bytes_after / 1e6:.0f} MB (was {r.bytes_before / 1e6:.0f} MB)"
    )
    return 0


class _ProgressBar:
    """A one-line progress bar on a terminal: stage, bar, percentage."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = ""
        self.prefix = ""  # a batch's "[3/10] "

    def __call__(self, p: Progress) -> None:
        width = 30
        filled = round(p.fraction * width)
        bar = f"[{'#' * filled}{'.' * (width - filled)}]"
        line = f"\r{self.prefix}{p.stage:<7} {bar} {p.fraction * 100:5.1f}%"
        if line != self._last:
            self._stream.write(line)
            self._stream.flush()
            self._last = line

    def finish(self) -> None:
        self._stream.write("\n")
        self._stream.flush()


if __name__ == "__main__":
    raise SystemExit(main())
