#!/usr/bin/python3
"""Option records and times through nfdump 1.7: nfcapd collects tapflow's v9/IPFIX export of
pcaps this script crafts (scapy, run as /usr/bin/python3, into a temp dir), nfdump reads the
stored flows back.

usage: options_nfdump.py TAPFLOW SOURCE_ROOT

Runs (each with its own nfcapd on 127.0.0.1, a free UDP port):
  mixed-v9, mixed-v9abs (?v9-time=absolute), mixed-ipfix: 8 UDP flows (one IPv6) and a TLS
      ClientHello (SNI, port 443), an HTTP GET (port 80) and a DNS query (port 53), exported
      with --if-name tap0 --if-description "span port A" --ifindex 7
  sample-{v9,ipfix}-{det,rand}: 20 flows x 200 packets, --sample 10 [--sample-mode random],
      plus -e jsonl: in the same run for tapflow's own raw (unscaled) counts
  wrap-v9, wrap-v9abs (--v9-time absolute): flows at t0, t0+30 d, t0+50 d, t0+100 d
  straddle-v9: a flow at t0, then flows whose packets straddle boot + 2^32 ms (boot = t0's
      second), where a 32-bit sysUpTime in ms would wrap

Checks:
  1. interfaces: every flow has %in 7 and %inam "span port A" (nfdump shows IE 83, the
     description, as the name);
  2. sampling: nfcapd scales by the sampler rate; nfdump's packets/bytes of every flow ==
     tapflow's raw jsonl counts x 10; nfdump -E shows a sampler with packet interval 1,
     packet space 9; 1 packet in 10 was metered;
  3. times: first/last of every flow as nfdump prints them (%ts/%te, ms, TZ=UTC) == the
     crafted packets' first/last timestamps truncated to the ms (v9 uptime, v9 absolute, IPFIX);
  4. the 49.7-day sysUpTime wrap: the same for the wrap and straddle captures (v9 uptime);
  5. application names: %nbnam is tls/http/dns (and %nbid 6..262/518/774) for the flows the
     DPI identified, "no info" for the others (v9 and IPFIX);
  6. nfcapd: 0 sequence errors and 0 bad packets (its summary and nfdump -E), no error or
     malformed complaints in its output; flows nfdump reads == records tapflow exported.
"""
import calendar
import json
import os
import random
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import common  # noqa: E402

SCAPY_PYTHON = '/usr/bin/python3'

# Writes the pcaps described by a JSON spec on stdin: {path: [packet, ...]}, each packet a dict
# with t_us (exact pcap timestamp), kind (udp, tcp, tls, http, dns) and its fields.
GEN = r'''
import json, struct, sys
from scapy.all import Ether, IP, IPv6, UDP, TCP, DNS, DNSQR, Raw
from scapy.layers.tls.record import TLS
from scapy.layers.tls.handshake import TLSClientHello
from scapy.layers.tls.extensions import TLS_Ext_ServerName, ServerName

cache = {}

def frame(p):
    key = json.dumps({k: v for k, v in p.items() if k != 't_us'}, sort_keys=True)
    if key in cache:
        return cache[key]
    src, dst, k = p['src'], p['dst'], p['kind']
    l3 = IPv6(src=src, dst=dst, hlim=64) if ':' in src else IP(src=src, dst=dst, ttl=64)
    if k == 'udp':
        l4 = UDP(sport=p['sport'], dport=p['dport']) / Raw(b'u' * p.get('len', 0))
    elif k == 'tcp':
        l4 = TCP(sport=p['sport'], dport=p['dport'], flags=p['flags'], seq=p.get('seq', 0),
                 ack=p.get('ack', 0)) / Raw(b't' * p.get('len', 0))
    elif k == 'dns':
        l4 = UDP(sport=p['sport'], dport=p['dport']) / DNS(id=0x1234, rd=1,
                                                           qd=DNSQR(qname=p['name'], qtype='A'))
    elif k == 'http':
        req = ('GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: options-nfdump\r\n'
               'Accept: */*\r\n\r\n' % (p['path'], p['host'])).encode()
        l4 = TCP(sport=p['sport'], dport=p['dport'], flags='PA', seq=p['seq'],
                 ack=p['ack']) / Raw(req)
    elif k == 'tls':
        hello = TLS(msg=[TLSClientHello(ext=[TLS_Ext_ServerName(
            servernames=[ServerName(servername=p['sni'].encode())])])])
        l4 = TCP(sport=p['sport'], dport=p['dport'], flags='PA', seq=p['seq'],
                 ack=p['ack']) / Raw(bytes(hello))
    else:
        raise SystemExit('unknown packet kind ' + k)
    b = bytes(Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02') / l3 / l4)
    cache[key] = b
    return b

for path, pkts in json.load(sys.stdin).items():
    with open(path, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for p in pkts:
            b = frame(p)
            f.write(struct.pack('<IIII', p['t_us'] // 1000000, p['t_us'] % 1000000, len(b), len(b)))
            f.write(b)
'''

T0 = 1709294400                     # 2024-03-01 12:00:00 UTC, a whole second: tapflow's boot
S = 1000000                         # microseconds per second
DAY = 86400 * S
WRAP_US = (1 << 32) * 1000          # 2^32 ms in microseconds (49 d 17 h 2 min 47.296 s)
IFINDEX, IF_NAME, IF_DESC = 7, 'tap0', 'span port A'
SAMPLE = 10
APPS = {'tls': '6..262', 'http': '6..518', 'dns': '6..774'}   # name -> %nbid (0x06 0106 ...)
PROTO = {'udp': 17, 'dns': 17, 'tcp': 6, 'tls': 6, 'http': 6}


def udp_flow(pkts, src, dst, sport, dport, times, length=40):
    for t in times:
        pkts.append(dict(t_us=t, kind='udp', src=src, dst=dst, sport=sport, dport=dport,
                         len=length))


def tcp_session(pkts, t, c, s, sport, dport, payload):
    """SYN, SYN/ACK, ACK, then the client's payload packet (payload: dict with kind etc.)."""
    pkts.append(dict(t_us=t, kind='tcp', src=c, dst=s, sport=sport, dport=dport, flags='S',
                     seq=1000))
    pkts.append(dict(t_us=t + 1311, kind='tcp', src=s, dst=c, sport=dport, dport=sport,
                     flags='SA', seq=5000, ack=1001))
    pkts.append(dict(t_us=t + 2422, kind='tcp', src=c, dst=s, sport=sport, dport=dport,
                     flags='A', seq=1001, ack=5001))
    pkts.append(dict(payload, t_us=t + 3533, src=c, dst=s, sport=sport, dport=dport, seq=1001,
                     ack=5001))


def mixed_pcap():
    pkts, apps = [], {}
    base = T0 * S
    for i in range(8):
        src, dst = ('2001:db8::%d' % (i + 1), '2001:db8::ff') if i == 7 else \
            ('10.0.1.%d' % (i + 1), '10.0.2.1')
        # Sub-millisecond parts everywhere (truncated to ms by the exporter), one at .999xxx.
        times = [base + 250123 + i * 731457 + k * 137113 for k in range(3 + i)]
        if i == 3:
            times[-1] = base + 4 * S + 999876
        udp_flow(pkts, src, dst, 20000 + i, 7000 + i, times, length=20 + 30 * i)
    c, s = '192.168.7.10', '192.168.7.20'
    tcp_session(pkts, base + 1 * S + 100, c, s, 41000, 443, dict(kind='tls', sni='www.example.com'))
    tcp_session(pkts, base + 2 * S + 200, c, s, 41001, 80,
                dict(kind='http', host='www.example.org', path='/index.html'))
    pkts.append(dict(t_us=base + 3 * S + 300, kind='dns', src=c, dst=s, sport=41002, dport=53,
                     name='example.net'))
    apps[(6, c, s, 41000, 443)] = 'tls'
    apps[(6, c, s, 41001, 80)] = 'http'
    apps[(17, c, s, 41002, 53)] = 'dns'
    pkts.sort(key=lambda p: p['t_us'])
    return pkts, apps


def sample_pcap():
    rng = random.Random(20240301)
    order = [f for f in range(20) for _ in range(200)]
    rng.shuffle(order)          # interleaved irregularly, so every Nth packet hits every flow
    pkts = []
    for n, f in enumerate(order):
        pkts.append(dict(t_us=T0 * S + 100017 + n * 1000, kind='udp', src='10.3.0.%d' % (f + 1),
                         dst='10.4.0.1', sport=30000 + f, dport=9000, len=(n % 8) * 50 + f))
    return pkts


def wrap_pcap():
    pkts = []
    for n, off in enumerate((0, 30 * DAY, 50 * DAY, 100 * DAY)):
        start = T0 * S + off + 250321 + n * 7919
        times = [start + k * 400333 for k in range(4)]
        udp_flow(pkts, '10.5.0.%d' % (n + 1), '10.6.0.1', 40000 + n, 8000, times)
        udp_flow(pkts, '2001:db8:5::%d' % (n + 1), '2001:db8:6::1', 40100 + n, 8000,
                 [t + 1777 for t in times])
    pkts.sort(key=lambda p: p['t_us'])
    return pkts


def straddle_pcap():
    pkts = []
    udp_flow(pkts, '10.7.0.1', '10.8.0.1', 45000, 8100, [T0 * S + 250444 + k * 100000
                                                        for k in range(3)])
    w = T0 * S + WRAP_US             # boot (t0's second) + 2^32 ms
    udp_flow(pkts, '10.7.0.2', '10.8.0.1', 45001, 8100, [w - S + 321 + k * 400000
                                                        for k in range(6)])   # -1 s .. +1 s
    udp_flow(pkts, '2001:db8:7::2', '2001:db8:8::1', 45002, 8100, [w - 500 * 1000 + 654,
                                                                  w + 654, w + 700 * 1000 + 654])
    pkts.sort(key=lambda p: p['t_us'])
    return pkts


def key_of(p):
    return (PROTO[p['kind']], p['src'], p['dst'], p['sport'], p['dport'])


def expected_flows(pkts):
    """flow key -> (first ms, last ms, packets) of the crafted packets."""
    fl = {}
    for p in pkts:
        k = key_of(p)
        ms = p['t_us'] // 1000
        if k in fl:
            a, b, n = fl[k]
            fl[k] = (min(a, ms), max(b, ms), n + 1)
        else:
            fl[k] = (ms, ms, 1)
    return fl


def craft(work):
    if not os.path.exists(SCAPY_PYTHON) or subprocess.run(
            [SCAPY_PYTHON, '-c', 'import scapy.all'], capture_output=True).returncode != 0:
        common.skip('scapy is not installed for %s (apt install python3-scapy)' % SCAPY_PYTHON)
    mixed, apps = mixed_pcap()
    spec = {work('mixed.pcap'): mixed, work('sample.pcap'): sample_pcap(),
            work('wrap.pcap'): wrap_pcap(), work('straddle.pcap'): straddle_pcap()}
    p = subprocess.run([SCAPY_PYTHON, '-c', GEN], input=json.dumps(spec), text=True,
                       capture_output=True)
    if p.returncode != 0:
        print(p.stderr)
        sys.exit(1)
    return {os.path.splitext(os.path.basename(k))[0]: (k, v) for k, v in spec.items()}, apps


FMT = 'fmt:%pr|%sa|%da|%sp|%dp|%pkt|%byt|%ts|%te|%in|%inam|%nbid|%nbnam'
PROTO_NAMES = {'TCP': 6, 'UDP': 17, 'ICMP': 1, 'ICMP6': 58}


def ts_ms(s):
    """'2024-03-01 12:00:00.123' (UTC) -> ms since the epoch."""
    day, frac = s.rsplit('.', 1)
    return calendar.timegm(time.strptime(day, '%Y-%m-%d %H:%M:%S')) * 1000 + int(frac)


def nfdump_flows(flowdir):
    env = dict(os.environ, TZ='UTC')
    p = subprocess.run(['nfdump', '-R', flowdir, '-q', '-N', '-o', FMT], capture_output=True,
                       text=True, env=env)
    flows = []
    for line in p.stdout.splitlines():
        f = [x.strip() for x in line.split('|')]
        if len(f) != 13:
            continue
        proto = int(f[0]) if f[0].isdigit() else PROTO_NAMES.get(f[0], f[0])
        flows.append(dict(key=(proto, f[1], f[2], int(f[3]), int(f[4])), packets=int(f[5]),
                          bytes=int(f[6]), first=ts_ms(f[7]), last=ts_ms(f[8]), ifindex=int(f[9]),
                          ifname=f[10], nbid=f[11], nbnam=f[12], line=line))
    return flows, p


def exporter_info(flowdir):
    """nfdump -E of every file nfcapd wrote."""
    out = []
    for name in sorted(os.listdir(flowdir)):
        if name.startswith('nfcapd.') and not name.endswith('current'):
            p = subprocess.run(['nfdump', '-E', os.path.join(flowdir, name)],
                               capture_output=True, text=True)
            out.append(p.stdout + p.stderr)
    return '\n'.join(out)


class Run:
    """One nfcapd on a free port, one tapflow run into it, the flows nfdump reads back."""

    def __init__(self, ck, tapflow, work, name, pcap, uri, extra=(), jsonl=False):
        self.name = name
        self.ok = False
        d = work(name)
        os.mkdir(d)
        flowdir = os.path.join(d, 'flows')
        os.mkdir(flowdir)
        port = common.free_udp_port()
        log = open(os.path.join(d, 'nfcapd.log'), 'w+')
        cmd = ['nfcapd', '-b', '127.0.0.1', '-p', str(port), '-w', flowdir]
        print('+ ' + ' '.join(cmd), flush=True)
        nfcapd = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        self.stats, self.jsonl = None, []
        try:
            if not ck.check('%s: nfcapd listens on 127.0.0.1:%d' % (name, port),
                            common.wait_udp_listening(port)):
                return
            args = ['-r', pcap, '-q', '-e', uri.replace('PORT', str(port))] + list(extra)
            jpath = os.path.join(d, 'flows.jsonl')
            if jsonl:
                args += ['-e', 'jsonl:' + jpath]
            p, self.stats = common.run_tapflow(tapflow, args,
                                               stats=os.path.join(d, 'stats.json'))
            ck.equal('%s: tapflow exit code' % name, 0, p.returncode)
            if jsonl and os.path.exists(jpath):
                with open(jpath) as f:
                    self.jsonl = [json.loads(line) for line in f if line.strip()]
            # nfcapd drops what is still in its socket when it is stopped: wait until it has
            # read every datagram (a loaded machine can starve it for a while).
            if not common.wait_udp_drained(port):
                print('      note: nfcapd still had unread datagrams after 20 s')
        finally:
            common.stop_process(nfcapd)
        log.seek(0)
        self.log = log.read()
        log.close()
        self.flows, nd = nfdump_flows(flowdir)
        ck.equal('%s: nfdump exit code' % name, 0, nd.returncode)
        if nd.stderr.strip():
            print('nfdump stderr: ' + nd.stderr.strip())
        self.exporters = exporter_info(flowdir)
        self.ok = True

    def by_key(self):
        d = {}
        for f in self.flows:
            d.setdefault(f['key'], []).append(f)
        return d


COMPLAINT = re.compile(r'error|malformed|bad packet|corrupt|invalid|skip|unknown|fail|'
                       r'not enough|too (little|small)', re.I)


def check_collector(ck, r):
    """Check 6: nfcapd's summary, -E and log lines; flows read == records exported."""
    m = re.search(r'Flows: (\d+), Packets: (\d+), Bytes: (\d+), Sequence Errors: (\d+), '
                  r'Bad Packets: (\d+)', r.log)
    if ck.check('%s: nfcapd printed its summary' % r.name, m is not None):
        ck.equal('%s: nfcapd sequence errors' % r.name, 0, int(m.group(4)))
        ck.equal('%s: nfcapd bad packets' % r.name, 0, int(m.group(5)))
    fails = re.findall(r'Sequence failures: (\d+)', r.exporters)
    ck.check('%s: nfdump -E sequence failures 0' % r.name, fails and set(fails) == {'0'},
             'Sequence failures: %s' % (', '.join(fails) or 'no exporter listed'))
    lines = [ln for ln in r.log.splitlines() if not ln.startswith('Ident: ')]
    bad = [ln for ln in lines if COMPLAINT.search(ln)]
    ck.equal('%s: complaints in nfcapd output' % r.name, [], bad)
    extra = [ln for ln in lines if 'extra bytes' in ln]
    if extra:
        # nfcapd read fewer bytes of an option record than tapflow sent (its info level).
        print('      note: nfcapd: ' + ' / '.join(extra))
    if r.stats:
        e = r.stats['exporters'][0]
        ck.equal('%s: nfdump flows == tapflow exported records' % r.name, e['records'],
                 len(r.flows))
        ck.equal('%s: tapflow send errors' % r.name, 0, e['send_errors'])
    else:
        ck.check('%s: tapflow wrote --stats' % r.name, False)


def check_flow_set(ck, r, expected_keys):
    got = r.by_key()
    missing = sorted(set(expected_keys) - set(got))
    extra = sorted(set(got) - set(expected_keys))
    dup = sorted(k for k, v in got.items() if len(v) > 1)
    ck.check('%s: nfdump has each of the %d flows once' % (r.name, len(expected_keys)),
             not (missing or extra or dup),
             'missing %s, unexpected %s, more than once %s' % (missing, extra, dup))


def check_interfaces(ck, r):
    vals = sorted({(f['ifindex'], f['ifname']) for f in r.flows})
    ck.check('%s: %%in/%%inam of every flow == %d/%r' % (r.name, IFINDEX, IF_DESC),
             bool(r.flows) and vals == [(IFINDEX, IF_DESC)], 'values %s' % vals)


def fmt_ms(ms):
    return time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(ms // 1000)) + '.%03d' % (ms % 1000)


def check_times(ck, r, expected, label='first/last'):
    got = r.by_key()
    bad = []
    for k, (first, last, _) in sorted(expected.items()):
        for f in got.get(k, []):
            if (f['first'], f['last']) != (first, last):
                bad.append('%s %s:%d->%s:%d: expected %s - %s, nfdump %s - %s (%+d / %+d ms)' % (
                    {6: 'TCP', 17: 'UDP'}[k[0]], k[1], k[3], k[2], k[4], fmt_ms(first),
                    fmt_ms(last), fmt_ms(f['first']), fmt_ms(f['last']), f['first'] - first,
                    f['last'] - last))
    n = sum(1 for k in expected if k in got)
    ok = ck.check('%s: %s (ms) of all %d flows == packet times' % (r.name, label, len(expected)),
                  n == len(expected) and not bad,
                  '%d of %d flows found; %s' % (n, len(expected), '; '.join(bad[:8])))
    if not ok and any('+%d / +%d ms' % (1 << 32, 1 << 32) in b for b in bad):
        print('      hint: off by exactly 2^32 ms: the header sysUpTime of the message that '
              'carried these flows had wrapped (nfdump takes boot = unix_secs*1000 - sysUpTime): '
              'the message was stamped 2^32 ms or more after the boot its flow times count from, '
              'with the time of a packet that came weeks later (the one that expired the flow, '
              'or the one at which the statistics record flushed the message being built).')


def check_apps(ck, r, apps, hint=''):
    got = r.by_key()
    bad = []
    for k, fl in sorted(got.items()):
        want = apps.get(k)
        for f in fl:
            name = f['nbnam'].split('/', 1)[0]
            if want:
                ok = name == want and f['nbid'] == APPS[want]
                exp = '%s (%s)' % (want, APPS[want])
            else:
                ok = f['nbid'] in ('0..0', '') and name in ('<no info>', '')
                exp = 'no application'
            if not ok:
                bad.append('%s:%d->%s:%d expected %s, nfdump %%nbid %s %%nbnam %r' % (
                    k[1], k[3], k[2], k[4], exp, f['nbid'], f['nbnam']))
    found = sorted(apps[k] for k in apps if k in got)
    ok = ck.check('%s: %%nbnam tls/http/dns on the DPI flows, none on the others' % r.name,
                  found == sorted(apps.values()) and not bad,
                  'application flows found: %s; %s' % (found, '; '.join(bad)))
    if not ok and hint:
        print('      hint: ' + hint)


def jsonl_key(d):
    v6 = d.get('ipVersion') == 6
    return (d['protocolIdentifier'],
            d['sourceIPv6Address' if v6 else 'sourceIPv4Address'],
            d['destinationIPv6Address' if v6 else 'destinationIPv4Address'],
            d['sourceTransportPort'], d['destinationTransportPort'])


def check_dpi_reference(ck, name, jsonl, apps):
    """tapflow's own jsonl agrees the three application flows were identified."""
    kinds = {}
    for d in jsonl:
        k = jsonl_key(d)
        if 'sslServerName' in d:
            kinds[k] = 'tls'
        elif 'httpRequestHost' in d:
            kinds[k] = 'http'
        elif 'dnsQName' in d:
            kinds[k] = 'dns'
    ck.equal('%s: tapflow jsonl identifies the TLS/HTTP/DNS flows' % name, apps, kinds)


def check_sampling(ck, r, total_packets):
    raw = {jsonl_key(d): d for d in r.jsonl}
    ck.equal('%s: 1 packet in %d metered (jsonl raw packets)' % (r.name, SAMPLE),
             total_packets // SAMPLE, sum(d['packetDeltaCount'] for d in r.jsonl))
    ck.check('%s: most of the 20 flows sampled' % r.name, len(raw) >= 15,
             '%d flows in the jsonl' % len(raw))
    check_flow_set(ck, r, raw)
    bad = []
    for f in r.flows:
        d = raw.get(f['key'])
        if d is None:
            continue
        want = (d['packetDeltaCount'] * SAMPLE, d['octetDeltaCount'] * SAMPLE)
        if (f['packets'], f['bytes']) != want:
            bad.append('%s:%d: raw %d/%d, expected %d/%d, nfdump %d/%d' % (
                f['key'][1], f['key'][3], d['packetDeltaCount'], d['octetDeltaCount'], want[0],
                want[1], f['packets'], f['bytes']))
    ck.check('%s: nfdump packets/bytes == jsonl raw x %d for every flow' % (r.name, SAMPLE),
             bool(r.flows) and not bad, '; '.join(bad[:5]) or '%d flows' % len(r.flows))
    samplers = re.findall(r'Sampler:.*', r.exporters)
    rates = re.findall(r'packet interval: (\d+), packet space: (\d+)', r.exporters)
    ck.check('%s: nfdump -E shows a sampler with packet interval 1, packet space %d' % (
        r.name, SAMPLE - 1), ('1', str(SAMPLE - 1)) in rates and
        all(x == ('1', str(SAMPLE - 1)) for x in rates), '; '.join(samplers) or 'no sampler')


IPFIX_APP_HINT = (
    'nfdump 1.7.1 reads an IPFIX applications option set in steps of the record size without '
    'the scope field (3+32+64 = 99 bytes, tapflow sends 4+3+32+64 = 103: nfcapd says "%u extra '
    'bytes" for 3 records): only the first record of the set is read right, so only that '
    'application gets its name (v9 counts the scope). One record per data set would avoid it.')


def main():
    tapflow, src, _ = common.parse_args('')
    common.need_tools('nfcapd', 'nfdump', 'ss')
    ck = common.Checks('options-nfdump')
    work = common.WorkDir('options-nfdump')
    pcaps, apps = craft(work)
    iface = ['--if-name', IF_NAME, '--if-description', IF_DESC, '--ifindex', str(IFINDEX)]

    # 1, 3, 5, 6: interfaces, times, application names on the mixed capture.
    mpath, mpkts = pcaps['mixed']
    mexp = expected_flows(mpkts)
    for name, uri, extra in (('mixed-v9', 'v9://127.0.0.1:PORT', []),
                             ('mixed-v9abs', 'v9://127.0.0.1:PORT?v9-time=absolute', []),
                             ('mixed-ipfix', 'ipfix://127.0.0.1:PORT', [])):
        r = Run(ck, tapflow, work, name, mpath, uri, iface + extra, jsonl=True)
        if not r.ok:
            continue
        check_collector(ck, r)
        check_flow_set(ck, r, mexp)
        check_interfaces(ck, r)
        check_times(ck, r, mexp)
        check_dpi_reference(ck, name, r.jsonl, apps)
        check_apps(ck, r, apps, IPFIX_APP_HINT % 12 if 'ipfix' in name else '')

    # 2, 6: sampling.
    spath, spkts = pcaps['sample']
    for fmt in ('v9', 'ipfix'):
        for mode in ('det', 'rand'):
            extra = ['--sample', str(SAMPLE)] + (['--sample-mode', 'random'] if mode == 'rand'
                                                 else [])
            r = Run(ck, tapflow, work, 'sample-%s-%s' % (fmt, mode), spath,
                    '%s://127.0.0.1:PORT' % fmt, extra, jsonl=True)
            if r.ok:
                check_collector(ck, r)
                check_sampling(ck, r, len(spkts))

    # 4, 6: the 49.7-day wrap of a 32-bit sysUpTime in ms.
    for name, pcap, extra in (('wrap-v9', 'wrap', []),
                              ('wrap-v9abs', 'wrap', ['--v9-time', 'absolute']),
                              ('straddle-v9', 'straddle', [])):
        path, pkts = pcaps[pcap]
        exp = expected_flows(pkts)
        r = Run(ck, tapflow, work, name, path, 'v9://127.0.0.1:PORT', extra)
        if r.ok:
            check_collector(ck, r)
            check_flow_set(ck, r, exp)
            check_times(ck, r, exp, 'first/last across %s' % (
                '0/30/50/100 days' if pcap == 'wrap' else 'boot + 2^32 ms'))
    work.cleanup(keep=bool(ck.failed))
    ck.finish()


if __name__ == '__main__':
    main()
