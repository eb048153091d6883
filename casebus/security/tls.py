"""The local broker's TLS material: a private CA and a broker certificate signed by it.

Generated once by `casebus kafka start` (cryptography); clients verify the broker against
the CA. The broker's key is also its client certificate on the controller listener, which
requires one: only a holder of that key can speak to the controller.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

BROKER_CN = "casebus-broker"
# The principal Kafka derives from the broker certificate (the default mapping: the DN).
BROKER_PRINCIPAL = f"User:CN={BROKER_CN}"
VALID_DAYS = 825


@dataclass(frozen=True)
class TlsFiles:
    """Where the material lives: `ca.pem` is public, the two keys are mode 0600."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def broker_pem(self) -> Path:
        """The broker's PKCS#8 key and certificate chain in one file (Kafka's PEM keystore)."""
        return self.folder / "broker.pem"

    def exists(self) -> bool:
        return self.ca_cert.is_file() and self.broker_pem.is_file()


def ensure_local_tls(files: TlsFiles, hosts: tuple[str, ...]) -> bool:
    """Create the CA and the broker certificate unless both exist; True if created."""
    if files.exists():
        return False
    files.folder.mkdir(parents=True, exist_ok=True)
    os.chmod(files.folder, 0o700)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "casebus local CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = _names(hosts)
    broker = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, BROKER_CN)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    plain = serialization.NoEncryption()
    _write_private(files.ca_key, ca_key.private_bytes(pem, pkcs8, plain))
    _write_private(
        files.broker_pem,
        key.private_bytes(pem, pkcs8, plain) + broker.public_bytes(pem) + ca.public_bytes(pem),
    )
    files.ca_cert.write_bytes(ca.public_bytes(pem))  # written last: exists() means complete
    return True


def ensure_server_cert(files: TlsFiles, name: str, hosts: tuple[str, ...]) -> Path:
    """`<name>.pem` (mode 0600): a key and a server certificate for `hosts`, signed by the
    local CA (made with the broker's if there is none yet), for an HTTPS service of casebus
    (the key service); made once, again when its hosts change. Clients verify it against
    `ca.pem`."""
    ensure_local_tls(files, hosts)
    path = files.folder / f"{name}.pem"
    if path.is_file():
        chain = x509.load_pem_x509_certificates(path.read_bytes())
        try:
            alt = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            known = {str(v) for v in alt.get_values_for_type(x509.DNSName)} | {
                str(v) for v in alt.get_values_for_type(x509.IPAddress)
            }
        except x509.ExtensionNotFound:
            known = set()
        if set(hosts) <= known:
            return path
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"casebus-{name}")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    plain = serialization.NoEncryption()
    _write_private(
        path,
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, plain)
        + cert.public_bytes(pem)
        + ca.public_bytes(pem),
    )
    return path


def _names(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
