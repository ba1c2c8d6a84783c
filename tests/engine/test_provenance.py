"""Every render carries its provenance, and ``mouthpiece verify`` reads all of it back.

A real render (embedded espeak + warp, the sample photo and voice) is signed with a local CA
made in the test's folder and its speech carries the job's token. ``verify`` finds the
valid manifest (the IPTC source type, the job, the consent method), the token, Perth's mark
and the visible label; after a Telegram-like re-encode the manifest and the metadata are gone
and the token still names the job; with the bot's database (its real schema, built by its
own migrations) the token leads to the job and its requester. A signer that fails costs
the user nothing but the manifest, and says so.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from engine import Engine, EngineSettings
from engine.cli import main
from engine.provenance import manifest
from engine.provenance.stamp import trust_anchor
from engine.types import RenderOptions, RenderRequest
from engine.verify import verify
from job_marks import token_for
from tests.auxil.media_fixtures import telegram_reencode

SCRIPT = "Hello there. This video says where it came from, in more than one way."


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> EngineSettings:
    home = tmp_path_factory.mktemp("provenance")
    return EngineSettings(cache_dir=home / "cache", c2pa_dir=str(home / "keys"), lipsync="warp")


@pytest.fixture(scope="module")
def rendered(
    settings: EngineSettings,
    tmp_path_factory: pytest.TempPathFactory,
    sample_voice: Path,
    sample_photo: Path,
) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("video") / "talk.mp4"
    engine = Engine(settings)
    try:
        options = RenderOptions(label="AI-generated", job_id="job-0123456789", consent="phrase")
        result = engine.render(
            RenderRequest(SCRIPT, sample_voice, sample_photo, out, options=options)
        )
    finally:
        engine.close()
    assert result.signed and result.job_id == "job-0123456789"
    assert result.token == token_for("job-0123456789")
    return out, result.job_id


def test_a_render_carries_every_mark_and_verify_reads_them(
    rendered: tuple[Path, str], settings: EngineSettings
) -> None:
    video, job_id = rendered
    v = verify(video, trust_anchor_pem=trust_anchor(settings))
    assert v.manifest_state == "valid", v.manifest
    assert str(v.manifest["source_type"]).endswith("/trainedAlgorithmicMedia")
    claims = v.manifest["claims"]
    assert claims["job_id"] == job_id and claims["consent"] == "phrase"
    assert claims["backends"] == {"tts": "espeak", "lipsync": "warp"}
    schemes = [w["scheme"] for w in claims["watermarks"]]
    assert schemes == ["perth-implicit", "mouthpiece-ss-1"]
    assert v.token == token_for(job_id) and v.watermarked
    assert v.label == "bottom-right" and v.says_generated
    # signed by another installation: intact, but not trusted here
    assert verify(video).manifest_state == "untrusted"
    # the operator's doctor names the signer the render made
    from engine.backends import doctor

    (row,) = [r for r in doctor(settings) if r.kind == "marks"]
    assert row.usable and "CN=Mouthpiece local signer" in row.reason
    assert f"the local CA in {settings.c2pa_dir}" in row.reason


def test_after_a_telegram_re_encode_the_token_still_names_the_job(
    rendered: tuple[Path, str], settings: EngineSettings, tmp_path: Path
) -> None:
    video, job_id = rendered
    shared = telegram_reencode(video, tmp_path / "shared.mp4")
    v = verify(shared, trust_anchor_pem=trust_anchor(settings))
    assert v.manifest_state == "absent" and v.job_id is None  # both stripped
    assert v.token == token_for(job_id), "the speech mark did not survive the re-encode"
    assert v.label is not None and v.says_generated


def _bot_database(path: Path, job_id: str) -> Path:
    """The bot's database, made by its own migrations, with one render request in it."""
    from bot.chat.store.schema import MIGRATIONS

    con = sqlite3.connect(path)
    for sql in MIGRATIONS:
        con.executescript(sql)
    con.execute(
        "INSERT INTO audit_log (at, platform, guild_id, user_id, action, detail, mark) "
        "VALUES (1765000000, 'telegram', '', '4242', 'render_requested', ?, ?)",
        (job_id, token_for(job_id)),
    )
    con.execute(
        "INSERT INTO audit_log (at, platform, guild_id, user_id, action, detail, mark) "
        "VALUES (1765000000, 'discord', '77', '99', 'render_requested', 'other', ?)",
        (token_for("other"),),
    )
    con.commit()
    con.close()
    return path


def test_verify_with_the_bots_database_names_the_job_and_requester(
    rendered: tuple[Path, str],
    settings: EngineSettings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    video, job_id = rendered
    shared = telegram_reencode(video, tmp_path / "shared.mp4")
    db = _bot_database(tmp_path / "mouthpiece.sqlite3", job_id)
    monkeypatch.setenv("MOUTHPIECE_C2PA_DIR", settings.c2pa_dir)
    assert main(["verify", str(shared), "--db", str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "verdict: AI-generated (marked by Mouthpiece)"
    assert "manifest (C2PA): none" in out
    assert f"speech mark: job token 0x{token_for(job_id):08x}" in "\n".join(out)
    jobs = [line for line in out if line.startswith("job: ")]
    assert len(jobs) == 1 and jobs[0].startswith(f"job: {job_id} on telegram, direct messages")
    assert "requested by user 4242" in jobs[0]
    assert main(["verify", str(video), "--json", "--db", str(db)]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["manifest"]["state"] == "valid" and found["token"] == f"0x{token_for(job_id):08x}"
    assert [j["job_id"] for j in found["jobs"]] == [job_id]


def test_a_failing_signer_costs_only_the_manifest(
    settings: EngineSettings,
    tmp_path: Path,
    sample_voice: Path,
    sample_photo: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kw: object) -> None:
        raise manifest.SigningError("C2PA signing failed: the test broke it")

    monkeypatch.setattr(manifest, "sign_mp4", broken)
    engine = Engine(settings)
    out = tmp_path / "unsigned.mp4"
    try:
        result = engine.render(RenderRequest(SCRIPT, sample_voice, sample_photo, out))
    finally:
        engine.close()
    assert out.is_file() and not result.signed and result.token is not None
    assert any("no signed manifest" in w for w in result.warnings)
    assert verify(out).manifest_state == "absent"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unsigned.mp4"]  # no temp left


def test_broken_operator_files_stop_the_engine_at_once(tmp_path: Path) -> None:
    """The operator's certificate is checked when the engine starts (a worker refuses to
    start, in one line), not found broken at every video."""
    cert = tmp_path / "cert.pem"
    cert.write_text("not a certificate")
    settings = EngineSettings(
        cache_dir=tmp_path / "cache", c2pa_cert=str(cert), c2pa_key=str(tmp_path / "missing.key")
    )
    with pytest.raises(ValueError) as refused:
        Engine(settings)
    assert "\n" not in str(refused.value) and str(refused.value)
