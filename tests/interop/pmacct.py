#!/usr/bin/python3
"""Interop with pmacct 1.7 (nfacctd): tapflow exports data/sample.pcap over UDP on 127.0.0.1 to
nfacctd instances (one per destination, each with its own port, pidfile and log), whose print
plugins write JSON; tapflow's --stats and a jsonl: destination of the same run are the reference.

usage: pmacct.py TAPFLOW SOURCE_ROOT v9|ipfix

Two tapflow runs, each with a jsonl: destination beside the collectors:
  A  unsampled:   v9: v9://  (uptime times) and v9://...?v9-time=absolute; ipfix: ipfix://
  B  --sample 10: the same format to an nfacctd with nfacctd_renormalize true and to one with
                  it false
Every nfacctd has two print plugins: 'key' aggregates on src_host, dst_host, src_port,
dst_port, proto, tos (+ the flows counter); 'time' adds timestamp_start, timestamp_end and
sampling_rate. The JSONL records are aggregated on the same keys (pmacct merges records that
share one), and the print output is summed per key (a key can be purged more than once).

Checks, per nfacctd:
 1. flows (pmacct's flows counter), packets and bytes equal tapflow's --stats exporters[] entry
    for that URI, and key by key equal the JSONL records;
 2. its debug log has no discarded/malformed/incomplete/too long/sequence ("expecting flow")
    line, and the options templates it learned are exactly 270, 273, 274 (+ 271, 272 with
    --sample);
 3. (run B) with renormalize the packets/bytes are the raw counts x 10 for every flow, without
    it the raw counts with sampling_rate 10 for every flow (pmacct links records that name no
    sampler to sampler id 0, which tapflow's options records describe);
 4. timestamp_start/timestamp_end of every flow equal the JSONL flowStart/EndMilliseconds: to
    the millisecond for IPFIX and v9 absolute times, to the second for v9 uptime times (see
    expected_time).
"""
import calendar
import collections
import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import common  # noqa: E402

RATE = 10
# Lines nfacctd 1.7.7 logs when it drops (part of) a datagram or sees a sequence gap.
BAD_LOG = re.compile(r'Discarded NetFlow|discarding|unknown template|malformed|incomplete|'
                     r'too long|expecting flow', re.I)
KEY_AGG = 'src_host,dst_host,src_port,dst_port,proto,tos'
CONF = '''daemonize: false
debug: true
logfile: {log}
pidfile: {pid}
nfacctd_ip: 127.0.0.1
nfacctd_port: {port}
nfacctd_renormalize: {renorm}
nfacctd_time_new: false
timestamps_secs: false
plugins: print[key], print[time]
aggregate[key]: {agg},flows
aggregate[time]: {agg},timestamp_start,timestamp_end,sampling_rate
'''
PLUGIN_CONF = '''print_output[{p}]: json
print_output_file[{p}]: {out}
print_output_file_append[{p}]: true
print_refresh_time[{p}]: 1
print_num_protos[{p}]: true
'''


def listeners(port):
    out = subprocess.run(['ss', '-Hunlp', 'sport = :%d' % port], capture_output=True,
                         text=True).stdout
    return [l for l in out.splitlines() if l.strip()]


class Nfacctd:
    """One nfacctd in its own process group; stop() always ends it and its plugins."""

    def __init__(self, work, name, renormalize):
        self.name, self.renorm = name, renormalize
        self.base = work(name.replace(' ', '-'))
        self.log = self.base + '.log'
        self.proc = None
        self.port = None

    def out(self, plugin):
        return '%s.%s.json' % (self.base, plugin)

    def launch(self):
        """Starts nfacctd on a port nothing listens on."""
        port = common.free_udp_port()
        while listeners(port):
            port = common.free_udp_port()
        conf = CONF.format(log=self.log, pid=self.base + '.pid', port=port,
                           renorm='true' if self.renorm else 'false', agg=KEY_AGG)
        for p in ('key', 'time'):
            conf += PLUGIN_CONF.format(p=p, out=self.out(p))
        with open(self.base + '.conf', 'w') as f:
            f.write(conf)
        for f in (self.log, self.out('key'), self.out('time')):
            if os.path.exists(f):
                os.unlink(f)
        self.port = port
        self.stdout = open(self.base + '.stdout', 'w')
        cmd = ['nfacctd', '-f', self.base + '.conf']
        print('+ %s   (%s, port %d, renormalize %s)' % (' '.join(cmd), self.name, port,
                                                      self.renorm), flush=True)
        # TZ=UTC, not 'timestamps_utc: true': with that key and a zone west of UTC, 1.7.7's
        # print plugins put their first purge hours away (seen with TZ=America/New_York).
        self.proc = subprocess.Popen(cmd, stdout=self.stdout, stderr=subprocess.STDOUT,
                                     start_new_session=True, env=dict(os.environ, TZ='UTC'))

    def wait_ready(self, timeout=10.0):
        """True once nfacctd alone listens on its port (SO_REUSEPORT would let a leftover
        nfacctd share it silently) and both print plugins have run their first purge: data
        that reaches the core before a plugin is in its loop is lost without a word."""
        mine = 'pid=%d,' % self.proc.pid
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end and self.proc.poll() is None:
            ls = listeners(self.port)
            if any(mine in l for l in ls):
                if len(ls) != 1:
                    print('%s: port %d is shared: %s' % (self.name, self.port, ls), flush=True)
                    return False
                log = self.logtext()
                if all('( %s/print ): *** Purging cache - END' % p in log
                       for p in ('key', 'time')):
                    return True
            time.sleep(0.05)
        return False

    def start(self):
        for attempt in range(2):
            self.launch()
            if self.wait_ready():
                return True
            print('%s: not ready; log tail:\n%s' % (self.name, self.logtext()[-1500:]),
                  flush=True)
            self.interrupt()
            self.stop()
        return False

    def uri(self, fmt, query=''):
        return '%s://127.0.0.1:%d%s' % (fmt, self.port, query)

    def logtext(self):
        try:
            with open(self.log, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def received(self):
        return self.logtext().count('Received NetFlow/IPFIX packet')

    def interrupt(self):
        # SIGINT: nfacctd flushes to its plugins, which purge their caches and exit
        # (SIGTERM would wait for the next datagram).
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

    def stop(self):
        """Waits for nfacctd (after interrupt()) and every process of its group; kills them
        after 10 s."""
        if self.proc is None:
            return
        pid = self.proc.pid
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            print('%s: nfacctd ignored SIGINT, killing it' % self.name, flush=True)
        # The plugins (and their purge writers) share the process group: wait for them.
        t_end = time.monotonic() + 5
        while True:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                break
            if time.monotonic() > t_end:
                os.killpg(pid, signal.SIGKILL)
                t_end = time.monotonic() + 5
            time.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.wait()
        self.proc = None
        self.stdout.close()

    def purges(self, plugin):
        rows = []
        try:
            with open(self.out(plugin)) as f:
                for line in f:
                    d = json.loads(line)
                    if d.get('event_type') == 'purge':
                        rows.append(d)
        except FileNotFoundError:
            pass
        return rows

    def options_templates(self):
        """IDs of the templates nfacctd's debug log shows learned as 'options'."""
        ids, kind = set(), None
        for line in self.logtext().splitlines():
            m = re.search(r'NfV(?:9|10) template type\s*:\s*(\w+)', line)
            if m:
                kind = m.group(1)
                continue
            m = re.search(r'NfV(?:9|10) template ID\s*:\s*(\d+)', line)
            if m and kind == 'options':
                ids.add(int(m.group(1)))
        return ids


def addr(s):
    return str(ipaddress.ip_address(s))


def jkey(r):
    return (addr(r.get('sourceIPv4Address') or r.get('sourceIPv6Address')),
            addr(r.get('destinationIPv4Address') or r.get('destinationIPv6Address')),
            r['sourceTransportPort'], r['destinationTransportPort'], r['protocolIdentifier'],
            r['ipClassOfService'])


def pkey(d):
    return (addr(d['ip_src']), addr(d['ip_dst']), d['port_src'], d['port_dst'],
            int(d['ip_proto']), d['tos'])


def pm_ms(s):
    """'2024-01-01 00:00:00.104000' (UTC: nfacctd runs with TZ=UTC) -> ms since the epoch."""
    sec, _, frac = s.partition('.')
    return (calendar.timegm(time.strptime(sec, '%Y-%m-%d %H:%M:%S')) * 1000 +
            int((frac or '0').ljust(6, '0')[:6]) // 1000)


def expected_time(ms, seconds):
    if not seconds:
        return ms
    # pmacct 1.7.7 turns v9 flowStart/EndSysUpTime into whole seconds:
    # unix_secs - (sysUpTime - t) / 1000 with integer division. tapflow's header has
    # unix_secs*1000 - sysUpTime == its boot time exactly, so that is ceil(t_ms / 1000) s:
    # the time checked to the second (a header whose sysUpTime/unix_secs disagree fails it).
    return -(-ms // 1000) * 1000


def sums(rows, key, fields):
    acc = collections.defaultdict(lambda: [0] * len(fields))
    for r in rows:
        a = acc[key(r)]
        for i, f in enumerate(fields):
            a[i] += r[f]
    return {k: tuple(v) for k, v in acc.items()}


def diff(expected, got, limit=4):
    lines = []
    for k in sorted(set(expected) | set(got), key=repr):
        if expected.get(k) != got.get(k):
            lines.append('%r: expected %r, got %r' % (k, expected.get(k), got.get(k)))
    more = ' (+%d more)' % (len(lines) - limit) if len(lines) > limit else ''
    return '%d keys differ: %s%s' % (len(lines), '; '.join(lines[:limit]), more)


def compare(ck, what, expected, got):
    if expected == got:
        return ck.check(what, True, '%d keys' % len(got))
    return ck.check(what, False, diff(expected, got))


def load_jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def exporter(st, uri):
    for e in (st or {}).get('exporters', []):
        if e['uri'] == uri:
            return e
    return None


def check_instance(ck, nf, uri, st, flows, sampled, seconds):
    """Checks 1-4 for one nfacctd fed by destination `uri` of a run with JSONL `flows`."""
    label = '[%s] ' % nf.name
    e = exporter(st, uri)
    if not ck.check(label + 'tapflow --stats has the destination', e is not None, uri):
        return
    ck.equal(label + 'tapflow send errors', 0, e['send_errors'])
    ck.equal(label + 'nfacctd received every datagram tapflow sent', e['messages'],
             nf.received())

    # 2. The log: nothing dropped, the options templates learned as options.
    log = nf.logtext()
    bad = [l for l in log.splitlines() if BAD_LOG.search(l)]
    ck.check(label + 'nfacctd log has no discarded/malformed/incomplete/sequence line',
             not bad, '%d lines, first: %s' % (len(bad), bad[0].strip()) if bad else
             '%d log lines' % len(log.splitlines()))
    want = {270, 273, 274} | ({271, 272} if sampled else set())
    ck.equal(label + 'options templates nfacctd learned', sorted(want),
             sorted(nf.options_templates()))

    key_rows = nf.purges('key')
    time_rows = nf.purges('time')
    scale = RATE if (sampled and nf.renorm) else 1
    got_tot = tuple(sum(d[f] for d in key_rows) for f in ('flows', 'packets', 'bytes'))
    print('%snfacctd: %d flows, %d packets, %d bytes in %d keys' %
          ((label,) + got_tot + (len(sums(key_rows, pkey, ['packets'])),)), flush=True)

    if not sampled or not nf.renorm:
        # 1. Totals and flow by flow (pmacct's flows counter counts the records it merged).
        ck.equal(label + '(flows, packets, bytes) == tapflow exported (records, packets, '
                 'octets)', (e['records'], e['packets'], e['octets']), got_tot)
        compare(ck, label + 'per key (flows, packets, bytes) == JSONL',
                sums([dict(r, one=1) for r in flows], jkey,
                     ['one', 'packetDeltaCount', 'octetDeltaCount']),
                sums(key_rows, pkey, ['flows', 'packets', 'bytes']))
    else:
        # 3. Renormalised: raw counts times the sampling rate.
        ck.equal(label + '(packets, bytes) == tapflow exported x %d' % RATE,
                 (e['packets'] * RATE, e['octets'] * RATE), got_tot[1:])
        compare(ck, label + 'per key (packets, bytes) == JSONL raw counts x %d' % RATE,
                {k: (p * RATE, b * RATE) for k, (p, b) in
                 sums(flows, jkey, ['packetDeltaCount', 'octetDeltaCount']).items()},
                sums(key_rows, pkey, ['packets', 'bytes']))
    if sampled and not nf.renorm:
        rates = collections.Counter(d['sampling_rate'] for d in time_rows)
        ck.check(label + 'sampling_rate == %d for every flow' % RATE,
                 bool(time_rows) and set(rates) == {RATE}, 'sampling_rate counts %s' %
                 dict(rates))

    # 4. Times, flow by flow: (key, start, end) -> (packets, bytes).
    compare(ck, label + 'per flow timestamp_start/end == JSONL flowStart/EndMilliseconds (%s)'
            % ('to the second: v9 uptime' if seconds else 'to the ms'),
            sums([dict(r, p=r['packetDeltaCount'] * scale, b=r['octetDeltaCount'] * scale)
                  for r in flows],
                 lambda r: jkey(r) + (expected_time(r['flowStartMilliseconds'], seconds),
                                      expected_time(r['flowEndMilliseconds'], seconds)),
                 ['p', 'b']),
            sums(time_rows, lambda d: pkey(d) + (pm_ms(d['timestamp_start']),
                                                 pm_ms(d['timestamp_end'])),
                 ['packets', 'bytes']))


def main():
    tapflow, src, rest = common.parse_args('v9|ipfix', 1)
    fmt = rest[0]
    if fmt not in ('v9', 'ipfix'):
        print('format must be v9 or ipfix', file=sys.stderr)
        sys.exit(2)
    # nfacctd lives in /usr/sbin, which a plain user's PATH may lack.
    os.environ['PATH'] = os.environ.get('PATH', '') + ':/usr/local/sbin:/usr/sbin:/sbin'
    common.need_tools('nfacctd', 'ss')
    ck = common.Checks('pmacct-' + fmt)
    work = common.WorkDir('pmacct-' + fmt)
    pcap = common.sample_pcap(src)

    # (nfacctd, run, URI query, sampled, times to the second)
    if fmt == 'v9':
        plan = [(Nfacctd(work, 'v9 uptime', False), 'A', '', False, True),
                (Nfacctd(work, 'v9 absolute', False), 'A', '?v9-time=absolute', False, False)]
    else:
        plan = [(Nfacctd(work, 'ipfix', False), 'A', '', False, False)]
    plan += [(Nfacctd(work, fmt + ' sample renormalize', True), 'B', '', True, fmt == 'v9'),
             (Nfacctd(work, fmt + ' sample raw', False), 'B', '', True, fmt == 'v9')]
    runs = {}
    try:
        for nf, *_ in plan:
            nf.launch()        # all at once: each needs a second or two to be ready
        for nf, *_ in plan:
            ok = nf.wait_ready()
            if not ok:         # another port, twice more
                print('%s: not ready; log tail:\n%s' % (nf.name, nf.logtext()[-1500:]),
                      flush=True)
                nf.interrupt()
                nf.stop()
                ok = nf.start()
            if not ck.check('[%s] nfacctd alone listens on its port, plugins ready' % nf.name,
                            ok, '127.0.0.1:%s' % nf.port):
                ck.finish()
        for run, extra in (('A', []), ('B', ['--sample', str(RATE)])):
            jsonl = work('run%s.jsonl' % run)
            args = ['-r', pcap, '-q'] + extra + ['-e', 'jsonl:' + jsonl]
            uris = {}
            for nf, r, query, *_ in plan:
                if r == run:
                    uris[nf.name] = nf.uri(fmt, query)
                    args += ['-e', uris[nf.name]]
            p, st = common.run_tapflow(tapflow, args, stats=work('run%s.stats.json' % run))
            ck.equal('run %s: tapflow exit code' % run, 0, p.returncode)
            flows = load_jsonl(jsonl) if os.path.exists(jsonl) else []
            print('run %s: %d JSONL records' % (run, len(flows)), flush=True)
            runs[run] = (st, flows, uris)
        # Delivery on loopback is immediate; wait until every nfacctd logged every datagram.
        t_end = time.monotonic() + 10
        for nf, run, *_ in plan:
            e = exporter(runs[run][0], runs[run][2][nf.name])
            while e and nf.received() < e['messages'] and time.monotonic() < t_end:
                time.sleep(0.1)
        time.sleep(0.3)
    finally:
        for nf, *_ in plan:
            nf.interrupt()
        for nf, *_ in plan:
            nf.stop()

    for nf, run, query, sampled, seconds in plan:
        st, flows, uris = runs[run]
        check_instance(ck, nf, uris[nf.name], st, flows, sampled, seconds)
    work.cleanup(keep=bool(ck.failed))
    ck.finish()


if __name__ == '__main__':
    main()
