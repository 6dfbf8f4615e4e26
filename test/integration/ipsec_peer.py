#!/usr/bin/python3
"""The far end of an IPsec tunnel to srcfib, played by scapy (an independent ESP implementation).

Run in the peer's namespace:  ipsec_peer.py CONFIG_JSON

CONFIG: {"iface", "local", "remote", "alg": "gcm" | "cbc" (AES-CBC + HMAC-SHA-256-128), optionally
         "alg_send" / "alg_recv" when the two directions differ (during a rekey), "spi_send", "key_send",
         "auth_send", "spi_recv", "key_recv", "auth_recv", "inner_src", "inner_dst", "count",
         "first_seq", "natt", "replay": bool, "tamper": bool, "timeout"}
Keys are hex (AES-GCM: key then the 4-byte salt).

Sends `count` ICMP echo requests inner_src -> inner_dst, each ESP-encrypted with the "send" SA
(sequence numbers first_seq, first_seq + 1, ...) to `remote`; captures the ESP packets srcfib sends
back on `iface`, decrypts them with the "recv" SA and counts the echo replies that answer the
requests. With replay, sends the first encrypted request a second time; with tamper, one more
request with a bit of its ciphertext flipped (neither may be answered). Prints one JSON line:
{"sent", "replies", "esp_seen", "undecryptable", "reply_seqs"}.

With "respond": true it is the far end of someone else's pings instead: decrypts the ESP srcfib
sends with the "recv" SA and answers each ICMP echo request inside with an echo reply through the
"send" SA, until `count` are answered or `timeout` passes; "ready" on stderr once it listens.
Prints {"requests", "esp_seen", "undecryptable", "request_srcs", "request_ttls"}.
"""
import json
import sys
import time

from scapy.all import ICMP, IP, UDP, AsyncSniffer, Raw, conf, send
from scapy.layers.ipsec import ESP, SecurityAssociation


def sa_of(c, which):
    alg = c.get(f"alg_{which}", c["alg"])
    crypt, auth = ("AES-GCM", None) if alg == "gcm" else ("AES-CBC", "SHA2-256-128")
    spi = c[f"spi_{which}"]
    hdr = IP(src=c["local"], dst=c["remote"]) if which == "send" else IP(src=c["remote"], dst=c["local"])
    return SecurityAssociation(
        ESP,
        spi=spi,
        crypt_algo=crypt,
        crypt_key=bytes.fromhex(c[f"key_{which}"]),
        auth_algo=auth,
        auth_key=bytes.fromhex(c[f"auth_{which}"]) if auth else None,
        tunnel_header=hdr,
        nat_t_header=UDP(sport=4500, dport=4500) if c.get("natt") else None,
    )


def sniff_esp(c, got, handle):
    """Starts capturing srcfib's ESP (outer source `remote`) on iface; handle(inner) for each packet
    the "recv" SA opens; counts into got.  Returns the sniffer."""
    rx = sa_of(c, "recv")
    got.update(esp_seen=0, undecryptable=0)

    def on_packet(p):
        if IP not in p or p[IP].src != c["remote"]:
            return
        esp = p[IP]
        if c.get("natt"):
            if UDP not in esp or esp[UDP].sport != 4500:
                return
        elif esp.proto != 50:
            return
        got["esp_seen"] += 1
        try:
            inner = rx.decrypt(IP(bytes(esp)))
        except Exception:  # a packet scapy cannot authenticate or decrypt
            got["undecryptable"] += 1
            return
        handle(inner)

    sniffer = AsyncSniffer(iface=c["iface"], prn=on_packet, store=False, filter="udp port 4500" if c.get("natt") else "esp")
    sniffer.start()
    return sniffer


def finish(c, sniffer, got, key):
    """Waits until got[key] reaches count or the timeout, stops capturing, prints got."""
    deadline = time.time() + c.get("timeout", 3)
    while time.time() < deadline and got[key] < c["count"]:
        time.sleep(0.05)
    time.sleep(0.3)
    sniffer.stop()
    print(json.dumps(got))


def respond(c):
    tx = sa_of(c, "send")
    seq = [c.get("first_seq", 1)]
    got = {"requests": 0, "request_srcs": [], "request_ttls": []}

    def handle(inner):
        if ICMP not in inner or inner[ICMP].type != 8:
            return
        got["requests"] += 1
        got["request_srcs"].append(inner[IP].src)
        got["request_ttls"].append(inner[IP].ttl)
        q = inner[ICMP]
        reply = IP(src=inner[IP].dst, dst=inner[IP].src, ttl=64) / ICMP(type=0, id=q.id, seq=q.seq) / Raw(bytes(q.payload))
        send(tx.encrypt(reply, seq_num=seq[0]))
        seq[0] += 1

    sniffer = sniff_esp(c, got, handle)
    time.sleep(0.5)
    print("ready", file=sys.stderr, flush=True)
    finish(c, sniffer, got, "requests")


def main():
    c = json.loads(sys.argv[1])
    conf.verb = 0
    if c.get("respond"):
        return respond(c)
    tx = sa_of(c, "send")
    ident = 0x5F1B
    got = {"sent": 0, "replies": 0, "reply_seqs": []}

    def handle(inner):
        if ICMP in inner and inner[ICMP].type == 0 and inner[ICMP].id == ident:
            got["replies"] += 1
            got["reply_seqs"].append(inner[ICMP].seq)

    sniffer = sniff_esp(c, got, handle)
    time.sleep(0.5)
    first = None
    seq = c.get("first_seq", 1)
    for i in range(c["count"]):
        inner = IP(src=c["inner_src"], dst=c["inner_dst"], ttl=64) / ICMP(id=ident, seq=i) / Raw(b"srcfib-ipsec-%04d" % i)
        pkt = tx.encrypt(inner, seq_num=seq)
        seq += 1
        first = first or pkt
        send(pkt)
        got["sent"] += 1
        time.sleep(0.02)
    if c.get("replay") and first is not None:
        send(first)
    if c.get("tamper"):
        inner = IP(src=c["inner_src"], dst=c["inner_dst"], ttl=64) / ICMP(id=ident, seq=999) / Raw(b"tampered")
        raw = bytearray(bytes(tx.encrypt(inner, seq_num=seq)))
        raw[-20] ^= 0x01
        send(IP(bytes(raw)))
    finish(c, sniffer, got, "replies")


if __name__ == "__main__":
    main()
