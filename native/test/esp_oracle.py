#!/usr/bin/python3
"""ESP oracle for the C tests: scapy's SecurityAssociation (an independent implementation)
decrypts what srcfib encrypted, and encrypts what srcfib must decrypt.

  esp_oracle.py decrypt ALG KEY AUTHKEY SPI SRC DST ESN NATT PACKET  -> the inner packet, hex
  esp_oracle.py encrypt ALG KEY AUTHKEY SPI SRC DST ESN NATT SEQ INNER -> the ESP packet, hex

ALG is gcm, cbc-sha256 or cbc-sha1 (ESP) or ah-sha256 or ah-sha1 (AH, KEY unused); KEY is hex (for gcm: key then 4-byte salt, RFC 4106); SRC
and DST are the tunnel endpoints, or - - for transport mode; ESN and NATT are 0 or 1 (NAT-T: UDP 4500 -> 4500); PACKET and
INNER are hex, starting at the IP header. Errors go to stderr with exit status 1.

Scapy leaves the extended sequence number out of the ICV of ESP with a separate integrity
algorithm (it applies ESN only to AEAD and AH), which RFC 4303 section 3.3.2.2.1 requires; for
AES-CBC with ESN this script computes and checks that ICV itself with Python's hmac, and lets scapy
do the rest.
"""
import hashlib
import hmac
import struct
import sys

from scapy.all import IP, IPv6, UDP
from scapy.layers.ipsec import AH, ESP, SecurityAssociation


def esn_icv(alg, authkey, esp, seq_hi):
    """The ICV of an ESP packet (header to trailer) with the ESN's high half appended."""
    digest, size = (hashlib.sha256, 16) if alg.endswith("sha256") else (hashlib.sha1, 12)
    return hmac.new(authkey, esp + struct.pack("!L", seq_hi), digest).digest()[:size]


def esp_offset(raw, natt):
    off = 40 if raw[0] >> 4 == 6 else (raw[0] & 15) * 4
    return off + (8 if natt else 0)


def main(argv):
    mode, alg, key, authkey, spi, src, dst, esn, natt = argv[:9]
    rest = argv[9:]
    ah = alg.startswith("ah-")
    crypt = {"gcm": "AES-GCM", "cbc-sha256": "AES-CBC", "cbc-sha1": "AES-CBC"}.get(alg)
    auth = {"gcm": None, "cbc-sha256": "SHA2-256-128", "cbc-sha1": "HMAC-SHA1-96", "ah-sha256": "SHA2-256-128", "ah-sha1": "HMAC-SHA1-96"}[alg]
    transport = src == "-"
    v6 = ":" in src
    outer = None if transport else IPv6(src=src, dst=dst) if v6 else IP(src=src, dst=dst)
    sa = SecurityAssociation(
        AH if ah else ESP,
        spi=int(spi, 0),
        crypt_algo=crypt,
        crypt_key=None if ah else bytes.fromhex(key),
        auth_algo=auth,
        auth_key=bytes.fromhex(authkey) if auth else None,
        tunnel_header=outer,
        nat_t_header=UDP(sport=4500, dport=4500) if natt == "1" else None,
        esn_en=esn == "1",
    )
    own_icv = not ah and alg != "gcm" and esn == "1"
    if mode == "decrypt":
        raw = bytes.fromhex(rest[0])
        pkt = IPv6(raw) if raw[0] >> 4 == 6 else IP(raw)
        if own_icv:
            n = 16 if alg == "cbc-sha256" else 12
            esp = raw[esp_offset(raw, natt == "1"):]
            if not hmac.compare_digest(esp[-n:], esn_icv(alg, bytes.fromhex(authkey), esp[:-n], 0)):
                raise SystemExit("ICV mismatch (ESN)")
        inner = sa.decrypt(pkt, verify=not own_icv)
        print(bytes(inner).hex())
    elif mode == "encrypt":
        seq = int(rest[0], 0)
        raw = bytes.fromhex(rest[1])
        inner = IPv6(raw) if raw[0] >> 4 == 6 else IP(raw)
        out = bytes(sa.encrypt(inner, seq_num=seq))
        if own_icv:
            n = 16 if alg == "cbc-sha256" else 12
            off = esp_offset(out, natt == "1")
            out = out[:-n] + esn_icv(alg, bytes.fromhex(authkey), out[off:-n], 0)
        print(out.hex())
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Exception as e:  # the C test reports it
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
