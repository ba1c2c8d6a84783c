"""C2PA manifest: signed inside the encoder's atomic write, read back as valid / untrusted /
invalid / absent; the local CA made once; the operator's files checked."""

from __future__ import annotations

import datetime as dt
import json
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import engine.provenance.manifest as manifest
from engine.errors import InvalidInput
from engine.media.video import SIGNATURE_BYTES, VideoWriter, plan_rate, probe
from engine.provenance.manifest import (
    SOURCE_TYPE,
    Claims,
    SigningError,
    SigningIdentity,
    load_identity,
    local_anchor,
    read_manifest,
    sign_mp4,
)
from engine.types import Audio

SIZE, FPS, N = (160, 120), 25, 25  # one second
Sign = Callable[[Path, Path], None]
CLAIMS = Claims(
    job_id="job-42",
    tool_version="0.1.0",
    backends={"tts": "espeak", "lipsync": "warp"},
    consent="self-declared",
    label="AI-generated",
    watermarks=[{"scheme": "perth-implicit"}, {"scheme": "mouthpiece-ss-1", "token": "0x1234abcd"}],
)


def _frames(n: int = N) -> Iterator[np.ndarray]:
    w, h = SIZE
    ramp = np.linspace(0, 255, w, dtype=np.float32)
    for i in range(n):
        f = np.empty((h, w, 3), np.uint8)
        f[..., 0] = (ramp + i * 9) % 256
        f[..., 1] = np.arange(h, dtype=np.uint8)[:, None] * 2
        f[..., 2] = 255 - f[..., 0]
        yield f


def _audio(seconds: float = N / FPS, rate: int = 24_000) -> Audio:
    t = np.arange(round(seconds * rate)) / rate
    return Audio((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)


def _write(path: Path, sign: Sign | None = None, **kw: Any) -> None:
    with VideoWriter(path, size=SIZE, fps=FPS, audio=_audio(), sign=sign, **kw) as w:
        for f in _frames():
            w.write(f)


def _signer(identity: SigningIdentity) -> Sign:
    return lambda src, dst: manifest.sign_mp4(src, dst, CLAIMS, identity)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> SigningIdentity:
    return load_identity(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, local: SigningIdentity) -> Path:
    out = tmp_path_factory.mktemp("signed") / "v.mp4"
    _write(out, sign=_signer(local))
    return out


# ---- MP4 boxes, to find one frame and the audio ---------------------------------------


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[str, int, int]]:
    """(type, payload start, box end) of the boxes in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8].decode("latin-1")
        head = 8
        if size == 1:
            size, head = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:
            size = end - pos
        yield kind, pos + head, pos + size
        pos += size


def _child(data: bytes, start: int, end: int, kind: str) -> tuple[int, int]:
    return next((s, e) for k, s, e in _boxes(data, start, end) if k == kind)


def _first_sample(data: bytes, handler: str) -> tuple[int, int]:
    """File offset and size of the first sample of the track whose handler is ``handler``
    ("vide" or "soun"), from its stco/co64 and stsz tables."""
    moov = _child(data, 0, len(data), "moov")
    for kind, s, e in _boxes(data, *moov):
        if kind != "trak":
            continue
        mdia = _child(data, s, e, "mdia")
        hdlr = _child(data, *mdia, "hdlr")
        if data[hdlr[0] + 8 : hdlr[0] + 12].decode("latin-1") != handler:
            continue
        stbl = _child(data, *_child(data, *mdia, "minf"), "stbl")
        kinds = {k: (ps, pe) for k, ps, pe in _boxes(data, *stbl)}
        if "stco" in kinds:
            offset = int.from_bytes(data[kinds["stco"][0] + 8 : kinds["stco"][0] + 12], "big")
        else:
            offset = int.from_bytes(data[kinds["co64"][0] + 8 : kinds["co64"][0] + 16], "big")
        stsz = kinds["stsz"][0]
        size = int.from_bytes(data[stsz + 4 : stsz + 8], "big")
        size = size or int.from_bytes(data[stsz + 12 : stsz + 16], "big")
        return offset, size
    raise AssertionError(f"no {handler} track")


def _tampered(src: Path, dst: Path, handler: str) -> Path:
    data = bytearray(src.read_bytes())
    offset, size = _first_sample(bytes(data), handler)
    mdat = _child(bytes(data), 0, len(data), "mdat")
    assert size > 2 and mdat[0] <= offset and offset + size <= mdat[1]
    data[offset + size // 2] ^= 0x01
    dst.write_bytes(bytes(data))
    return dst


# ---- tests ------------------------------------------------------------------------------


def test_signed_video_reads_valid_with_its_anchor(signed: Path, local: SigningIdentity) -> None:
    report = read_manifest(signed, local.trust_anchor_pem)
    assert report.state == "valid", report.errors
    assert report.errors == ()
    assert report.source_type == SOURCE_TYPE
    assert report.signer == "Mouthpiece local signer"
    assert report.claims["job_id"] == "job-42"
    assert report.claims["backends"] == {"tts": "espeak", "lipsync": "warp"}
    assert report.claims["consent"] == "self-declared"
    assert report.claims["label"] == "AI-generated"
    assert report.claims["watermarks"][1] == {"scheme": "mouthpiece-ss-1", "token": "0x1234abcd"}
    info = probe(signed)  # still a playable MP4 with both streams
    assert info.has_video and info.has_audio and info.n_frames == N
    assert stat.S_IMODE(signed.stat().st_mode) == 0o644


def test_manifest_carries_actions_and_soft_binding(signed: Path) -> None:
    import c2pa

    with open(signed, "rb") as f, c2pa.Reader("video/mp4", f) as reader:
        store = json.loads(reader.json())
    active = store["manifests"][store["active_manifest"]]
    assert active["claim_generator_info"][0]["name"] == "Mouthpiece"
    assertions = {a["label"]: a["data"] for a in active["assertions"]}
    created = assertions["c2pa.actions.v2"]["actions"][0]
    assert created["action"] == "c2pa.created"
    assert created["softwareAgent"] == {"name": "Mouthpiece", "version": "0.1.0"}
    assert assertions["c2pa.soft-binding"]["alg"] == "mouthpiece-ss-1"
    assert assertions["c2pa.soft-binding"]["blocks"][0]["value"] == "0x1234abcd"
    # offline: no timestamp authority was asked
    assert "c2pa.time-stamp" not in assertions and "time" not in active["signature_info"]


def test_other_anchor_or_none_reads_untrusted(
    signed: Path, tmp_path: Path, local: SigningIdentity
) -> None:
    other = load_identity(tmp_path / "c2pa")
    assert other.trust_anchor_pem != local.trust_anchor_pem
    for anchor in (other.trust_anchor_pem, None):
        report = read_manifest(signed, anchor)
        assert report.state == "untrusted"
        assert "signingCredential.untrusted" in report.errors
        assert report.claims["job_id"] == "job-42"  # still read, just not vouched for


@pytest.mark.parametrize("handler", ["vide", "soun"])
def test_one_changed_byte_in_a_frame_or_the_audio_is_invalid(
    signed: Path, tmp_path: Path, local: SigningIdentity, handler: str
) -> None:
    bad = _tampered(signed, tmp_path / "bad.mp4", handler)
    report = read_manifest(bad, local.trust_anchor_pem)
    assert report.state == "invalid"
    assert "assertion.bmffHash.mismatch" in report.errors


def test_unsigned_text_truncated_and_empty_files(
    signed: Path, tmp_path: Path, local: SigningIdentity
) -> None:
    plain = tmp_path / "plain.mp4"
    _write(plain)
    assert read_manifest(plain, local.trust_anchor_pem) == manifest.ManifestReport("absent")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    assert read_manifest(text).state == "absent"
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert read_manifest(empty).state == "absent"
    data = signed.read_bytes()
    for n in (100, len(data) // 2):  # cut inside the boxes, then inside mdat
        cut = tmp_path / f"cut{n}.mp4"
        cut.write_bytes(data[:n])
        report = read_manifest(cut, local.trust_anchor_pem)
        assert report.state in ("absent", "invalid") and report.errors


def test_bad_anchor_is_refused(signed: Path) -> None:
    with pytest.raises(ValueError, match="trust anchor"):
        read_manifest(signed, b"not a certificate")


def test_local_ca_is_made_once_and_reused(tmp_path: Path) -> None:
    home = tmp_path / "c2pa"
    first = load_identity(home)
    assert first.source == "local CA"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for key in ("ca.key", "signer.key"):
        assert stat.S_IMODE((home / key).stat().st_mode) == 0o600
    again = load_identity(home)
    assert again == first
    assert local_anchor(home) == first.trust_anchor_pem
    assert local_anchor(tmp_path / "elsewhere") is None
    # a second creation (the loser of a race) keeps the first set and leaves no temp folder
    manifest._install_local(home)
    assert load_identity(home) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c2pa"]
    leaf = x509.load_pem_x509_certificate(first.cert_chain_pem)
    ca = x509.load_pem_x509_certificate(first.trust_anchor_pem or b"")
    assert leaf.issuer == ca.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku


def test_processes_racing_to_create_share_one_identity(tmp_path: Path) -> None:
    barrier, found = threading.Barrier(4), []

    def load() -> None:
        barrier.wait()
        found.append(load_identity(tmp_path / "c2pa"))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 4 and all(i == found[0] for i in found)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c2pa"]


def test_a_leaf_near_its_end_is_renewed_under_the_same_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manifest, "_LEAF_DAYS", 10)  # inside the renewal window
    short = load_identity(tmp_path / "c2pa")
    monkeypatch.setattr(manifest, "_LEAF_DAYS", 730)
    renewed = load_identity(tmp_path / "c2pa")
    assert renewed.cert_chain_pem != short.cert_chain_pem
    assert renewed.trust_anchor_pem == short.trust_anchor_pem
    assert load_identity(tmp_path / "c2pa") == renewed
    out = tmp_path / "v.mp4"
    _write(out, sign=_signer(renewed))
    assert read_manifest(out, short.trust_anchor_pem).state == "valid"


def test_without_the_ca_key_a_leaf_serves_until_it_expires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manifest, "_LEAF_DAYS", 10)
    short = load_identity(tmp_path / "c2pa")
    (tmp_path / "c2pa" / "ca.key").unlink()
    assert load_identity(tmp_path / "c2pa") == short  # near its end, but still good
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=11)
    monkeypatch.setattr(manifest, "_now", lambda: later)
    with pytest.raises(ValueError, match="expired and cannot be renewed"):
        load_identity(tmp_path / "c2pa")


# ---- the operator's own certificates ----------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, issuer_key = issuer or (_name(subject), key)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(not ca, False, False, False, False, ca, ca, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    )
    if not ca:
        eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION])
        b = b.add_extension(eku, critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _operator_files(folder: Path) -> tuple[Path, Path, Path, ec.EllipticCurvePrivateKey]:
    """A root CA, an intermediate and a leaf; the chain file is leaf then intermediate; the
    key is written in the traditional (SEC1) form, which the identity converts."""
    root_key, mid_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _cert("Operator Root", root_key, None, ca=True)
    mid = _cert("Operator Issuing CA", mid_key, (root.subject, root_key), ca=True)
    leaf = _cert("Operator signer", leaf_key, (mid.subject, mid_key), ca=False)
    chain, key, trust = folder / "chain.pem", folder / "signer.key", folder / "root.pem"
    chain.write_bytes(_pem(leaf, mid))
    key.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    trust.write_bytes(_pem(root))
    return chain, key, trust, leaf_key


def test_operator_identity_signs_and_validates(tmp_path: Path, local: SigningIdentity) -> None:
    chain, key, trust, _ = _operator_files(tmp_path)
    identity = load_identity(tmp_path / "data", cert=chain, key=key, trust=trust)
    assert identity.source == "operator"
    assert identity.trust_anchor_pem == trust.read_bytes()
    assert not (tmp_path / "data").exists()  # no local CA made
    out = tmp_path / "v.mp4"
    _write(out, sign=_signer(identity))
    report = read_manifest(out, trust.read_bytes())
    assert (report.state, report.signer) == ("valid", "Operator signer")
    assert read_manifest(out, local.trust_anchor_pem).state == "untrusted"


def test_operator_files_are_checked(tmp_path: Path) -> None:
    chain, key, trust, _ = _operator_files(tmp_path)
    other = tmp_path / "other.key"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello\n")
    cases = [
        ({"cert": chain, "key": other}, "does not belong"),
        ({"cert": garbage, "key": key}, "not a PEM certificate"),
        ({"cert": chain, "key": garbage}, "not a PEM private key"),
        ({"cert": chain, "key": tmp_path / "missing.key"}, "cannot read"),
        ({"cert": chain}, "both"),
        ({"cert": chain, "key": key, "trust": garbage}, "not a PEM certificate"),
        ({"trust": trust}, "only used with"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message) as caught:
            load_identity(tmp_path / "data", **kwargs)
        assert "\n" not in str(caught.value)


def test_the_sdk_refusing_raises_signing_error(tmp_path: Path, local: SigningIdentity) -> None:
    src = tmp_path / "plain.mp4"
    _write(src)
    ca_as_leaf = SigningIdentity(local.trust_anchor_pem or b"", local.key_pem, None, "operator")
    with pytest.raises(SigningError, match="C2PA signing failed"):
        sign_mp4(src, tmp_path / "signed.mp4", CLAIMS, ca_as_leaf)


# ---- the encoder's side ---------------------------------------------------------------


def test_a_failing_signer_leaves_nothing(tmp_path: Path) -> None:
    def broken(src: Path, dst: Path) -> None:
        dst.write_bytes(b"half")
        raise SigningError("no")

    out = tmp_path / "v.mp4"
    with pytest.raises(SigningError):
        _write(out, sign=broken)
    assert list(tmp_path.iterdir()) == []


def test_signing_fits_the_byte_budget(tmp_path: Path, local: SigningIdentity) -> None:
    plain = plan_rate(60_000, seconds=N / FPS, size=SIZE, fps=FPS)
    kept = plan_rate(60_000, seconds=N / FPS, size=SIZE, fps=FPS, reserve=SIGNATURE_BYTES)
    assert plain.video_cap and kept.video_cap
    assert kept.video_cap < plain.video_cap
    out = tmp_path / "v.mp4"
    _write(out, sign=_signer(local), max_bytes=60_000, n_frames=N)
    assert out.stat().st_size <= 60_000
    assert read_manifest(out, local.trust_anchor_pem).state == "valid"


def test_a_manifest_over_the_budget_is_refused(tmp_path: Path) -> None:
    def bloated(src: Path, dst: Path) -> None:
        dst.write_bytes(src.read_bytes() + bytes(70_000))

    with pytest.raises(InvalidInput, match="does not fit in 60000 bytes"):
        _write(tmp_path / "v.mp4", sign=bloated, max_bytes=60_000, n_frames=N)
    assert list(tmp_path.iterdir()) == []
