"""Keyrings and X.509 keys as cfg80211 uses them (security/keys, crypto/asymmetric_keys)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kernel_stubs.linux.keys import parse_x509


def _certificate(tmp_path: Path, subject: str, *extra: str) -> bytes:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.der"
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", str(key),
                        "-outform", "DER", "-out", str(cert), "-subj", subject, "-days", "1", "-set_serial",
                        "0x00b28ddf47aef9cea7", *extra], check=True, capture_output=True)
    except FileNotFoundError:
        pytest.skip("openssl is not installed")
    return cert.read_bytes()


def _openssl_skid(tmp_path: Path) -> str:
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-in", str(tmp_path / "cert.der"), "-noout", "-ext",
                          "subjectKeyIdentifier"], check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1].strip().replace(":", "").lower()


def test_the_description_is_the_subject_and_openssls_key_identifier(tmp_path: Path) -> None:
    cert = parse_x509(_certificate(tmp_path, "/O=Example Org/CN=signing key"))
    assert cert.subject == "Example Org: signing key"  # neither starts the other: "O: CN"
    assert cert.key_id.hex() == _openssl_skid(tmp_path)


def test_a_cn_sharing_the_organisations_start_stands_alone_and_no_skid_means_the_serial(tmp_path: Path) -> None:
    cert = parse_x509(_certificate(tmp_path, "/O=Example/CN=Example wireless key", "-addext",
                                   "subjectKeyIdentifier=none"))
    assert cert.subject == "Example wireless key"
    assert cert.key_id.hex() == "00b28ddf47aef9cea7"  # the serial's content octets, leading zero kept
    assert cert.description == "Example wireless key: 00b28ddf47aef9cea7"


def test_what_is_not_a_certificate_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_x509(b"\x04\x03abc")
    with pytest.raises(ValueError):
        parse_x509(b"\x30\x82\x10\x00")
