"""A signed C2PA manifest in every MP4: what made it, that it is AI-generated, and a reader.

The manifest says, in the open C2PA format any Content Credentials viewer understands, that the
video was made by a trained model (IPTC digital source type ``trainedAlgorithmicMedia``), by
which tool and version, with which backends, for which job, how the consent of the person shown
was given (a method, never personal data), which caption was burnt in and which watermarks the
speech carries. The SDK (``c2pa-python``) binds it to the file with a BMFF hash over every box
but the manifest's own, so changing one byte of a frame or of the audio breaks validation.

Keys. The operator's certificate chain and key are used when given; otherwise a local CA and a
leaf certificate are made on first use in ``folder`` (a bare self-signed certificate
is refused by the SDK, so two certificates are needed). The SDK also requires of the leaf:
digitalSignature key usage, an extended key usage it accepts (emailProtection here) and an
authority key identifier (without it signing fails with "the certificate is invalid"; found by
experiment). The CA's private key is kept (mode 0600): with it a new leaf is issued when the
current one nears its end, and the anchor that verifiers were given stays the same. Someone who
can read ``folder`` can sign as this installation either way (the leaf's key is there too).

Offline. No timestamp authority is named (a signature is then valid only while its certificate
is), OCSP and remote manifests are never fetched, and ``core.allowed_network_hosts`` is empty,
so neither signing nor reading opens a connection.

Soft binding. The speech's token (a watermark with a ``token``) is also stated in a
``c2pa.soft-binding`` assertion whose ``alg`` is the watermark's scheme: c2pa-python 0.38.1
(c2pa-rs 0.91.3) signs and validates it without a lookup and without a status code. It is not
in the C2PA soft-binding algorithm list, so a resolver will not know it; the ``pad`` field of
the spec is left out because the JSON definition cannot carry a CBOR byte string (the SDK does
not require it).

Validation codes (``ManifestReport.errors``) are the SDK's failure codes, e.g.
``assertion.bmffHash.mismatch`` (a byte of the media changed), ``signingCredential.untrusted``
(the signer does not chain to the given anchor), ``claimSignature.mismatch``; and two of ours:
``format.unsupported`` (not a file the SDK can carry a manifest in) and ``general.error: ...``
(the file could not be parsed).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "SOURCE_TYPE",
    "RENDER_LABEL",
    "Claims",
    "SigningIdentity",
    "SigningError",
    "ManifestReport",
    "load_identity",
    "local_anchor",
    "describe_signer",
    "manifest_definition",
    "sign_mp4",
    "read_manifest",
]

#: IPTC's digital source type for media made by a model trained on sampled content
SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
#: the label of the assertion that carries the render's own facts
RENDER_LABEL = "org.mouthpiece.render"
TOOL = "Mouthpiece"

_CA_CERT, _CA_KEY, _LEAF_CERT, _LEAF_KEY, _LOCK = (
    "ca.pem",
    "ca.key",
    "signer.pem",
    "signer.key",
    ".lock",
)
_CA_DAYS, _LEAF_DAYS = 3650, 730
_RENEW_DAYS = 30  # a leaf with less left is replaced (when the CA's key is there)
_SKEW = dt.timedelta(minutes=5)  # certificates start a little in the past: clocks differ

# Never a connection: no OCSP, no remote manifest, no host allowed at all. Thumbnails are off
# (a video's would be a still frame: bytes for nothing).
_OFFLINE: dict[str, Any] = {
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    "core": {"allowed_network_hosts": []},
}
_SIGN_SETTINGS: dict[str, Any] = {**_OFFLINE, "builder": {"thumbnail": {"enabled": False}}}
# Failure codes that only say the signer is not trusted; every other failure is integrity.
_TRUST_CODES = frozenset({"signingCredential.untrusted"})


class SigningError(Exception):
    """The SDK could not sign the video (one line; the cause is chained)."""


@dataclass(frozen=True)
class Claims:
    """What one video's manifest asserts.

    ``consent`` is how the consent of the person shown was given ("self-declared",
    "spoken-phrase", "moderator-approved", "cli"): a method, never personal data, because the
    manifest travels with the file to anyone. ``label`` is the visible caption (None when off).
    ``watermarks`` are the marks in the speech, e.g. ``{"scheme": "perth-implicit"}`` and
    ``{"scheme": "mouthpiece-ss-1", "token": "0x1234abcd"}``: a mark with a token also gets a
    soft-binding assertion, so the manifest can be found again from the audio alone.
    """

    job_id: str
    tool_version: str
    backends: Mapping[str, str]
    consent: str
    label: str | None
    watermarks: Sequence[Mapping[str, str]] = ()


@dataclass(frozen=True)
class SigningIdentity:
    """A certificate chain (PEM, leaf first, then intermediates), its private key (PKCS#8 PEM,
    which is the only form the SDK reads) and the CA a verifier should trust (None: unknown).
    ``source`` is "operator" or "local CA"."""

    cert_chain_pem: bytes
    key_pem: bytes
    trust_anchor_pem: bytes | None
    source: str

    def __repr__(self) -> str:  # never the key, not even in a traceback's locals
        return f"SigningIdentity(source={self.source!r})"


@dataclass(frozen=True)
class ManifestReport:
    """What :func:`read_manifest` found.

    ``state``: "valid" (the hashes match and the signer chains to the given anchor),
    "untrusted" (the hashes match; the signer is unknown or no anchor was given), "invalid"
    (an integrity check failed or the file could not be parsed) or "absent" (no manifest).
    ``signer`` is the signing certificate's common name (else its organisation), ``claims``
    the ``org.mouthpiece.render`` assertion, ``source_type`` the ``c2pa.created`` action's
    digital source type, ``errors`` the validation failure codes.
    """

    state: str
    signer: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    source_type: str | None = None
    errors: tuple[str, ...] = ()


# ---- keys -------------------------------------------------------------------------------


def load_identity(
    folder: Path, cert: Path | None = None, key: Path | None = None, trust: Path | None = None
) -> SigningIdentity:
    """The signing identity: the operator's ``cert`` (chain, leaf first) and ``key`` with
    ``trust`` as their CA when given; else the local CA's leaf in ``folder``, made
    on first use and reused afterwards.

    Raises ValueError (one line) for a file that is not a readable PEM, a key that does not
    belong to the certificate, an expired certificate, or half a pair.
    """
    if cert is not None or key is not None:
        if cert is None or key is None:
            raise ValueError("an operator signing identity needs both a certificate and a key")
        chain = _read_certs(cert)
        private = _read_key(key)
        _check_pair(chain[0], private, str(cert))
        anchor = _pem_certs(_read_certs(trust)) if trust is not None else None
        return SigningIdentity(_pem_certs(chain), _pem_key(private), anchor, "operator")
    if trust is not None:
        raise ValueError("a trust anchor is only used with the operator's certificate and key")
    return _local_identity(Path(folder))


def describe_signer(folder: Path, cert: Path | None = None) -> str:
    """One line on who signs here (``mouthpiece doctor``): the operator's certificate or the
    local CA's signer, its subject and end date; reads only (a local CA not made yet is
    made by the first render)."""
    if cert is not None:
        leaf = _parse_certs(Path(cert).read_bytes(), str(cert))[0]
        source = f"the operator's certificate {cert}"
    else:
        path = Path(folder) / _LEAF_CERT
        if not path.is_file():
            return f"a local CA will be made in {folder} at the first render"
        leaf = _parse_certs(path.read_bytes(), str(path))[0]
        source = f"the local CA in {folder}"
    name = leaf.subject.rfc4514_string()
    return f"signs as {name} ({source}), until {leaf.not_valid_after_utc:%Y-%m-%d}"


def local_anchor(folder: Path) -> bytes | None:
    """The local CA's certificate (what verifiers of this installation's videos trust), or
    None when no local CA was made in ``folder``. Never creates anything."""
    path = Path(folder) / _CA_CERT
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _local_identity(home: Path) -> SigningIdentity:
    if not (home / _LEAF_CERT).exists():
        _install_local(home)
    try:
        with _locked(home, exclusive=False):
            ca_pem, leaf_pem, key_pem = (
                (home / name).read_bytes() for name in (_CA_CERT, _LEAF_CERT, _LEAF_KEY)
            )
    except FileNotFoundError as e:
        raise ValueError(
            f"the local signing identity in {home} is incomplete ({Path(str(e.filename)).name} "
            "is missing): remove the folder to make a new one"
        ) from e
    leaf = _parse_certs(leaf_pem, str(home / _LEAF_CERT))[0]
    if _expires_soon(leaf):
        with _locked(home, exclusive=True):
            leaf_pem, key_pem = _renew_leaf(home)
    return SigningIdentity(leaf_pem, key_pem, ca_pem, "local CA")


def _install_local(home: Path) -> None:
    """Make the local CA and leaf in a private temporary folder, then rename it into place:
    of two processes doing this at once one wins, the other discards its own and uses the
    winner's, so there is only ever one consistent set."""
    home.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{home.name}.", dir=home.parent))  # mode 0700
    try:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _issue_ca(ca_key)
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf = _issue_leaf(leaf_key, ca, ca_key)
        _write(tmp / _CA_CERT, _pem_certs([ca]), 0o644)
        _write(tmp / _CA_KEY, _pem_key(ca_key), 0o600)
        _write(tmp / _LEAF_KEY, _pem_key(leaf_key), 0o600)
        _write(tmp / _LEAF_CERT, _pem_certs([leaf]), 0o644)
        _write(tmp / _LOCK, b"", 0o600)
        try:
            os.rename(tmp, home)
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            # another process made it first: use theirs
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _renew_leaf(home: Path) -> tuple[bytes, bytes]:
    """Issue a new leaf under the kept CA key (the caller holds the lock); another process may
    have done so while this one waited, so check again first. Without the CA's key, or with
    the CA itself near its end, the current leaf serves until it expires."""
    leaf_pem, key_pem = (home / _LEAF_CERT).read_bytes(), (home / _LEAF_KEY).read_bytes()
    leaf = _parse_certs(leaf_pem, str(home / _LEAF_CERT))[0]
    ca = _parse_certs((home / _CA_CERT).read_bytes(), str(home / _CA_CERT))[0]
    renewable = (home / _CA_KEY).exists() and not _expires_soon(ca)
    if not _expires_soon(leaf) or (not renewable and leaf.not_valid_after_utc > _now()):
        return leaf_pem, key_pem
    if not renewable:
        raise ValueError(
            f"the local signing certificate in {home} has expired and cannot be renewed (its "
            "CA's key is gone or the CA is expiring): remove the folder to make a new CA"
        )
    ca_key = _read_key(home / _CA_KEY)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_pem = _pem_certs([_issue_leaf(leaf_key, ca, ca_key)])
    key_pem = _pem_key(leaf_key)
    _write(home / _LEAF_KEY, key_pem, 0o600)
    _write(home / _LEAF_CERT, leaf_pem, 0o644)
    return leaf_pem, key_pem


@contextlib.contextmanager
def _locked(home: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold the local folder's lock: a leaf is renewed (key, then certificate) under the
    exclusive lock and read under the shared one, so no one reads a key with the other
    certificate."""
    lock = home / _LOCK
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:  # a read-only folder: nothing can be renewed there, so no one writes
        fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, TOOL),
        ]
    )


def _issue_ca(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = _now()
    usage = _key_usage(cert_sign=True)
    return (
        x509.CertificateBuilder()
        .subject_name(_name("Mouthpiece local CA"))
        .issuer_name(_name("Mouthpiece local CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _issue_leaf(
    key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, ca_key: Any
) -> x509.Certificate:
    now = _now()
    end = min(now + dt.timedelta(days=_LEAF_DAYS), ca.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(_name("Mouthpiece local signer"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, then a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_certs(path: Path) -> list[x509.Certificate]:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read the certificate file {path}: {e.strerror}") from e
    return _parse_certs(data, str(path))


def _parse_certs(data: bytes, where: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise ValueError(f"{where} is not a PEM certificate file") from e
    return certs


def _read_key(path: Path) -> Any:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read the key file {path}: {e.strerror}") from e
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as e:  # encrypted: the SDK takes the key as it is, with no passphrase
        raise ValueError(f"{path} is an encrypted key: give it without a passphrase") from e
    except (ValueError, UnsupportedAlgorithm) as e:
        raise ValueError(f"{path} is not a PEM private key") from e
    if _algorithm_of(key) is None:
        raise ValueError(f"{path}: the SDK signs with EC P-256/384/521, RSA or Ed25519 keys only")
    return key


def _check_pair(leaf: x509.Certificate, key: Any, where: str) -> None:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise ValueError(f"the key does not belong to the first certificate of {where}")
    if leaf.not_valid_after_utc <= _now():
        raise ValueError(
            f"the signing certificate in {where} expired on {leaf.not_valid_after_utc}"
        )


def _algorithm_of(key: Any) -> str | None:
    """The C2PA signing algorithm for ``key`` (the SDK's names), or None."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(
            key.curve.name
        )
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    return None


def _pem_certs(certs: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _pem_key(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _expires_soon(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc <= _now() + dt.timedelta(days=_RENEW_DAYS)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ---- signing ----------------------------------------------------------------------------


def manifest_definition(claims: Claims, title: str) -> dict[str, Any]:
    """The manifest definition handed to the SDK's Builder (it adds the BMFF hash itself)."""
    agent = {"name": TOOL, "version": claims.tool_version}
    created = {"action": "c2pa.created", "digitalSourceType": SOURCE_TYPE, "softwareAgent": agent}
    render = {
        "job_id": claims.job_id,
        "tool_version": claims.tool_version,
        "backends": dict(claims.backends),
        "consent": claims.consent,
        "label": claims.label,
        "watermarks": [dict(w) for w in claims.watermarks],
    }
    assertions: list[dict[str, Any]] = [
        {"label": "c2pa.actions.v2", "data": {"actions": [created]}},
        {"label": RENDER_LABEL, "data": render},
    ]
    for mark in claims.watermarks:
        if mark.get("token"):
            binding = {"alg": mark["scheme"], "blocks": [{"scope": {}, "value": mark["token"]}]}
            assertions.append({"label": "c2pa.soft-binding", "data": binding})
    return {"title": title, "claim_generator_info": [agent], "assertions": assertions}


def sign_mp4(
    src: Path, dst: Path, claims: Claims, identity: SigningIdentity, *, title: str | None = None
) -> None:
    """Write ``dst``: ``src`` with a signed manifest embedded. ``dst`` should be a temporary
    path beside the final one (the caller renames it into place). ``title`` defaults to one
    naming the job, since ``dst`` is a temporary name. No timestamp authority: offline.

    Raises SigningError when the SDK refuses (the certificate, the key, the file).
    """
    try:
        import c2pa
    except ImportError as e:
        raise SigningError("the C2PA SDK is not installed (pip install c2pa-python)") from e

    definition = manifest_definition(claims, title or f"Mouthpiece video {claims.job_id}")
    try:
        key = serialization.load_pem_private_key(identity.key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise SigningError("the signing key is not an unencrypted PEM private key") from e
    alg = _algorithm_of(key)
    if alg is None:
        raise SigningError(f"the SDK cannot sign with a {type(key).__name__}")
    try:
        info = c2pa.C2paSignerInfo(alg, identity.cert_chain_pem, identity.key_pem, None)
        with (
            c2pa.Signer.from_info(info) as signer,
            c2pa.Context.from_dict(_SIGN_SETTINGS) as context,
            c2pa.Builder(definition, context=context) as builder,
            open(src, "rb") as source,
            open(dst, "w+b") as dest,
        ):
            builder.sign(signer, "video/mp4", source, dest)
    except c2pa.C2paError as e:
        raise SigningError(f"C2PA signing failed: {_one_line(e)}") from e


# ---- reading ----------------------------------------------------------------------------


def read_manifest(path: Path, trust_anchor_pem: bytes | None = None) -> ManifestReport:
    """Read and validate the manifest in ``path`` against ``trust_anchor_pem`` (PEM, one or
    more CA certificates; it replaces the SDK's own list, so only these are trusted).

    Never raises on what the file holds (text, a truncated MP4): "absent" or "invalid" with
    a code. Raises ValueError for an anchor that is not PEM certificates, OSError when the
    file cannot be opened.
    """
    import c2pa

    settings: dict[str, Any] = dict(_OFFLINE)
    if trust_anchor_pem is not None:
        anchors = _pem_certs(_parse_certs(trust_anchor_pem, "the trust anchor"))
        settings["trust"] = {"trust_anchors": anchors.decode("ascii")}
    with c2pa.Context.from_dict(settings) as context, open(path, "rb") as f:
        try:
            # no format: the SDK detects it from the bytes, so a text file is "unsupported"
            reader = c2pa.Reader.try_create(None, f, None, context)
            if reader is None:
                return ManifestReport("absent")
            with reader:
                store = json.loads(reader.json())
        except c2pa.C2paError.NotSupported:
            return ManifestReport("absent", errors=("format.unsupported",))
        except (c2pa.C2paError, ValueError) as e:
            return ManifestReport("invalid", errors=(f"general.error: {_one_line(e)}",))
    return _report(store, anchored=trust_anchor_pem is not None)


def _report(store: dict[str, Any], *, anchored: bool) -> ManifestReport:
    manifest = store.get("manifests", {}).get(store.get("active_manifest"), {})
    results = store.get("validation_results", {}).get("activeManifest")
    failures = results.get("failure", []) if results else store.get("validation_status", [])
    errors = tuple(dict.fromkeys(str(f.get("code")) for f in failures))
    integrity = [code for code in errors if code not in _TRUST_CODES]
    state = store.get("validation_state")
    if state == "Invalid" or integrity or not manifest:
        verdict = "invalid"
    elif state == "Trusted" and anchored:
        verdict = "valid"
    else:
        verdict = "untrusted"
    info = manifest.get("signature_info", {})
    claims: dict[str, Any] = {}
    source_type = None
    for assertion in manifest.get("assertions", []):
        label, data = assertion.get("label", ""), assertion.get("data", {})
        if label == RENDER_LABEL and isinstance(data, dict):
            claims = data
        elif label.startswith("c2pa.actions") and source_type is None:
            for action in data.get("actions", []):
                if action.get("action") == "c2pa.created":
                    source_type = action.get("digitalSourceType")
    return ManifestReport(
        verdict,
        signer=info.get("common_name") or info.get("issuer"),
        claims=claims,
        source_type=source_type,
        errors=errors or (("manifest.malformed",) if not manifest else ()),
    )


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text[:300] or type(e).__name__
