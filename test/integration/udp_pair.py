#!/usr/bin/python3
"""One plain UDP exchange between two namespaces, for tests that must see a datagram arrive as sent.

  udp_pair.py serve ADDR PORT TIMEOUT
      waits (at most TIMEOUT s) for one datagram on ADDR:PORT and answers it with "answer:" and
      what it got; "ready" on stderr once bound. Prints {"got": text or null}.
  udp_pair.py ask ADDR PORT TO_ADDR TO_PORT TIMEOUT
      sends "probe" from ADDR:PORT to TO_ADDR:TO_PORT and waits (at most TIMEOUT s) for the
      answer. Prints {"answer": text or null}.
"""
import json
import socket
import sys


def main():
    mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    if mode == "serve":
        s.settimeout(float(sys.argv[4]))
        print("ready", file=sys.stderr, flush=True)
        try:
            data, peer = s.recvfrom(2048)
        except socket.timeout:
            print(json.dumps({"got": None}))
            return
        s.sendto(b"answer:" + data, peer)
        print(json.dumps({"got": data.decode(errors="replace")}))
    else:
        s.settimeout(float(sys.argv[6]))
        s.sendto(b"probe", (sys.argv[4], int(sys.argv[5])))
        try:
            data, _ = s.recvfrom(2048)
            print(json.dumps({"answer": data.decode(errors="replace")}))
        except socket.timeout:
            print(json.dumps({"answer": None}))


if __name__ == "__main__":
    main()
