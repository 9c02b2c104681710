#!/usr/bin/python3
"""IPFIX session transports: IPFIX files (RFC 5655, with rotation) and IPFIX over TCP
(RFC 7011 §10.4), read back by libfixbuf's ipfixDump and by a small IPFIX decoder here.

usage: ipfix_tcp.py TAPFLOW SOURCE_ROOT

1. file      tapflow -r data/sample.pcap -e ipfix-file:OUT: ipfixDump --yaf reads OUT cleanly;
             its data records of templates 256-267 = tapflow's exported records; option records
             of templates 270, 273 and 274 are there. Rotation (a pcap crafted here: UDP flows
             over 12 s of packet time) by size (rotate-size=64K) and by time (rotate=2): several
             files, each read alone by ipfixDump and starting with the templates, flow records
             over all files = exported records, sequence numbers continuous from file to file.
2. tcp       a TCP collector here stores each connection's bytes; ipfixDump reads them; records
             = exported; every message's sequence number = the previous one's + its data records
             (option records included).
3. restart   tapflow reads a FIFO fed slowly by this script (flows expire continuously); the
             collector is killed mid-export, stays down a few seconds (the 64K queue overflows:
             drops), comes back on the same port; tapflow reconnects (new session, templates
             first) and exits at end of input. Accounting against a jsonl export of the same run:
             received (both sessions) + dropped + lost in flight = every record; every drop is a
             sequence gap at the collector; --stats sessions 2, drops > 0, connect failures > 0;
             the final statistics option record (template 270) agrees with all that.
4. no collector  a closed port: tapflow exits 0 soon after linger, everything counted as
             dropped, connect failures counted, stderr says the messages were not sent.
"""
import glob
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import common  # noqa: E402
from collect import ip_checksum  # noqa: E402

FLOW_TIDS = range(256, 268)          # data templates: plain and application flows, v4 and v6
STATS_TID, IFACE_TID, APP_TID = 270, 273, 274
IE_EXPORTED_FLOWS, IE_NOT_SENT = 42, 166
BASE_S = 1704067200                  # 2024-01-01 00:00:00 UTC: packet time of crafted pcaps


# ---------------------------------------------------------------- packets crafted here

def udp_frame(i, payload=b'tapflow-test-pkt'):
    """Ethernet frame of flow number i: a UDP packet with a 5-tuple of its own; every 10th is
    IPv6. Never port 53/80/443, so no dissector is involved."""
    sport, dport = 1024 + i % 60000, 9999
    udp_len = 8 + len(payload)
    eth = b'\x02\x00\x00\x00\x00\x02' + b'\x02\x00\x00\x00\x00\x01'
    if i % 10 == 9:
        src = b'\x20\x01\x0d\xb8' + b'\x00' * 8 + struct.pack('!I', i)
        dst = b'\x20\x01\x0d\xb8' + b'\x00' * 11 + b'\x01'
        pseudo = src + dst + struct.pack('!IxxxB', udp_len, 17)
        udp = struct.pack('!HHHH', sport, dport, udp_len, 0) + payload
        udp = udp[:6] + struct.pack('!H', ip_checksum(pseudo + udp) or 0xFFFF) + udp[8:]
        ip6 = struct.pack('!IHBB', 6 << 28, udp_len, 17, 64) + src + dst
        return eth + b'\x86\xdd' + ip6 + udp
    src = bytes([10, (i >> 16) & 255, (i >> 8) & 255, i & 255])
    dst = bytes([192, 0, 2, 1])
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + udp_len, i & 0xFFFF, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack('!H', ip_checksum(ip)) + ip[12:]
    return eth + b'\x08\x00' + ip + struct.pack('!HHHH', sport, dport, udp_len, 0) + payload


def pcap_header():
    return struct.pack('<IHHiIII', 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def pcap_record(ts_ns, frame):
    return struct.pack('<IIII', ts_ns // 10**9, ts_ns % 10**9 // 1000, len(frame),
                       len(frame)) + frame


# ---------------------------------------------------------------- IPFIX decoding

class Malformed(Exception):
    pass


class Message:
    def __init__(self, seq, export_time, data_records, templates, records):
        self.seq = seq
        self.export_time = export_time
        self.data_records = data_records   # what the sequence number counts (options included)
        self.templates = templates          # template ids defined in this message
        self.records = records              # [(tid, {ie: bytes})], enterprise IEs as (pen, ie)

    def flow_records(self):
        return sum(1 for tid, _ in self.records if tid in FLOW_TIDS)


def split_messages(buf):
    """Whole IPFIX messages in buf, and the number of bytes after the last whole one."""
    out, off = [], 0
    while off + 16 <= len(buf):
        ver, length = struct.unpack_from('!HH', buf, off)
        if ver != 10 or length < 16:
            raise Malformed('offset %d: version %d, length %d' % (off, ver, length))
        if off + length > len(buf):
            break
        out.append(buf[off:off + length])
        off += length
    return out, len(buf) - off


class Session:
    """Decodes the messages of one transport session (templates live as long as it)."""

    def __init__(self):
        self.templates = {}   # tid -> [(key, length)]

    def _template(self, body, off, options):
        tid, count = struct.unpack_from('!HH', body, off)
        off += 4
        if options:
            off += 2   # scope field count
        fields = []
        for _ in range(count):
            ie, length = struct.unpack_from('!HH', body, off)
            off += 4
            key = ie
            if ie & 0x8000:
                key = (struct.unpack_from('!I', body, off)[0], ie & 0x7FFF)
                off += 4
            fields.append((key, length))
        if off > len(body):
            raise Malformed('template %d runs past its set' % tid)
        self.templates[tid] = fields
        return tid, off

    def _records(self, tid, body):
        fields = self.templates.get(tid)
        if fields is None:
            raise Malformed('data set %d before its template' % tid)
        min_len = sum(1 if n == 65535 else n for _, n in fields)
        recs, off = [], 0
        while len(body) - off >= max(min_len, 1):
            rec = {}
            for key, n in fields:
                if n == 65535:
                    n = body[off]
                    off += 1
                    if n == 255:
                        n = struct.unpack_from('!H', body, off)[0]
                        off += 2
                if off + n > len(body):
                    raise Malformed('record of template %d runs past its set' % tid)
                rec[key] = body[off:off + n]
                off += n
            recs.append((tid, rec))
        if any(body[off:]):
            raise Malformed('%d bytes after the records of set %d are not padding'
                            % (len(body) - off, tid))
        return recs

    def decode(self, msg):
        _, length, export_time, seq, _ = struct.unpack_from('!HHIII', msg)
        off, tids, records = 16, [], []
        while off < length:
            if off + 4 > length:
                raise Malformed('set header cut at %d' % off)
            sid, slen = struct.unpack_from('!HH', msg, off)
            if slen < 4 or off + slen > length:
                raise Malformed('set %d of length %d at %d in a message of %d'
                                % (sid, slen, off, length))
            body = msg[off + 4:off + slen]
            if sid in (2, 3):
                p = 0
                while len(body) - p >= 4:
                    tid, p = self._template(body, p, sid == 3)
                    tids.append(tid)
            elif sid >= 256:
                records += self._records(sid, body)
            else:
                raise Malformed('set id %d' % sid)
            off += slen
        return Message(seq, export_time, len(records), tids, records)


def decode_stream(buf):
    """Decodes one session's bytes. Returns (messages, trailing bytes of a cut message)."""
    raw, rest = split_messages(buf)
    s = Session()
    return [s.decode(m) for m in raw], rest


def seq_gaps(msgs):
    """[(index, records missing before msgs[index])] where the sequence is not continuous."""
    gaps = []
    for i in range(1, len(msgs)):
        want = (msgs[i - 1].seq + msgs[i - 1].data_records) & 0xFFFFFFFF
        if msgs[i].seq != want:
            gaps.append((i, (msgs[i].seq - want) & 0xFFFFFFFF))
    return gaps


def uint(b):
    return int.from_bytes(b, 'big')


def stats_records(msgs):
    return [r for m in msgs for tid, r in m.records if tid == STATS_TID]


# ---------------------------------------------------------------- ipfixDump

def ipfixdump(path):
    """Runs ipfixDump --yaf; returns (ok, {tid: data records}, stderr, template ids)."""
    d = subprocess.run(['ipfixDump', '--yaf', '--in', path], capture_output=True, text=True)
    per_tid = {}
    for tid in re.findall(r'^--- data record \d+ ---\nheader:\n\s*count:\s*\d+\s+tid:\s+(\d+)',
                          d.stdout, re.M):
        per_tid[int(tid)] = per_tid.get(int(tid), 0) + 1
    tmpl = sorted(set(int(x) for x in re.findall(
        r'^--- (?:options )?template record ---\nheader:\n\s*tid:\s+(\d+)', d.stdout, re.M)))
    return d.returncode == 0 and not d.stderr.strip(), per_tid, d.stderr.strip(), tmpl


def sequence_warnings(stderr):
    """ipfixDump's 'out of sequence' warnings: [(expected, got)]; and the other stderr lines."""
    warn = [(int(a, 16), int(b, 16)) for a, b in re.findall(
        r'IPFIX Message out of sequence \(in domain \w+, expected 0x([0-9a-f]+), '
        r'got 0x([0-9a-f]+)\)', stderr)]
    other = [line for line in stderr.splitlines()
             if line.strip() and 'out of sequence' not in line]
    return warn, other


def flow_count(per_tid):
    return sum(n for t, n in per_tid.items() if t in FLOW_TIDS)


# ---------------------------------------------------------------- TCP collector

class TcpCollector:
    """Listens on 127.0.0.1:port; every accepted connection's bytes go to a file of its own.
    kill() is a collector dying: it reads what has already arrived, then closes everything."""

    def __init__(self, work, tag, port=0):
        self.work, self.tag = work, tag
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # The same port again after a kill: the killed connection is in TIME_WAIT on our side.
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(('127.0.0.1', port))
        self.lsock.listen(8)
        self.lsock.settimeout(0.02)
        self.port = self.lsock.getsockname()[1]
        self.conns = []          # dicts: path, bytes, eof, thread
        self.lock = threading.Lock()
        self._kill = threading.Event()
        self._stop = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self):
        while not (self._kill.is_set() or self._stop.is_set()):
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            with self.lock:
                c = {'path': self.work('%s-conn%d.ipfix' % (self.tag, len(self.conns) + 1)),
                     'bytes': 0, 'eof': False}
                c['thread'] = threading.Thread(target=self._read, args=(s, c), daemon=True)
                self.conns.append(c)
            c['thread'].start()
        self.lsock.close()

    def _read(self, s, c):
        with open(c['path'], 'wb') as f:
            while True:
                r, _, _ = select.select([s], [], [], 0.02)
                if self._kill.is_set():
                    # Whatever the kernel already holds is read; the rest dies with the socket.
                    while True:
                        try:
                            data = s.recv(1 << 16, socket.MSG_DONTWAIT)
                        except (BlockingIOError, ConnectionError):
                            break
                        if not data:
                            break
                        f.write(data)
                        c['bytes'] += len(data)
                    break
                if r:
                    try:
                        data = s.recv(1 << 16)
                    except ConnectionError:
                        data = b''
                    if not data:
                        c['eof'] = True
                        break
                    f.write(data)
                    f.flush()
                    c['bytes'] += len(data)
        s.close()

    def received(self):
        with self.lock:
            return sum(c['bytes'] for c in self.conns)

    def kill(self):
        self._kill.set()
        self._acceptor.join()
        for c in list(self.conns):
            c['thread'].join()

    def stop(self, timeout=15.0):
        """Stops accepting; waits for every connection to be closed by the exporter."""
        self._stop.set()
        self._acceptor.join()
        t_end = time.monotonic() + timeout
        for c in list(self.conns):
            c['thread'].join(max(0.0, t_end - time.monotonic()))
        if any(c['thread'].is_alive() for c in self.conns):
            self.kill()

    def files(self):
        return [c['path'] for c in self.conns]


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def exporter_stats(st, prefix):
    for e in (st or {}).get('exporters', []):
        if e['uri'].startswith(prefix):
            return e
    return None


# ---------------------------------------------------------------- 1. IPFIX files

def check_file(ck, tapflow, src, work):
    out = work('out.ipfix')
    p, st = common.run_tapflow(tapflow, ['-r', common.sample_pcap(src), '-q',
                                         '-e', 'ipfix-file:' + out], stats=work('file.json'))
    ck.equal('file: tapflow exit code', 0, p.returncode)
    e = exporter_stats(st, 'ipfix-file:')
    ok, per_tid, err, _ = ipfixdump(out)
    ck.check('file: ipfixDump --yaf reads it cleanly', ok, err[:300])
    ck.equal('file: ipfixDump flow records (templates 256-267) == tapflow records',
             e and e['records'], flow_count(per_tid))
    ck.check('file: option records of templates 270, 273, 274 present',
             all(per_tid.get(t, 0) > 0 for t in (STATS_TID, IFACE_TID, APP_TID)),
             'records per template %s' % sorted(per_tid.items()))
    msgs, rest = decode_stream(read(out))
    ck.check('file: sequence numbers continuous, no cut message',
             not seq_gaps(msgs) and rest == 0, 'gaps %s, %d trailing bytes' % (seq_gaps(msgs), rest))

    # Rotation on a pcap crafted here: 6000 one-packet UDP flows over 12 s of packet time.
    pcap = work('rotate.pcap')
    with open(pcap, 'wb') as f:
        f.write(pcap_header())
        for i in range(6000):
            f.write(pcap_record(BASE_S * 10**9 + i * 2 * 10**6, udp_frame(i)))
    os.mkdir(work('by-size'))
    os.mkdir(work('by-time'))
    p, st = common.run_tapflow(tapflow, [
        '-r', pcap, '-q', '--no-dpi', '--inactive-timeout', '1',
        '-e', 'ipfix-file:%s?rotate-size=64K' % work('by-size', 'flows.ipfix'),
        '-e', 'ipfix-file:%s?rotate=2' % work('by-time', 'flows.ipfix')], stats=work('rot.json'))
    ck.equal('rotate: tapflow exit code', 0, p.returncode)
    for kind, prefix in (('size', 'ipfix-file:' + work('by-size')),
                         ('time', 'ipfix-file:' + work('by-time'))):
        e = exporter_stats(st, prefix)
        files = sorted(glob.glob(work('by-' + kind, 'flows.ipfix*')))
        ck.check('rotate-%s: several files, one per session' % kind,
                 len(files) >= 3 and e is not None and e['sessions'] == len(files),
                 '%d files, sessions %s' % (len(files), e and e['sessions']))
        total_dump = total_py = 0
        bad, no_tmpl, too_big, too_long = [], [], [], []
        sessions = []
        for path in files:
            ok, per_tid, err, _ = ipfixdump(path)
            if not ok:
                bad.append('%s: %s' % (os.path.basename(path), err[:200]))
            total_dump += flow_count(per_tid)
            try:
                msgs, rest = decode_stream(read(path))
            except Malformed as ex:
                bad.append('%s: %s' % (os.path.basename(path), ex))
                continue
            total_py += sum(m.flow_records() for m in msgs)
            # The first message announces every data and options template (no application
            # table, 274, with --no-dpi).
            first = set(msgs[0].templates) if msgs else set()
            if not (set(FLOW_TIDS) | {STATS_TID, IFACE_TID}) <= first or rest:
                no_tmpl.append(os.path.basename(path))
            if kind == 'size' and os.path.getsize(path) > 65536 and len(msgs) > 1:
                too_big.append('%s %d B' % (os.path.basename(path), os.path.getsize(path)))
            if kind == 'time' and msgs and msgs[-1].export_time - msgs[0].export_time > 2:
                too_long.append(os.path.basename(path))
            sessions.append(msgs)
        ck.check('rotate-%s: ipfixDump reads every file on its own' % kind, not bad,
                 '; '.join(bad))
        ck.check('rotate-%s: every file starts with all templates' % kind, not no_tmpl,
                 'without: %s' % no_tmpl)
        if kind == 'size':
            ck.check('rotate-size: no file over 64K', not too_big, ', '.join(too_big))
        else:
            ck.check('rotate-time: no file spans more than 2 s of export time', not too_long,
                     ', '.join(too_long))
        ck.equal('rotate-%s: flow records over all files (ipfixDump) == tapflow records' % kind,
                 e and e['records'], total_dump)
        ck.equal('rotate-%s: flow records over all files (decoded here)' % kind, total_dump,
                 total_py)
        # Each file on its own is continuous, and file k+1 goes on where file k ended. A
        # preamble numbers itself so that its option records lead up to the message after it
        # (transport.hpp): the stream's count goes on from the previous file's last message to
        # the first message after the preamble.
        sessions = [ms for ms in sessions if len(ms) > 1]
        sessions.sort(key=lambda ms: ms[1].seq)
        breaks = [g for ms in sessions for g in seq_gaps(ms)]
        for a, b in zip(sessions, sessions[1:]):
            end = (a[-1].seq + a[-1].data_records) & 0xFFFFFFFF
            if b[1].seq != end:
                breaks.append(('next file starts at', b[1].seq, 'previous ended at', end))
        ck.check('rotate-%s: sequence numbers continuous in and across files' % kind,
                 len(sessions) == len(files) and not breaks, 'breaks %s' % breaks[:5])


# ---------------------------------------------------------------- 2. IPFIX over TCP

def check_tcp(ck, tapflow, src, work):
    col = TcpCollector(work, 'tcp')
    p, st = common.run_tapflow(tapflow, ['-r', common.sample_pcap(src), '-q', '-e',
                                         'ipfix+tcp://127.0.0.1:%d' % col.port],
                               stats=work('tcp.json'))
    col.stop()
    ck.equal('tcp: tapflow exit code', 0, p.returncode)
    e = exporter_stats(st, 'ipfix+tcp:')
    files = col.files()
    ck.check('tcp: one connection, closed by tapflow',
             len(files) == 1 and col.conns[0]['eof'] and e and e['sessions'] == 1,
             '%d connections, sessions %s' % (len(files), e and e['sessions']))
    if not files:
        return
    ok, per_tid, err, _ = ipfixdump(files[0])
    ck.check('tcp: ipfixDump --yaf reads the stream cleanly', ok, err[:300])
    ck.equal('tcp: ipfixDump flow records == tapflow records',
             e and e['records'] - e['records_dropped'], flow_count(per_tid))
    ck.check('tcp: option records of templates 270, 273, 274 present',
             all(per_tid.get(t, 0) > 0 for t in (STATS_TID, IFACE_TID, APP_TID)),
             'records per template %s' % sorted(per_tid.items()))
    try:
        msgs, rest = decode_stream(read(files[0]))
    except Malformed as ex:
        ck.check('tcp: stream decodes', False, str(ex))
        return
    ck.equal('tcp: flow records decoded here == ipfixDump', flow_count(per_tid),
             sum(m.flow_records() for m in msgs))
    gaps = seq_gaps(msgs)
    ck.check('tcp: sequence = previous sequence + previous data records, %d messages'
             % len(msgs), not gaps and rest == 0 and len(msgs) > 2,
             'gaps (message index, records) %s, %d trailing bytes' % (gaps[:5], rest))


# ---------------------------------------------------------------- 3. collector restart

class Feeder:
    """Writes a pcap into a FIFO as time goes by: RATE one-packet flows per second, packet time
    = wall time since start (so tapflow's timeouts, in packet time, follow the wall clock)."""
    RATE, STEP = 1000, 0.02

    def __init__(self, fifo, deadline):
        self.fd = None
        while self.fd is None:   # O_NONBLOCK: ENXIO until tapflow opens the read side
            try:
                self.fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        os.set_blocking(self.fd, True)
        os.write(self.fd, pcap_header())
        self.t0 = time.monotonic()
        self.n = 0

    def run(self, seconds, until=None):
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            due = int((time.monotonic() - self.t0) * self.RATE)
            chunk = []
            while self.n < due:
                ts = BASE_S * 10**9 + self.n * 10**9 // self.RATE
                chunk.append(pcap_record(ts, udp_frame(self.n)))
                self.n += 1
            if chunk:
                os.write(self.fd, b''.join(chunk))
            if until and until():
                return True
            time.sleep(self.STEP)
        return until() if until else True

    def close(self):
        os.close(self.fd)


def check_restart(ck, tapflow, work):
    fifo = work('feed.pcap')
    os.mkfifo(fifo)
    col = TcpCollector(work, 'up1')
    port = col.port
    jsonl = work('all.jsonl')
    uri = 'ipfix+tcp://127.0.0.1:%d?buffer=64K&backoff-max=1&linger=5' % port
    cmd = [tapflow, '-r', fifo, '--no-dpi', '--inactive-timeout', '1', '--active-timeout', '2',
           '-e', uri, '-e', 'jsonl:' + jsonl, '--stats', work('restart.json')]
    print('+ ' + ' '.join(cmd), flush=True)
    with open(work('restart.err'), 'w') as errf:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=errf)
    col2 = None
    rc = None
    # tapflow dying early must be a failed check, not a silent SIGPIPE of this script.
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        feed = Feeder(fifo, time.monotonic() + 10)
        # Up: records arrive (flows end 1 s after their packet, so wait for them).
        arrived = feed.run(8, until=lambda: col.received() > 20000)
        feed.run(1)
        ck.check('restart: records arrive while the collector is up', arrived,
                 '%d bytes' % col.received())
        # Killed while tapflow is running and exporting.
        t_kill = time.monotonic()
        col.kill()
        ck.check('restart: tapflow running when the collector dies', proc.poll() is None)
        # Down for 3 s: ~40 messages a second, the 64K queue holds ~48 of them.
        feed.run(3)
        col2 = TcpCollector(work, 'up2', port)
        print('collector down for %.1f s, back on port %d' % (time.monotonic() - t_kill, port))
        feed.run(6, until=lambda: col2.received() > 0)
        feed.run(1.5)
        print('fed %d packets' % feed.n)
        feed.close()
        rc = proc.wait(timeout=30)
    except (OSError, subprocess.TimeoutExpired) as ex:
        ck.check('restart: feeding tapflow through the FIFO until it exits', False, repr(ex))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if col2:
            col2.stop()
    stderr = read(work('restart.err')).decode(errors='replace')
    ck.equal('restart: tapflow exit code', 0, rc)
    if rc != 0:
        print(stderr)
        return
    with open(work('restart.json')) as f:
        st = json.load(f)
    e = exporter_stats(st, 'ipfix+tcp:')
    with open(jsonl) as f:
        total = sum(1 for line in f if line.strip())
    print('tcp exporter: %s' % json.dumps(e))
    print('jsonl records (every record of the run): %d' % total)

    # (b) what tapflow says happened
    ck.check('restart: --stats sessions == 2, records_dropped > 0, connect_failures > 0',
             e['sessions'] == 2 and e['records_dropped'] > 0 and e['connect_failures'] > 0,
             'sessions %d, records_dropped %d, connect_failures %d'
             % (e['sessions'], e['records_dropped'], e['connect_failures']))
    ck.equal('restart: tcp exporter records == jsonl records', total, e['records'])

    files1, files2 = col.files(), col2.files()
    ck.check('restart: one connection before the kill, one after',
             len(files1) == 1 and len(files2) == 1, 'before %d, after %d'
             % (len(files1), len(files2)))
    if len(files1) != 1 or len(files2) != 1:
        return
    # Session 1: everything up to the kill, the last message possibly cut by it.
    raw1 = read(files1[0])
    try:
        s1, cut = decode_stream(raw1)
        s2, rest2 = decode_stream(read(files2[0]))
    except Malformed as ex:
        ck.check('restart: both sessions decode', False, str(ex))
        return
    whole1 = work('up1-whole.ipfix')
    with open(whole1, 'wb') as f:
        f.write(raw1[:len(raw1) - cut])
    print('session 1: %d messages, %d flow records, %d bytes of a cut message at the kill'
          % (len(s1), sum(m.flow_records() for m in s1), cut))
    print('session 2: %d messages, %d flow records' % (len(s2), sum(m.flow_records() for m in s2)))
    dump_jumps = None
    for name, path, msgs in (('session 1', whole1, s1), ('session 2', files2[0], s2)):
        ok, per_tid, err, _ = ipfixdump(path)
        warn, other = sequence_warnings(err)
        if name == 'session 1':
            ck.check('restart: ipfixDump reads session 1 (whole messages) cleanly', ok, err[:300])
        else:
            # The messages dropped while the queue was full are sequence gaps, which ipfixDump
            # rightly warns about; nothing else may show on stderr.
            dump_jumps = sum((got - exp) & 0xFFFFFFFF for exp, got in warn)
            ck.check('restart: ipfixDump reads session 2, warning only about sequence gaps',
                     not other and bool(warn), err[:300])
        ck.equal('restart: %s flow records, ipfixDump == decoded here' % name,
                 sum(m.flow_records() for m in msgs), flow_count(per_tid))
    ck.equal('restart: session 2 ends with a whole message', 0, rest2)
    every = set(FLOW_TIDS) | {STATS_TID, IFACE_TID}   # --no-dpi: no application table
    ck.check('restart: each session starts with every template',
             s1 and s2 and every <= set(s1[0].templates) and every <= set(s2[0].templates))

    # Sequence numbers: session 1 has no gap (nothing dropped while connected); the gap from
    # session 1's last whole message to session 2's preamble (which numbers itself to lead up
    # to the first queued message) is what the kernel took but the dying collector never read;
    # the gaps inside session 2 are the messages dropped while the queue was full.
    gaps1, gaps2 = seq_gaps(s1), seq_gaps(s2)
    ck.check('restart: session 1 sequence continuous', not gaps1, 'gaps %s' % gaps1[:5])
    pre2 = s2[0]
    end1 = (s1[-1].seq + s1[-1].data_records) & 0xFFFFFFFF
    lost = ((pre2.seq + pre2.data_records) - end1) & 0xFFFFFFFF
    dropped_seen = sum(n for _, n in gaps2)
    received = sum(m.flow_records() for m in s1 + s2)
    per_msg = max(m.flow_records() for m in s1 + s2)
    print('received %d + dropped %d (--stats) + lost in flight %d = %d; jsonl %d; '
          'dropped seen as sequence gaps %d in %d places'
          % (received, e['records_dropped'], lost, received + e['records_dropped'] + lost,
             total, dropped_seen, len(gaps2)))
    # (a) Exact accounting. TCP cannot promise lost == 0: what tapflow wrote between the
    # collector's last read and its close() is accepted by the kernel (tapflow counts it as
    # sent) and discarded with the socket. This collector reads everything that arrived before
    # closing, and tapflow checks for the peer's FIN before each write, so the window is a few
    # microseconds to one 5 ms exporter tick: at most a couple of ~24-record messages.
    ck.equal('restart: received + dropped + lost in flight == every record (jsonl)', total,
             received + e['records_dropped'] + lost)
    ck.check('restart: lost in flight <= 2 messages', lost <= 2 * per_msg,
             '%d records lost in flight (messages hold up to %d)' % (lost, per_msg))
    ck.equal('restart: every dropped record is a sequence gap in session 2',
             e['records_dropped'], dropped_seen)
    ck.equal('restart: ipfixDump\'s sequence warnings add up to the dropped records',
             e['records_dropped'], dump_jumps)

    # (c) The final statistics record (sent in session 2 after the end of input).
    st2 = stats_records(s2)
    ck.check('restart: statistics record (template 270) in session 2', bool(st2))
    if st2:
        last = st2[-1]
        exported, not_sent = uint(last[IE_EXPORTED_FLOWS]), uint(last[IE_NOT_SENT])
        idx = max(i for i, m in enumerate(s2) if any(t == STATS_TID for t, _ in m.records))
        dropped_before = sum(n for i, n in gaps2 if i <= idx)
        print('final statistics record: exportedFlowRecordTotalCount %d, '
              'notSentFlowTotalCount %d; drops before it %d' % (exported, not_sent,
                                                                 dropped_before))
        ck.check('restart: notSentFlowTotalCount >= records dropped before it',
                 not_sent >= dropped_before, '%d vs %d' % (not_sent, dropped_before))
        ck.equal('restart: notSentFlowTotalCount == --stats records_dropped',
                 e['records_dropped'], not_sent)
        ck.equal('restart: exportedFlowRecordTotalCount + notSentFlowTotalCount == every record',
                 total, exported + not_sent)
        ck.equal('restart: exportedFlowRecordTotalCount == received + lost in flight',
                 received + lost, exported)
    ck.check('restart: stderr reports the messages not sent', 'not sent' in stderr,
             stderr.strip()[-300:])


# ---------------------------------------------------------------- 4. no collector

def check_no_collector(ck, tapflow, src, work):
    # Bound but not listening: connections to it are refused, and nobody else can take it.
    hold = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hold.bind(('127.0.0.1', 0))
    port = hold.getsockname()[1]
    t0 = time.monotonic()
    p, st = common.run_tapflow(tapflow, ['-r', common.sample_pcap(src), '-e',
                                         'ipfix+tcp://127.0.0.1:%d?linger=0.5' % port],
                               timeout=30, stats=work('down.json'))
    dt = time.monotonic() - t0
    hold.close()
    ck.equal('down: tapflow exit code', 0, p.returncode)
    ck.check('down: exits within 5 s', dt < 5, '%.2f s' % dt)
    e = exporter_stats(st, 'ipfix+tcp:')
    ck.check('down: --stats has the exporter', e is not None)
    if e:
        print('tcp exporter: %s' % json.dumps(e))
        ck.equal('down: records_dropped == records (every flow record)', e['records'],
                 e['records_dropped'])
        ck.check('down: connect_failures > 0, sessions == 0',
                 e['connect_failures'] > 0 and e['sessions'] == 0,
                 'connect_failures %d, sessions %d' % (e['connect_failures'], e['sessions']))
    ck.check('down: stderr says the messages were not sent',
             re.search(r'messages \(\d+ records\) not sent', p.stderr) is not None,
             p.stderr.strip()[-300:])


def main():
    tapflow, src, _ = common.parse_args('')
    common.need_tools('ipfixDump')
    ck = common.Checks('ipfix_tcp')
    work = common.WorkDir('ipfix-tcp')
    for name, step in (('file', lambda: check_file(ck, tapflow, src, work)),
                       ('tcp', lambda: check_tcp(ck, tapflow, src, work)),
                       ('restart', lambda: check_restart(ck, tapflow, work)),
                       ('down', lambda: check_no_collector(ck, tapflow, src, work))):
        t = time.monotonic()
        try:
            step()
        except Exception:   # one broken part must not hide the others' results
            ck.check('%s: runs to the end' % name, False, traceback.format_exc())
        print('(%s: %.1f s)' % (name, time.monotonic() - t), flush=True)
    work.cleanup(keep=bool(ck.failed))
    ck.finish()


if __name__ == '__main__':
    main()
