#!/usr/bin/python3
"""Interop with libfixbuf's ipfixDump: tapflow exports data/sample.pcap as IPFIX over UDP on
127.0.0.1 to tests/interop/collect.py; the received messages, written back to back, form an
IPFIX file (RFC 5655) that `ipfixDump --in FILE` reads.

usage: ipfixdump.py TAPFLOW SOURCE_ROOT

Checks: ipfixDump exits 0 and prints nothing on stderr; it reads every message and as many
flow records (templates 256-267) as tapflow exported (= flows in data/sample.truth.csv), the
IPv4 (256) and IPv6 (257) templates among those announced, the option records tapflow sends
(statistics 270, interface table 273, application table 274: one each, three applications), and
the packetDeltaCount / octetDeltaCount values it prints sum to the totals.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import common  # noqa: E402
from collect import Collector  # noqa: E402


def main():
    tapflow, src, _ = common.parse_args('')
    common.need_tools('ipfixDump')
    ck = common.Checks('ipfixdump')
    work = common.WorkDir('ipfixdump')
    col = Collector('127.0.0.1').start()
    p, st = common.run_tapflow(tapflow, ['-r', common.sample_pcap(src), '-q', '-e',
                                         'ipfix://127.0.0.1:%d' % col.port],
                               stats=work('stats.json'))
    msgs = col.stop()
    ck.equal('tapflow exit code', 0, p.returncode)
    raw = work('export.ipfix')
    col.write_raw(raw)
    print('collected %d messages -> %s' % (len(msgs), raw))

    cmd = ['ipfixDump', '--in', raw]
    print('+ ' + ' '.join(cmd))
    d = subprocess.run(cmd, capture_output=True, text=True)
    ck.equal('ipfixDump exit code', 0, d.returncode)
    ck.equal('ipfixDump stderr', '', d.stderr.strip())
    out = d.stdout
    # Every data record's template id; flow records use 256-267, option records 270-274.
    rec_tids = [int(x) for x in re.findall(r'^--- data record \d+ ---\nheader:\n\s*count:\s*\d+\s+tid:\s+(\d+)',
                                           out, re.M)]
    records = sum(1 for t in rec_tids if 256 <= t <= 267)
    options = {t: rec_tids.count(t) for t in sorted(set(rec_tids)) if t >= 270}
    messages = len(re.findall(r'^--- Message Header ---', out, re.M))
    tids = sorted(set(int(x) for x in re.findall(r'^\s*tid:\s+(\d+)', out, re.M)))
    packets = sum(int(x) for x in re.findall(r'packetDeltaCount : (\d+)', out))
    octets = sum(int(x) for x in re.findall(r'octetDeltaCount : (\d+)', out))
    print('ipfixDump: %d messages, %d flow records, option records %s, templates %s, '
          '%d packets, %d octets' % (messages, records, options, tids, packets, octets))
    s = subprocess.run(['ipfixDump', '--in', raw, '--stats'], capture_output=True, text=True)
    m = re.search(r'File Stats: (\d+) Messages, (\d+) Data Records, (\d+) Template Records',
                  s.stdout)
    ck.check('ipfixDump --stats line', m is not None, s.stdout.strip()[:200])

    truth = common.sample_truth(src)
    n, tp, tb = common.totals(truth)
    ck.equal('messages', len(msgs), messages)
    ck.equal('data records vs truth flows', n, records)
    ck.equal('option records (template: count)', {270: 1, 273: 1, 274: 3}, options)
    ck.equal('every data record has a template id', len(re.findall(r'^--- data record', out, re.M)),
             len(rec_tids))
    ck.check('template ids include 256 (IPv4) and 257 (IPv6), all >= 256',
             {256, 257} <= set(tids) and min(tids) >= 256, 'template ids %s' % tids)
    ck.equal('packetDeltaCount sum vs truth', tp, packets)
    ck.equal('octetDeltaCount sum vs truth', tb, octets)
    if m:
        ck.equal('--stats: messages, data records (flows + options)',
                 (len(msgs), n + sum(options.values())), (int(m.group(1)), int(m.group(2))))
    if st:
        e = st['exporters'][0]
        ck.equal('data records == tapflow exported records', e['records'], records)
        ck.equal('template records == tapflow templates sent', e['templates'],
                 int(m.group(3)) if m else None)
    work.cleanup(keep=bool(ck.failed))
    ck.finish()


if __name__ == '__main__':
    main()
