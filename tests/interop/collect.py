#!/usr/bin/python3
"""A minimal UDP flow collector for the interop tests (stdlib only).

Receives datagrams on HOST:PORT and writes them to a classic pcap with LINKTYPE_RAW (101):
each datagram gets a synthetic IPv4 + UDP header (source = the exporter's address and port,
destination = HOST:PORT, timestamp = arrival), so tshark, flowcheck and friends can read the
export as if it had been captured. Optionally also writes the bare messages back to back
(--raw-out: for IPFIX that is an IPFIX file, RFC 5655, which ipfixDump reads).

CLI:  collect.py --listen 127.0.0.1:0 -o export.pcap [--raw-out export.ipfix]
                 [--idle-exit 1.0] [--max-seconds 60]
Prints "listening HOST:PORT" once bound (port 0 = pick a free one) and exits on SIGTERM/SIGINT,
--idle-exit seconds after the last datagram, or --max-seconds.

Module: Collector(host) binds at once, .port, .start() receives in a thread,
.stop(idle=0.3) waits until the socket has been quiet for `idle` seconds, then
.messages = [(ts, (peer_host, peer_port), bytes)], .write_pcap(path), .write_raw(path).
"""
import argparse
import select
import signal
import socket
import struct
import sys
import threading
import time

LINKTYPE_RAW = 101


def ip_checksum(b):
    if len(b) % 2:
        b += b'\x00'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def write_pcap(path, messages, dst_host, dst_port):
    with open(path, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xA1B2C3D4, 2, 4, 0, 0, 262144, LINKTYPE_RAW))
        for ipid, (ts, (src, sport), data) in enumerate(messages, 1):
            udp_len = 8 + len(data)
            ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, min(20 + udp_len, 0xFFFF), ipid & 0xFFFF,
                             0x4000, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst_host))
            ip = ip[:10] + struct.pack('!H', ip_checksum(ip)) + ip[12:]
            pkt = ip + struct.pack('!HHHH', sport, dst_port, min(udp_len, 0xFFFF), 0) + data
            sec = int(ts)
            usec = min(int((ts - sec) * 1e6), 999999)
            f.write(struct.pack('<IIII', sec, usec, len(pkt), len(pkt)))
            f.write(pkt)


class Collector:
    def __init__(self, host='127.0.0.1', port=0, rcvbuf=16 << 20):
        self.host = host
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for opt in (33, socket.SO_RCVBUF):   # SO_RCVBUFFORCE (root), else SO_RCVBUF
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, rcvbuf)
                break
            except OSError:
                continue
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self.messages = []
        self.last_rx = time.monotonic()
        self._stop = threading.Event()
        self._thread = None

    def _poll(self, timeout):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return False
        while True:
            try:
                data, peer = self.sock.recvfrom(65535, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return True
            self.messages.append((time.time(), peer[:2], data))
            self.last_rx = time.monotonic()

    def _run(self):
        while not self._stop.is_set():
            self._poll(0.05)

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self, idle=0.3, max_wait=10.0):
        """Waits until nothing arrived for `idle` seconds (at most max_wait), then stops."""
        t_end = time.monotonic() + max_wait
        while time.monotonic() < t_end and time.monotonic() - self.last_rx < idle:
            time.sleep(0.05)
        if time.monotonic() - self.last_rx < idle:
            time.sleep(idle)
        self._stop.set()
        if self._thread:
            self._thread.join()
        while self._poll(0):
            pass
        self.sock.close()
        return self.messages

    def write_pcap(self, path):
        write_pcap(path, self.messages, self.host, self.port)

    def write_raw(self, path):
        with open(path, 'wb') as f:
            for _, _, data in self.messages:
                f.write(data)


def main():
    ap = argparse.ArgumentParser(description='UDP collector: datagrams -> LINKTYPE_RAW pcap')
    ap.add_argument('--listen', default='127.0.0.1:0', help='HOST:PORT (port 0 = any free port)')
    ap.add_argument('-o', '--output', required=True, help='pcap file to write')
    ap.add_argument('--raw-out', help='also write the bare messages back to back')
    ap.add_argument('--idle-exit', type=float, default=0,
                    help='exit this many seconds after the last datagram (0 = never)')
    ap.add_argument('--max-seconds', type=float, default=0, help='exit after this long (0 = never)')
    a = ap.parse_args()
    host, _, port = a.listen.rpartition(':')
    c = Collector(host or '127.0.0.1', int(port))
    print('listening %s:%d' % (c.host, c.port), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    t0 = time.monotonic()
    while not stop.is_set():
        got = c._poll(0.05)
        now = time.monotonic()
        if a.max_seconds and now - t0 >= a.max_seconds:
            break
        if a.idle_exit and c.messages and not got and now - c.last_rx >= a.idle_exit:
            break
    c.sock.close()
    c.write_pcap(a.output)
    if a.raw_out:
        c.write_raw(a.raw_out)
    print('collected %d messages, %d bytes' % (len(c.messages), sum(len(m[2]) for m in c.messages)),
          file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
