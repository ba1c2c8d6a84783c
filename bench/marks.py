"""Which provenance marks survive what people and platforms do to a video: one table.

Renders two videos with the embedded CPU engine (espeak + warp, the sample photo and voice,
scripts of about ten and four seconds) with every mark on, then applies each transform with ffmpeg
and reads every mark back with ``engine.verify.verify`` (the same code ``mouthpiece verify``
runs). Columns: the C2PA manifest's state; the job token in the speech (bits wrong of 32
against the job's token at the best alignment, and whether ``read`` recovered it); Perth's
confidence (weights from the ``resemble-perth`` wheel: real); the visible label's score; the
metadata's job id. The transforms simulate, with ffmpeg, what the platforms were observed to
do (settings below; the platforms' exact encoders are not public):

- telegram: a video sent as a video is re-encoded: H.264 CRF 28, AAC 64 kb/s 44.1 kHz,
  metadata dropped;
- discord: the media proxy's preview: scaled to 480 p, H.264 CRF 30, AAC 96 kb/s;
- trim: 1.3 s cut from the start and 1 s from the end (re-encoded);
- resize: half the width and height;
- audio only: the sound extracted as a voice note (Opus 32 and 16 kb/s in Ogg) and as MP3
  64 kb/s;
- screen recording: scaled to 75 %, 24 fps, CRF 35, the sound resampled to 44.1 kHz at 48 kb/s
  AAC and 6 dB quieter.

    .venv/bin/python bench/marks.py            # about 40 s on 2 cores
    .venv/bin/python bench/marks.py --markdown # the table as the README shows it
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds scripts named like stdlib modules (queue.py): keep this folder off the path.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import argparse  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

PHOTO = ROOT / "data" / "samples" / "portrait.jpg"
VOICE = ROOT / "data" / "samples" / "voice.ogg"
SCRIPTS = {
    "10 s": (
        "Hello, and thank you for watching. This short video was made by a computer from a "
        "photo, a voice note and a script, and it says so in more than one way."
    ),
    "4 s": "Hello there. This video was made by a computer.",
}
_X264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
TRANSFORMS: dict[str, tuple[str, list[str]]] = {
    "original": ("mp4", []),
    "telegram": ("mp4", [*_X264, "-crf", "28", "-c:a", "aac", "-b:a", "64k", "-ar", "44100"]),
    "discord": (
        "mp4",
        ["-vf", "scale=-2:480", *_X264, "-crf", "30", "-c:a", "aac", "-b:a", "96k"],
    ),
    "trim": ("mp4", ["-ss", "1.3", "-to", "@END-1", *_X264, "-crf", "23", "-c:a", "aac"]),
    "resize 50%": (
        "mp4",
        ["-vf", "scale=trunc(iw/4)*2:-2", *_X264, "-crf", "23", "-c:a", "aac", "-b:a", "96k"],
    ),
    "audio only (Opus 32k)": ("ogg", ["-vn", "-c:a", "libopus", "-b:a", "32k"]),
    "audio only (Opus 16k)": ("ogg", ["-vn", "-c:a", "libopus", "-b:a", "16k"]),
    "audio only (MP3 64k)": ("mp3", ["-vn", "-c:a", "libmp3lame", "-b:a", "64k"]),
    "screen recording": (
        "mp4",
        [
            "-vf",
            "scale=trunc(iw*0.375)*2:-2,fps=24",
            *_X264,
            "-crf",
            "35",
            "-af",
            "volume=-6dB",
            "-c:a",
            "aac",
            "-b:a",
            "48k",
            "-ar",
            "44100",
        ],
    ),
}


def render(
    out: Path, keys: Path, script: str, *, provenance: bool = True
) -> tuple[str, int, float, float]:
    """Render ``script``; (job id, token, seconds, seconds embedding the token)."""
    from engine import Engine, EngineSettings
    from engine.types import RenderOptions, RenderRequest

    settings = EngineSettings(
        cache_dir=keys / "cache",
        c2pa_dir=str(keys / "c2pa"),
        lipsync="warp",
        decode_jail=False,
        provenance=provenance,
    )
    engine = Engine(settings)
    options = RenderOptions(label="AI-generated", job_id="bench")
    t0 = time.perf_counter()
    result = engine.render(RenderRequest(script, VOICE, PHOTO, out, options=options))
    seconds = time.perf_counter() - t0
    engine.close()
    if provenance:
        assert result.token is not None and result.signed, result.warnings
    return result.job_id, result.token or 0, seconds, result.stage_seconds.get("provenance", 0.0)


def transform(src: Path, name: str, tmp: Path) -> Path:
    suffix, args = TRANSFORMS[name]
    if not args:
        return src
    out = tmp / f"{name.split()[0]}-{len(args)}.{suffix}"
    if "@END-1" in args:
        length = float(
            subprocess.run(
                ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"]
                + [str(src)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        args = [a.replace("@END-1", f"{length - 1.0:.3f}") for a in args]
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-map_metadata", "-1"]
    subprocess.run([*cmd, *args, str(out)], check=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()

    from engine.media.audio import decode_audio
    from engine.provenance.stamp import trust_anchor
    from engine.settings import EngineSettings

    head = ("transform", "C2PA manifest", "job token (speech)", "Perth", "label", "metadata")
    head += ("verify took",)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        anchor = None
        for length, script in SCRIPTS.items():
            video = tmp / f"bench-{length.split()[0]}.mp4"
            render(tmp / "warm.mp4", tmp, script)  # models and caches warm for both
            _, _, plain, _ = render(tmp / "plain.mp4", tmp, script, provenance=False)
            job_id, token, seconds, embed = render(video, tmp, script)
            keys = EngineSettings(cache_dir=tmp / "cache", c2pa_dir=str(tmp / "c2pa"))
            anchor = anchor or trust_anchor(keys)
            speech = decode_audio(video, sample_rate=16_000).duration
            print(
                f"\n{length} script: {speech:.1f} s of video, {video.stat().st_size / 1e6:.2f} MB; "
                f"job {job_id}, token 0x{token:08x}"
            )
            print(
                f"render with every mark {seconds:.2f} s, without the token and manifest "
                f"{plain:.2f} s ({seconds / plain:.2f}x); embedding the token {embed:.2f} s"
            )
            rows = [_row(name, transform(video, name, tmp), token, anchor) for name in TRANSFORMS]
            _table(head, rows, markdown=args.markdown)
        print(
            "\njob token: 'recovered' = read() named the job; bits wrong = payload bits (of 32)"
            " at the reader's best alignment; corrected = coded bits (of 186) the code put"
            " right (it corrects about 40)"
        )
        print("not measured: AudioSeal and VideoSeal (their weights cannot be fetched here)")
    return 0


def _row(name: str, path: Path, token: int, anchor: bytes | None) -> tuple[str, ...]:
    from engine.media.audio import decode_audio
    from engine.provenance import payload
    from engine.verify import verify

    t0 = time.perf_counter()
    v = verify(path, trust_anchor_pem=anchor)
    took = time.perf_counter() - t0
    audio = decode_audio(path, sample_rate=16_000, max_seconds=120)
    wrong = payload.bit_errors(audio, token)
    if v.token == token:
        speech = f"recovered ({v.token_errors} corrected)"
    else:
        speech = "WRONG TOKEN" if v.token is not None else "not read"
    if wrong is not None:
        speech += f", {wrong}/32 bits wrong"
    return (
        name,
        v.manifest_state,
        speech,
        f"{v.confidence:.2f}" if v.has_audio else "-",
        "-" if path.suffix != ".mp4" else f"{v.label_score:.2f}" + (" found" if v.label else ""),
        "yes" if v.job_id else "stripped",
        f"{took:.1f} s",
    )


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]], *, markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(str(r[i])) for r in (head, *rows)) for i in range(len(head))]
    for row in (head, *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    raise SystemExit(main())
