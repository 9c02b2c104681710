#!/usr/bin/python3
"""Writes data/sample.pcap (a few hundred packets of mixed traffic, deterministic) and
data/sample.truth.csv (one row per unidirectional flow, same header and definitions as
../shared/corpus/truth/*.csv, L7 columns left empty).

Usage: /usr/bin/python3 tools/mksample.py [--out-dir DIR]     (default: data/ of the checkout)

Traffic (timestamps from 2024-01-01T00:00:00Z, fixed seed, no wall clock anywhere):
  IPv4 and IPv6 TCP sessions (handshake, requests, responses, FIN close), one TCP session
  reset by the client (RST) and one refused connection (SYN -> RST/ACK), DNS queries and
  responses on port 53 (IPv4 A and IPv6 AAAA), NTP on port 123 (ToS 0xb8), ICMP and ICMPv6
  echo, one 802.1Q-tagged UDP flow (VLAN 100), one IPv4 UDP datagram in three fragments,
  two ARP frames (not IP: not in the truth), several ToS / traffic class values. Frames
  shorter than 60 bytes are padded with zeros like a NIC does, so IP-layer bytes differ from
  frame bytes.

The truth is computed from the frame bytes by the small decoder at the end of this file
(stdlib only, independent of scapy and of tapflow): key = (src, dst, proto, sport, dport,
tos, vlan); ICMP sport 0, dport type*256+code; bytes = IPv4 total length / IPv6 payload
length + 40; non-first fragments take the ports of the first fragment with the same
(src, dst, proto, IP id); times are integer microseconds.
"""
import argparse
import csv
import ipaddress
import os
import random
import struct
import sys

from scapy.all import (ARP, DNS, DNSQR, DNSRR, ICMP, IP, IPv6, TCP, UDP, Dot1Q, Ether,
                       ICMPv6EchoReply, ICMPv6EchoRequest, Raw, fragment)

SEED = 20240101
T0_US = 1704067200 * 1_000_000          # 2024-01-01T00:00:00Z
MSS = 1448
HEADER = ('src,dst,proto,sport,dport,tos,vlan,packets,bytes,first_us,last_us,tcp_flags,'
          'sni,http_host,http_ua,http_method,http_uri,http_status,dns_qname,dns_qtype,'
          'dns_rcode').split(',')

MAC = {
    '192.168.1.10': '02:00:00:00:01:0a', '192.168.1.11': '02:00:00:00:01:0b',
    '192.168.1.12': '02:00:00:00:01:0c', '2001:db8::10': '02:00:00:00:01:0a',
}
GW_MAC = '02:00:00:00:00:01'


class Sample:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.frames = []          # (t_us, bytes)
        self.ip_id = self.rng.randrange(1, 0xFFFF)

    def next_id(self):
        self.ip_id = (self.ip_id + self.rng.randrange(1, 7)) & 0xFFFF
        return self.ip_id

    def add(self, t_us, pkt):
        raw = bytes(pkt)
        if len(raw) < 60:
            raw += b'\x00' * (60 - len(raw))      # Ethernet minimum frame (FCS not captured)
        self.frames.append((t_us, raw))

    def l2(self, src, dst, vlan=None):
        e = Ether(src=MAC.get(src, GW_MAC), dst=MAC.get(dst, GW_MAC))
        return e / Dot1Q(vlan=vlan) if vlan is not None else e

    def l3(self, src, dst, tos=0, ttl=64):
        if ':' in src:
            return IPv6(src=src, dst=dst, tc=tos, hlim=ttl, fl=0)
        return IP(src=src, dst=dst, tos=tos, ttl=ttl, id=self.next_id(), flags='DF')

    def tcp_session(self, t, cli, srv, cport, sport, requests, tos=0, rtt_us=20000,
                    close='fin'):
        """requests: list of (request bytes, response bytes). close: 'fin' or 'rst'."""
        rng = self.rng
        cseq, sseq = rng.randrange(1 << 32), rng.randrange(1 << 32)

        def c2s(tt, flags, payload=b'', opts=None):
            nonlocal cseq
            seg = TCP(sport=cport, dport=sport, flags=flags, seq=cseq,
                      ack=sseq if 'A' in flags else 0, window=64240, options=opts or [])
            self.add(tt, self.l2(cli, srv) / self.l3(cli, srv, tos) / seg /
                     (Raw(payload) if payload else b''))
            cseq = (cseq + len(payload) + (1 if flags in ('S', 'FA') else 0)) & 0xFFFFFFFF

        def s2c(tt, flags, payload=b'', opts=None):
            nonlocal sseq
            seg = TCP(sport=sport, dport=cport, flags=flags, seq=sseq, ack=cseq,
                      window=65160, options=opts or [])
            self.add(tt, self.l2(srv, cli) / self.l3(srv, cli, tos, ttl=57) / seg /
                     (Raw(payload) if payload else b''))
            sseq = (sseq + len(payload) + (1 if flags in ('SA', 'FA') else 0)) & 0xFFFFFFFF

        c2s(t, 'S', opts=[('MSS', 1460), ('SAckOK', b''), ('WScale', 7)])
        t += rtt_us
        s2c(t, 'SA', opts=[('MSS', 1460), ('SAckOK', b''), ('WScale', 7)])
        t += rtt_us // 2 + 37
        c2s(t, 'A')
        http = sport != 443
        for n, (req, resp) in enumerate(requests):
            t += rng.randrange(200, 3000)
            if http:        # plain HTTP/1.1 text so dissectors see well-formed traffic
                head = (b'GET /obj/%d HTTP/1.1\r\nHost: %s\r\nUser-Agent: curl/7.88.1\r\nX-Pad: '
                        % (n, srv.encode()))
                body = head + b'a' * max(0, req - len(head) - 4) + b'\r\n\r\n'
                hdr = b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: '
                clen = next(L for d in range(1, 6)
                            for L in [resp - len(hdr) - 4 - d] if len(str(L)) == d)
                hdr += b'%d\r\n\r\n' % clen
                resp_bytes = hdr + bytes(rng.randrange(97, 123) for _ in range(resp - len(hdr)))
            elif n == 0:    # TLS: ClientHello with SNI and ALPN, ServerHello, then opaque records
                body = client_hello('%s.example.%s' % (('www', 'api', 'cdn')[cport % 3],
                                                      'com' if ':' not in srv else 'net'))
                sh = server_hello()
                resp_bytes = sh + bytes(rng.randrange(256) for _ in range(max(0, resp - len(sh))))
                resp = len(resp_bytes)
            else:
                body = bytes(rng.randrange(32, 127) for _ in range(req))
                resp_bytes = bytes(rng.randrange(256) for _ in range(resp))
            c2s(t, 'PA', body)
            t += rtt_us // 2 + rng.randrange(50, 400)
            s2c(t, 'A')
            left = resp
            while left > 0:
                chunk = min(MSS, left)
                left -= chunk
                t += rng.randrange(30, 300)
                s2c(t, 'PA' if left == 0 else 'A', resp_bytes[resp - left - chunk:resp - left])
                if left == 0 or (resp - left) // MSS % 2 == 0:
                    t += rtt_us // 2 + rng.randrange(10, 90)
                    c2s(t, 'A')
            if close == 'rst' and n == len(requests) - 1:
                t += rng.randrange(1000, 5000)
                c2s(t, 'RA')
                return t
        t += rng.randrange(500, 4000)
        c2s(t, 'FA')
        t += rtt_us // 2 + 60
        s2c(t, 'FA')
        t += rtt_us // 2 + 40
        c2s(t, 'A')
        return t

    def refused(self, t, cli, srv, cport, sport):
        seq = self.rng.randrange(1 << 32)
        self.add(t, self.l2(cli, srv) / self.l3(cli, srv) /
                 TCP(sport=cport, dport=sport, flags='S', seq=seq, window=64240))
        self.add(t + 310, self.l2(srv, cli) / self.l3(srv, cli, ttl=57) /
                 TCP(sport=sport, dport=cport, flags='RA', seq=0, ack=seq + 1, window=0))

    def dns(self, t, cli, srv, cport, name, v6=False):
        qtype = 'AAAA' if v6 else 'A'
        txid = self.rng.randrange(1 << 16)
        q = DNS(id=txid, rd=1, qd=DNSQR(qname=name, qtype=qtype))
        self.add(t, self.l2(cli, srv) / self.l3(cli, srv) / UDP(sport=cport, dport=53) / q)
        if v6:
            an = DNSRR(rrname=name, type='AAAA', ttl=300,
                       rdata='2001:db8:%x::%x' % (self.rng.randrange(1, 0xffff), self.rng.randrange(1, 0xff)))
        else:
            an = DNSRR(rrname=name, type='A', ttl=300,
                       rdata='93.184.%d.%d' % (self.rng.randrange(256), self.rng.randrange(1, 255)))
        r = DNS(id=txid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype=qtype), an=an)
        self.add(t + self.rng.randrange(8000, 30000),
                 self.l2(srv, cli) / self.l3(srv, cli, ttl=117) / UDP(sport=53, dport=cport) / r)


def client_hello(sni):
    """A TLS 1.3 ClientHello record (RFC 8446 4.1.2) with server_name, ALPN, supported_versions."""
    name = sni.encode()
    sn = struct.pack('!BH', 0, len(name)) + name
    alpn = b'\x02h2\x08http/1.1'
    exts = (struct.pack('!HHH', 0, len(sn) + 2, len(sn)) + sn +
            struct.pack('!HHH', 16, len(alpn) + 2, len(alpn)) + alpn +
            struct.pack('!HHB', 43, 5, 4) + b'\x03\x04\x03\x03')
    body = (b'\x03\x03' + bytes(range(32)) + b'\x00' + struct.pack('!H', 4) + b'\x13\x01\x13\x02' +
            b'\x01\x00' + struct.pack('!H', len(exts)) + exts)
    hs = b'\x01' + struct.pack('!I', len(body))[1:] + body
    return b'\x16\x03\x01' + struct.pack('!H', len(hs)) + hs


def server_hello():
    exts = struct.pack('!HHH', 43, 2, 0x0304)
    body = (b'\x03\x03' + bytes(range(32, 64)) + b'\x00' + b'\x13\x01' + b'\x00' +
            struct.pack('!H', len(exts)) + exts)
    hs = b'\x02' + struct.pack('!I', len(body))[1:] + body
    return b'\x16\x03\x03' + struct.pack('!H', len(hs)) + hs


def build():
    s = Sample(SEED)
    rng = s.rng
    web4 = ['10.0.0.1', '10.0.0.2', '203.0.113.80']
    # IPv4 TCP sessions (HTTP-like), ToS 0 except one with 0x10 (low delay).
    for i in range(9):
        t = T0_US + 20_000 + i * 700_000 + rng.randrange(0, 100_000)
        reqs = [(rng.randrange(80, 400), rng.randrange(200, 6000)) for _ in range(1 + i % 3)]
        s.tcp_session(t, '192.168.1.10', web4[i % 3], 40000 + i * 7, 80 if i % 2 else 443,
                      reqs, tos=0x10 if i == 4 else 0, rtt_us=rng.randrange(5000, 40000))
    # IPv6 TCP sessions, one with traffic class 0x28 (AF11).
    for i in range(3):
        t = T0_US + 300_000 + i * 1_900_000
        reqs = [(rng.randrange(100, 300), rng.randrange(1500, 5000)) for _ in range(2)]
        s.tcp_session(t, '2001:db8::10', '2001:db8:1::80', 50000 + i, 443, reqs,
                      tos=0x28 if i == 1 else 0, rtt_us=rng.randrange(8000, 30000))
    # A session the client resets after the first response, and a refused connection.
    s.tcp_session(T0_US + 2_500_000, '192.168.1.11', '10.0.0.2', 43210, 8080,
                  [(150, 3000)], close='rst', rtt_us=12000)
    s.refused(T0_US + 3_100_000, '192.168.1.11', '10.0.0.1', 43333, 23)
    # DNS: A over IPv4, AAAA over IPv6.
    names = ['example.com', 'www.example.org', 'mail.example.net', 'ntp.example.com',
             'cdn.example.com', 'api.example.org', 'static.example.net', 'login.example.com']
    for i in range(16):
        s.dns(T0_US + 10_000 + i * 550_000 + rng.randrange(0, 50_000), '192.168.1.10', '9.9.9.9',
              rng.randrange(20000, 60000), names[i % len(names)])
    for i in range(4):
        s.dns(T0_US + 150_000 + i * 2_000_000, '2001:db8::10', '2001:db8::53',
              rng.randrange(20000, 60000), names[i], v6=True)
    # NTP client/server, ToS 0xb8 (EF), one exchange a second.
    for i in range(8):
        t = T0_US + 500_000 + i * 1_000_000
        ntp = bytes([0x23, 0, 6, 0xec]) + bytes(44)
        s.add(t, s.l2('192.168.1.12', '192.168.1.1') / s.l3('192.168.1.12', '192.168.1.1', 0xb8) /
              UDP(sport=123, dport=123) / Raw(ntp))
        s.add(t + 1800, s.l2('192.168.1.1', '192.168.1.12') /
              s.l3('192.168.1.1', '192.168.1.12', 0xb8) / UDP(sport=123, dport=123) /
              Raw(bytes([0x24, 2, 6, 0xe9]) + bytes(rng.randrange(256) for _ in range(44))))
    # ICMP echo (IPv4) and ICMPv6 echo.
    for i in range(10):
        t = T0_US + 1_000_000 + i * 500_000
        pay = bytes(range(56))
        s.add(t, s.l2('192.168.1.11', '10.0.0.1') / s.l3('192.168.1.11', '10.0.0.1') /
              ICMP(type=8, id=0x4d2, seq=i + 1) / Raw(pay))
        s.add(t + 9000, s.l2('10.0.0.1', '192.168.1.11') / s.l3('10.0.0.1', '192.168.1.11', ttl=60) /
              ICMP(type=0, id=0x4d2, seq=i + 1) / Raw(pay))
    for i in range(8):
        t = T0_US + 1_200_000 + i * 600_000
        pay = bytes(range(32))
        s.add(t, s.l2('2001:db8::10', '2001:db8:1::1') / s.l3('2001:db8::10', '2001:db8:1::1') /
              ICMPv6EchoRequest(id=0x77, seq=i + 1, data=pay))
        s.add(t + 7000, s.l2('2001:db8:1::1', '2001:db8::10') /
              s.l3('2001:db8:1::1', '2001:db8::10', ttl=60) / ICMPv6EchoReply(id=0x77, seq=i + 1, data=pay))
    # One 802.1Q-tagged flow: syslog on VLAN 100, small messages (padded frames).
    for i in range(12):
        msg = b'<14>host%d: tick %d' % (i % 3, i)
        s.add(T0_US + 700_000 + i * 400_000,
              s.l2('172.16.0.5', '172.16.0.1', vlan=100) / s.l3('172.16.0.5', '172.16.0.1') /
              UDP(sport=40514, dport=514) / Raw(msg))
    # One UDP datagram of 3200 payload bytes, fragmented into three IPv4 fragments.
    dgram = (IP(src='192.168.1.12', dst='192.168.1.20', id=0x1234, ttl=64) /
             UDP(sport=5000, dport=5001) / Raw(bytes(rng.randrange(256) for _ in range(3200))))
    for k, frag in enumerate(fragment(dgram, fragsize=1480)):
        s.add(T0_US + 4_000_000 + k * 120, s.l2('192.168.1.12', '192.168.1.20') / frag)
    # Two ARP frames: not IP, ignored by flow accounting.
    s.add(T0_US + 5_000, Ether(src=MAC['192.168.1.10'], dst='ff:ff:ff:ff:ff:ff') /
          ARP(op=1, hwsrc=MAC['192.168.1.10'], psrc='192.168.1.10', pdst='192.168.1.1'))
    s.add(T0_US + 5_400, Ether(src=GW_MAC, dst=MAC['192.168.1.10']) /
          ARP(op=2, hwsrc=GW_MAC, psrc='192.168.1.1', hwdst=MAC['192.168.1.10'], pdst='192.168.1.10'))
    s.frames.sort(key=lambda f: f[0])       # stable: equal times keep insertion order
    return s.frames


def write_pcap(path, frames):
    with open(path, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t_us, raw in frames:
            f.write(struct.pack('<IIII', t_us // 1_000_000, t_us % 1_000_000, len(raw), len(raw)))
            f.write(raw)


def truth(frames):
    """Per-flow truth from the frame bytes (Ethernet, 802.1Q, IPv4, IPv6, TCP/UDP/ICMP)."""
    flows = {}
    frag_ports = {}
    for t_us, b in frames:
        vlan = 0
        et = struct.unpack_from('!H', b, 12)[0]
        off = 14
        while et in (0x8100, 0x88A8):
            if not vlan:
                vlan = struct.unpack_from('!H', b, off)[0] & 0x0FFF
            et = struct.unpack_from('!H', b, off + 2)[0]
            off += 4
        sport = dport = 0
        if et == 0x0800:
            ihl = (b[off] & 0x0F) * 4
            tos = b[off + 1]
            length, ipid, frag = struct.unpack_from('!HHH', b, off + 2)
            proto = b[off + 9]
            src = str(ipaddress.IPv4Address(b[off + 12:off + 16]))
            dst = str(ipaddress.IPv4Address(b[off + 16:off + 20]))
            l4 = off + ihl
            first = (frag & 0x1FFF) == 0
            more = bool(frag & 0x2000)
        elif et == 0x86DD:
            vtf = struct.unpack_from('!I', b, off)[0]
            tos = (vtf >> 20) & 0xFF
            plen, proto = struct.unpack_from('!HB', b, off + 4)
            length = plen + 40
            src = str(ipaddress.IPv6Address(b[off + 8:off + 24]))
            dst = str(ipaddress.IPv6Address(b[off + 24:off + 40]))
            l4 = off + 40
            first, more, ipid = True, False, None
        else:
            continue
        flags = 0
        if first:
            if proto in (6, 17):
                sport, dport = struct.unpack_from('!HH', b, l4)
                if proto == 6:
                    flags = b[l4 + 13]
            elif proto in (1, 58):
                dport = b[l4] * 256 + b[l4 + 1]
            if more:
                frag_ports[(src, dst, proto, ipid)] = (sport, dport)
        else:
            sport, dport = frag_ports.get((src, dst, proto, ipid), (0, 0))
        key = (src, dst, proto, sport, dport, tos, vlan)
        f = flows.get(key)
        if f is None:
            f = flows[key] = [0, 0, t_us, t_us, 0]
        f[0] += 1
        f[1] += length
        f[2] = min(f[2], t_us)
        f[3] = max(f[3], t_us)
        f[4] |= flags
    rows = [list(k) + v + [''] * 9 for k, v in flows.items()]
    rows.sort(key=lambda r: (r[9], r[0], r[1], r[2], r[3], r[4], r[5], r[6]))
    return rows


def main():
    here = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out-dir', default=os.path.join(here, 'data'))
    a = ap.parse_args()
    frames = build()
    os.makedirs(a.out_dir, exist_ok=True)
    pcap = os.path.join(a.out_dir, 'sample.pcap')
    write_pcap(pcap, frames)
    rows = truth(frames)
    with open(os.path.join(a.out_dir, 'sample.truth.csv'), 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(HEADER)
        w.writerows(rows)
    print('%s: %d frames, %d flows, %d IP packets, %d IP bytes' % (
        pcap, len(frames), len(rows), sum(r[7] for r in rows), sum(r[8] for r in rows)))


if __name__ == '__main__':
    sys.exit(main())
