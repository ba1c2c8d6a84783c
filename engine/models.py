"""Where model weights live, and how to get them.

Nothing here runs at render time: backends take local paths. ``mouthpiece models fetch``
downloads the weights whose licence allows it (on a machine with network access) into
``data/models/<name>/``, compares every large file with the SHA-256 its hub publishes for it
(Git LFS), and records the checksums in ``SHA256SUMS`` beside them; later
``mouthpiece models check`` verifies the files against that record (and against a known
checksum where one is configured). A model may come in parts from several repositories
(MuseTalk: its UNet, Stable Diffusion's VAE, Whisper's encoder), each into its own folder.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, cast

from engine.errors import BackendUnavailable

__all__ = [
    "HubPart",
    "Hub",
    "PinningHub",
    "POCKET_WEIGHTS",
    "POCKET_TOKENIZERS",
    "ModelSpec",
    "MODELS",
    "model_dir",
    "default_file",
    "fetch",
    "verify",
    "sha256_file",
    "FileStatus",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubPart:
    """Files of one hub repository, downloaded into ``subdir`` of the model's folder, at
    ``revision`` (a commit) when one is pinned, else the repository's latest."""

    repo: str
    patterns: tuple[str, ...]
    subdir: str = ""
    revision: str | None = None


class Hub(Protocol):
    """Where ``fetch`` downloads from (Hugging Face; tests pass a local stand-in)."""

    def download(self, repo: str, patterns: tuple[str, ...], target: Path) -> None: ...

    def published_sha256(self, repo: str) -> dict[str, str]:
        """Repository path -> SHA-256 of its large (LFS) files."""
        ...


class PinningHub(Hub, Protocol):
    """A hub that also serves a repository at a given commit: what models with parts that pin
    a ``revision`` need (the others are fetched through :class:`Hub` alone)."""

    def download(
        self, repo: str, patterns: tuple[str, ...], target: Path, revision: str | None = None
    ) -> None: ...

    def published_sha256(self, repo: str, revision: str | None = None) -> dict[str, str]:
        """Repository path -> SHA-256 of its large (LFS) files at ``revision``."""
        ...


@dataclass(frozen=True)
class ModelSpec:
    """A downloadable model: hub repositories, or a manual download with instructions."""

    name: str
    description: str
    licence: str
    hub_repo: str | None = None  # Hugging Face repository id, fetched with huggingface_hub
    patterns: tuple[str, ...] = ("*",)
    manual: str | None = None  # how to obtain it when it cannot be fetched for you
    known_sha256: dict[str, str] = field(default_factory=dict)  # file name -> checksum
    setting: str = ""  # the MOUTHPIECE_* variable that points at it
    main_file: str = ""  # the file a backend loads when its setting is empty
    parts: tuple[HubPart, ...] = ()  # more repositories, each into its own subfolder

    def downloads(self) -> tuple[HubPart, ...]:
        first = (HubPart(self.hub_repo, self.patterns),) if self.hub_repo else ()
        return first + self.parts


# Pocket TTS: each language's released model from the gated repository (the one whose weights
# clone voices) and its tokenizer from the open one, at the commits pocket-tts 4.0.1's own
# configurations (pocket_tts/config/<name>.yaml) pin; both land in languages/<name>/, the
# layout engine.tts.pocket reads.
POCKET_WEIGHTS = "kyutai/pocket-tts"
POCKET_TOKENIZERS = "kyutai/pocket-tts-without-voice-cloning"
_POCKET_PINS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (POCKET_WEIGHTS, "db04f0e653473e5c7333c69686ac92b7460b0c1d", ("english",)),
    (
        POCKET_WEIGHTS,
        "3e82814a68665eec246ff649b14c71331f955c06",
        ("french", "german", "spanish", "italian", "portuguese", "dutch"),
    ),
    (POCKET_TOKENIZERS, "00eac05ed3d16bdc3f6b5d598874019c34a89214", ("english",)),
    (POCKET_TOKENIZERS, "8843db76457a91db32077edf8dfcd1c0e3e755fd", ("french",)),
    (
        POCKET_TOKENIZERS,
        "4e1e0a3e611c51c0b4ed8174fc10f32a54644303",
        ("german", "spanish", "italian", "portuguese", "dutch"),
    ),
)


def _pocket_parts() -> tuple[HubPart, ...]:
    parts = []
    for repo, revision, names in _POCKET_PINS:
        file = "model.safetensors" if repo == POCKET_WEIGHTS else "tokenizer.json"
        parts.append(
            HubPart(repo, tuple(f"languages/{n}/{file}" for n in names), revision=revision)
        )
    return tuple(parts)


MODELS: dict[str, ModelSpec] = {
    "neutts-q4": ModelSpec(
        name="neutts-q4",
        description="NeuTTS Air speech language model, Q4 GGUF (about 0.5 GB)",
        licence="Apache-2.0 (Neuphonic)",
        hub_repo="neuphonic/neutts-air-q4-gguf",
        patterns=("*.gguf", "*.md", "*.json"),
        setting="MOUTHPIECE_TTS_BACKBONE",
    ),
    "neutts-q8": ModelSpec(
        name="neutts-q8",
        description="NeuTTS Air speech language model, Q8 GGUF (about 0.8 GB)",
        licence="Apache-2.0 (Neuphonic)",
        hub_repo="neuphonic/neutts-air-q8-gguf",
        patterns=("*.gguf", "*.md", "*.json"),
        setting="MOUTHPIECE_TTS_BACKBONE",
    ),
    "neucodec": ModelSpec(
        name="neucodec",
        description="NeuCodec audio codec (24 kHz decoder) used by NeuTTS Air",
        licence="Apache-2.0 (Neuphonic)",
        hub_repo="neuphonic/neucodec",
        patterns=("*.bin", "*.safetensors", "*.pt", "*.json", "*.md"),
        setting="MOUTHPIECE_TTS_CODEC",
    ),
    "w2v-bert-2.0": ModelSpec(
        name="w2v-bert-2.0",
        description="w2v-BERT 2.0 speech encoder: NeuCodec's semantic half, needed only to "
        "encode new reference voices when the codec file does not carry it (about 2.3 GB)",
        licence="MIT (Meta)",
        hub_repo="facebook/w2v-bert-2.0",
        patterns=("*.json", "*.safetensors"),
        setting="MOUTHPIECE_TTS_CODEC",
    ),
    "diff2lip": ModelSpec(
        name="diff2lip",
        description="Diff2Lip checkpoint e7.24.1.3_model260000_paper.pt (about 0.4 GB)",
        licence="CC-BY-NC 4.0 (non-commercial use only)",
        manual=(
            "Diff2Lip's checkpoint is distributed by its authors under CC-BY-NC 4.0 through the "
            "Google Drive link in the README of github.com/soumik-kanad/diff2lip. Download "
            "e7.24.1.3_model260000_paper.pt and save it as data/models/diff2lip/"
            "e7.24.1.3_model260000_paper.pt (used when MOUTHPIECE_LIPSYNC_MODEL is empty), or "
            "anywhere with MOUTHPIECE_LIPSYNC_MODEL (or --lipsync-model) pointing at it. To pin "
            "it, set MOUTHPIECE_LIPSYNC_MODEL_SHA256 to the SHA-256 of your copy (no checksum is "
            "published upstream). Commercial use needs the authors' permission."
        ),
        setting="MOUTHPIECE_LIPSYNC_MODEL",
        main_file="e7.24.1.3_model260000_paper.pt",
    ),
    "musetalk": ModelSpec(
        name="musetalk",
        description="MuseTalk 1.5 lip sync in the released layout: musetalkV15/ UNet "
        "(about 3.4 GB), sd-vae/ (sd-vae-ft-mse, 0.3 GB), whisper/ (Whisper tiny, 0.15 GB)",
        licence="MuseTalk: code MIT, weights for any purpose incl. commercial; "
        "sd-vae-ft-mse: MIT; Whisper tiny: Apache-2.0 (OpenAI's release: MIT)",
        parts=(
            HubPart("TMElyralab/MuseTalk", ("musetalkV15/unet.pth", "musetalkV15/musetalk.json")),
            HubPart(
                "stabilityai/sd-vae-ft-mse",
                ("config.json", "diffusion_pytorch_model.safetensors"),
                "sd-vae",
            ),
            HubPart(
                "openai/whisper-tiny",
                ("config.json", "model.safetensors", "preprocessor_config.json"),
                "whisper",
            ),
        ),
        setting="MOUTHPIECE_LIPSYNC_MODEL",
    ),
    "pocket": ModelSpec(
        name="pocket",
        description="Pocket TTS voice cloning by Kyutai, one model per language (English, French, "
        "German, Spanish, Italian, Portuguese, Dutch: about 0.44 GB each, 3.1 GB in all). "
        f"{POCKET_WEIGHTS} is gated: accept its conditions at "
        f"https://huggingface.co/{POCKET_WEIGHTS} while logged in, and log in here "
        "(hf auth login, or HF_TOKEN) before fetching",
        licence="weights CC-BY-4.0 (Kyutai: credit them; their conditions forbid cloning a voice "
        "without its owner's explicit, lawful consent); pocket-tts code MIT",
        parts=_pocket_parts(),
        setting="MOUTHPIECE_TTS_POCKET",
    ),
}

_SUMS = "SHA256SUMS"


def model_dir(models_dir: Path, name: str) -> Path:
    return Path(models_dir) / name


def default_file(models_dir: Path, name: str) -> Path | None:
    """Where model ``name``'s main file goes under ``models_dir`` (None: it has no single file)."""
    spec = _spec(name)
    return model_dir(models_dir, name) / spec.main_file if spec.main_file else None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class FileStatus:
    path: Path
    ok: bool
    detail: str


def fetch(
    name: str,
    models_dir: Path,
    *,
    on_progress: Callable[[str], None] | None = None,
    hub: Hub | None = None,
) -> Path:
    """Download model ``name`` into ``models_dir/name``, check and record checksums.

    Raises BackendUnavailable with the reason (no network, unknown model, manual-only, a file
    whose SHA-256 differs from the one its hub publishes).
    """
    spec = _spec(name)
    target = model_dir(models_dir, name)
    if not spec.downloads():
        raise BackendUnavailable(
            f"{name} cannot be downloaded automatically", hint=spec.manual or ""
        )
    hub = hub or _HuggingFace()
    say = on_progress or (lambda _msg: None)
    announced: dict[tuple[str, str | None], dict[str, str]] = {}
    for part in spec.downloads():
        where = target / part.subdir if part.subdir else target
        where.mkdir(parents=True, exist_ok=True)
        at = f"@{part.revision[:12]}" if part.revision else ""
        say(f"downloading {part.repo}{at} into {where} ({spec.licence})")
        try:
            if part.revision:
                pinning = cast(PinningHub, hub)
                pinning.download(part.repo, part.patterns, where, revision=part.revision)
                if (part.repo, part.revision) not in announced:
                    announced[part.repo, part.revision] = pinning.published_sha256(
                        part.repo, revision=part.revision
                    )
            else:  # hubs that know nothing of revisions serve these
                hub.download(part.repo, part.patterns, where)
                if (part.repo, None) not in announced:
                    announced[part.repo, None] = hub.published_sha256(part.repo)
            published = announced[part.repo, part.revision]
        except BackendUnavailable:
            raise
        except Exception as e:  # network errors come in many types; the message is what matters
            gated = "Gated" in type(e).__name__
            raise BackendUnavailable(
                f"could not download {part.repo}: {type(e).__name__}: {e}",
                hint=(
                    f"{part.repo} is gated: accept its conditions at "
                    f"https://huggingface.co/{part.repo} while logged in, then log in here "
                    "(hf auth login, or HF_TOKEN)"
                    if gated
                    else "check the network connection, or download the files by hand into "
                    + str(where)
                ),
            ) from e
        _check_published(where, part, published, say)
    _write_sums(target, spec, say)
    return target


class _HuggingFace:
    """The Hugging Face hub through huggingface_hub (imported on use)."""

    def download(
        self, repo: str, patterns: tuple[str, ...], target: Path, revision: str | None = None
    ) -> None:
        snapshot_download = _hf().snapshot_download
        snapshot_download(
            repo_id=repo, local_dir=target, allow_patterns=list(patterns), revision=revision
        )

    def published_sha256(self, repo: str, revision: str | None = None) -> dict[str, str]:
        info = _hf().HfApi().model_info(repo, revision=revision, files_metadata=True)
        out = {}
        for sibling in info.siblings or ():
            lfs = getattr(sibling, "lfs", None)
            sha = getattr(lfs, "sha256", None) or (
                lfs.get("sha256") if isinstance(lfs, dict) else None
            )
            if sha:
                out[sibling.rfilename] = str(sha)
        return out


def _hf():  # noqa: ANN202 - the huggingface_hub module
    try:
        import huggingface_hub
    except ImportError as e:
        raise BackendUnavailable(
            "downloading models needs huggingface_hub", hint="pip install huggingface_hub"
        ) from e
    return huggingface_hub


def _check_published(
    where: Path, part: HubPart, published: dict[str, str], say: Callable[[str], None]
) -> None:
    """Each downloaded file the hub publishes a SHA-256 for must have exactly that one."""
    for rel, expected in sorted(published.items()):
        if not any(fnmatch.fnmatch(rel, pattern) for pattern in part.patterns):
            continue
        path = where / rel
        if not path.is_file():
            raise BackendUnavailable(f"{part.repo}: {rel} was not downloaded", hint="fetch again")
        digest = sha256_file(path)
        if digest != expected:
            raise BackendUnavailable(
                f"{path} has SHA-256 {digest}, but {part.repo} publishes {expected}",
                hint="delete it and fetch again",
            )
        say(f"{part.repo}/{rel}: SHA-256 matches the hub's")


def verify(name: str, models_dir: Path) -> list[FileStatus]:
    """Check the files of model ``name`` against the recorded and known checksums."""
    spec = _spec(name)
    target = model_dir(models_dir, name)
    sums_file = target / _SUMS
    if not target.is_dir():
        return [
            FileStatus(
                target,
                False,
                "not downloaded: " + (spec.manual or f"mouthpiece models fetch {name}"),
            )
        ]
    recorded = dict(_read_sums(sums_file)) if sums_file.is_file() else {}
    rows = [
        FileStatus(target / rel, False, "missing (its checksum was recorded at download)")
        for rel in sorted(recorded)
        if not (target / rel).is_file()
    ]
    for path in sorted(
        p for p in target.rglob("*") if p.is_file() and p.name != _SUMS and ".cache" not in p.parts
    ):
        rel = str(path.relative_to(target))
        digest = sha256_file(path)
        expected = spec.known_sha256.get(rel) or recorded.get(rel)
        if expected is None:  # the whole checksum: what a user pins (e.g. Diff2Lip's file)
            rows.append(FileStatus(path, True, f"sha256 {digest} (no checksum on record)"))
        elif expected == digest:
            rows.append(FileStatus(path, True, "checksum ok"))
        else:
            rows.append(
                FileStatus(
                    path, False, f"checksum mismatch: expected {expected[:16]}…, got {digest[:16]}…"
                )
            )
    return rows


def _spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise BackendUnavailable(f"unknown model {name!r}", hint="known: " + ", ".join(MODELS))
    return MODELS[name]


def _write_sums(target: Path, spec: ModelSpec, say: Callable[[str], None]) -> None:
    lines = []
    for path in sorted(
        p for p in target.rglob("*") if p.is_file() and p.name != _SUMS and ".cache" not in p.parts
    ):
        rel = str(path.relative_to(target))
        digest = sha256_file(path)
        known = spec.known_sha256.get(rel)
        if known and known != digest:
            raise BackendUnavailable(
                f"{path} has checksum {digest}, expected {known}", hint="delete it and fetch again"
            )
        lines.append(f"{digest}  {rel}")
        say(f"{rel}: sha256 {digest}")
    (target / _SUMS).write_text("\n".join(lines) + "\n")


def _read_sums(path: Path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text().splitlines():
        digest, _, rel = line.partition("  ")
        if digest and rel:
            out.append((rel, digest))
    return out
