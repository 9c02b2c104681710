#!/usr/bin/python3
"""mkl7pcap.py - synthetic pcap with application payloads, for the DPI cost benchmark.

Writes N flows of P packets each, interleaved round-robin (so every flow is live at once), over
Ethernet/IPv4. A share of the flows (--l7-share, default 0.10) carries a message the dissectors
read in their first payload packet: a TLS ClientHello with SNI and ALPN (TCP 443), an HTTP/1.1
GET with Host and User-Agent (TCP 80) or a DNS query (UDP 53), one third each; the other flows
carry opaque TCP payload (an SSH banner, then random-looking bytes). Deterministic for a --seed.
Also writes FILE.json with packets/flows/l7 flow counts.

  mkl7pcap.py -o l7.pcap --flows 100000 --flow-packets 20 [--l7-share 0.1] [--seed 1]
"""
import argparse, json, random, struct

ap = argparse.ArgumentParser()
ap.add_argument('-o', '--output', required=True)
ap.add_argument('--flows', type=int, default=100000)
ap.add_argument('--flow-packets', type=int, default=20)
ap.add_argument('--l7-share', type=float, default=0.10)
ap.add_argument('--payload', type=int, default=200, help='bytes of opaque payload per packet')
ap.add_argument('--seed', type=int, default=1)
a = ap.parse_args()
rnd = random.Random(a.seed)


def client_hello(sni):
    exts = b''
    name = sni.encode()
    sn = struct.pack('!BH', 0, len(name)) + name
    exts += struct.pack('!HH', 0, len(sn) + 2) + struct.pack('!H', len(sn)) + sn
    alpn = b'\x02h2\x08http/1.1'
    exts += struct.pack('!HH', 16, len(alpn) + 2) + struct.pack('!H', len(alpn)) + alpn
    sv = b'\x04\x03\x04\x03\x03'
    exts += struct.pack('!HH', 43, len(sv)) + sv
    body = b'\x03\x03' + bytes(32) + b'\x00' + struct.pack('!H', 4) + b'\x13\x01\x13\x02' + b'\x01\x00'
    body += struct.pack('!H', len(exts)) + exts
    hs = b'\x01' + struct.pack('!I', len(body))[1:] + body
    return b'\x16\x03\x01' + struct.pack('!H', len(hs)) + hs


def http_get(i):
    return (f'GET /path/{i}/index.html?q={i * 7} HTTP/1.1\r\nHost: www{i % 97}.example.com\r\n'
            f'User-Agent: Mozilla/5.0 (X11; Linux x86_64) bench/{i % 13}\r\nAccept: */*\r\n\r\n').encode()


def dns_query(i):
    name = f'host{i}.example{i % 31}.net'
    q = b''.join(bytes([len(l)]) + l.encode() for l in name.split('.')) + b'\x00'
    return struct.pack('!HHHHHH', i & 0xFFFF, 0x0100, 1, 0, 0, 0) + q + struct.pack('!HH', 1, 1)


ETH = bytes.fromhex('001122334455665544332211') + b'\x08\x00'
flows = []
n_l7 = 0
for f in range(a.flows):
    src = struct.pack('!I', 0x0A000000 + (f % 65000) + 1)
    dst = struct.pack('!I', 0xC0A80000 + (f // 65000) + 1)
    sport = 1024 + (f * 7) % 60000
    kind = 'opaque'
    if rnd.random() < a.l7_share:
        kind = ('tls', 'http', 'dns')[n_l7 % 3]
        n_l7 += 1
    if kind == 'tls':
        first, proto, dport = client_hello(f'svc{f}.example.org'), 6, 443
    elif kind == 'http':
        first, proto, dport = http_get(f), 6, 80
    elif kind == 'dns':
        first, proto, dport = dns_query(f), 17, 53
    else:
        first, proto, dport = b'SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n', 6, 22
    filler = bytes(rnd.getrandbits(8) for _ in range(a.payload))
    flows.append((src, dst, sport, dport, proto, first, filler))

out = open(a.output, 'wb')
out.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
t = 1700000000 * 1000000
pk = 0
buf = []
for p in range(a.flow_packets):
    for src, dst, sport, dport, proto, first, filler in flows:
        payload = first if p == 0 else filler
        if proto == 6:
            l4 = struct.pack('!HHIIBBHHH', sport, dport, 1000 + p * 1500, 1, 0x50,
                             0x18, 65535, 0, 0) + payload
        else:
            l4 = struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0, src, dst) + l4
        frame = ETH + ip
        t += 1
        buf.append(struct.pack('<IIII', t // 1000000, t % 1000000, len(frame), len(frame)) + frame)
        pk += 1
        if len(buf) >= 65536:
            out.write(b''.join(buf))
            buf = []
out.write(b''.join(buf))
out.close()
json.dump({'packets': pk, 'flows': a.flows, 'l7_flows': n_l7}, open(a.output + '.json', 'w'))
