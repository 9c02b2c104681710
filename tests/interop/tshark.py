#!/usr/bin/python3
"""Interop with Wireshark's cflow dissector (tshark 4.0): tapflow exports data/sample.pcap to
tests/interop/collect.py over UDP on 127.0.0.1; the received datagrams are written to a pcap
and dissected by tshark.

usage: tshark.py TAPFLOW SOURCE_ROOT v5|v9|ipfix

Checks: no expert info and no malformed packet at all (`-Y '_ws.expert || _ws.malformed'`
prints nothing; tshark checks sequence numbers and missing templates); tshark decodes as many
IPv4 and IPv6 flow records, packets and octets as tapflow's --stats says it exported and as
data/sample.truth.csv holds (v5: the IPv4 part). v9 and IPFIX, second run with the optional
parts on (--sample 4, interface name and description, --local-net, IPFIX --biflow): still no
expert item, and tshark names the option records' values: interface name and description,
the three applications, the system init time, the sampler (interval 4), flowDirection.
"""
import re
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import common  # noqa: E402
from collect import Collector  # noqa: E402


def tshark(args):
    p = subprocess.run(['tshark', '-n'] + args, capture_output=True, text=True)
    err = '\n'.join(l for l in p.stderr.splitlines() if 'Running as user' not in l
                    and 'could be dangerous' not in l)
    return p, err


def values(field_line):
    return [v for v in field_line.split(',') if v != ''] if field_line else []


def main():
    tapflow, src, rest = common.parse_args('v5|v9|ipfix', 1)
    fmt = rest[0]
    common.need_tools('tshark')
    ck = common.Checks('tshark-' + fmt)
    work = common.WorkDir('tshark-' + fmt)
    col = Collector('127.0.0.1').start()
    p, st = common.run_tapflow(tapflow, ['-r', common.sample_pcap(src), '-q', '-e',
                                         '%s://127.0.0.1:%d' % (fmt, col.port)],
                               stats=work('stats.json'))
    msgs = col.stop()
    ck.equal('tapflow exit code', 0, p.returncode)
    pcap = work('export.pcap')
    col.write_pcap(pcap)
    print('collected %d messages on port %d -> %s' % (len(msgs), col.port, pcap))
    ck.check('messages received', len(msgs) > 0)
    if st:
        ck.equal('messages received == tapflow messages sent', st['exporters'][0]['messages'],
                 len(msgs))
    decode = ['-r', pcap, '-d', 'udp.port==%d,cflow' % col.port]

    q, err = tshark(decode + ['-Y', '_ws.expert || _ws.malformed'])
    ck.equal('tshark exit code (expert filter)', 0, q.returncode)
    ck.check('tshark: no expert info, no malformed packet', q.stdout.strip() == '',
             ('tshark printed:\n' + q.stdout.strip()) if q.stdout.strip() else '')
    if q.stdout.strip():
        v, _ = tshark(decode + ['-Y', '_ws.expert || _ws.malformed', '-V'])
        print('\n'.join(l for l in v.stdout.splitlines() if 'Expert Info' in l
                        or 'Malformed' in l or l.startswith('Frame ')))
    if err.strip():
        print('tshark stderr: ' + err.strip())

    q, err = tshark(decode + ['-T', 'fields', '-E', 'occurrence=a', '-E', 'separator=|',
                              '-e', 'cflow.version', '-e', 'cflow.srcaddr', '-e', 'cflow.srcaddrv6',
                              '-e', 'cflow.packets', '-e', 'cflow.octets'])
    ck.equal('tshark exit code (fields)', 0, q.returncode)
    n4 = n6 = pk = oc = 0
    versions = set()
    for line in q.stdout.splitlines():
        f = line.split('|')
        if len(f) != 5:
            continue
        versions.update(values(f[0]))
        n4 += len(values(f[1]))
        n6 += len(values(f[2]))
        pk += sum(int(x) for x in values(f[3]))
        oc += sum(int(x) for x in values(f[4]))
    ck.equal('cflow version', {'v5': {'5'}, 'v9': {'9'}, 'ipfix': {'10'}}[fmt], versions)
    truth = common.sample_truth(src)
    t4 = [r for r in truth if not r['v6']]
    t6 = [r for r in truth if r['v6']] if fmt != 'v5' else []
    print('tshark decoded %d IPv4 + %d IPv6 records, %d packets, %d octets' % (n4, n6, pk, oc))
    ck.equal('IPv4 flow records vs truth', len(t4), n4)
    ck.equal('IPv6 flow records vs truth', len(t6), n6)
    ck.equal('packets vs truth', sum(r['packets'] for r in t4 + t6), pk)
    ck.equal('octets vs truth', sum(r['bytes'] for r in t4 + t6), oc)
    if st:
        e = st['exporters'][0]
        ck.equal('records == tapflow exported records', e['records'], n4 + n6)
        ck.equal('packets == tapflow exported packets', e['packets'], pk)
        ck.equal('octets == tapflow exported octets', e['octets'], oc)
    if fmt != 'v5':
        check_options(ck, tapflow, src, work, fmt)
    work.cleanup(keep=bool(ck.failed))
    ck.finish()


def check_options(ck, tapflow, src, work, fmt):
    col = Collector('127.0.0.1').start()
    extra = ['--sample', '4', '--if-name', 'tap0', '--if-description', 'span port A',
             '--ifindex', '5', '--local-net', '192.168.0.0/16,2001:db8::/32']
    if fmt == 'ipfix':
        extra.append('--biflow')
    p, _ = common.run_tapflow(tapflow, ['-r', common.sample_pcap(src), '-q', '-e',
                                        '%s://127.0.0.1:%d' % (fmt, col.port)] + extra)
    col.stop()
    ck.equal('options run: tapflow exit code', 0, p.returncode)
    pcap = work('export-options.pcap')
    col.write_pcap(pcap)
    decode = ['-r', pcap, '-d', 'udp.port==%d,cflow' % col.port]
    q, _ = tshark(decode + ['-Y', '_ws.expert || _ws.malformed'])
    ck.check('options run: no expert info, no malformed packet', q.stdout.strip() == '',
             q.stdout.strip()[:500])
    v, _ = tshark(decode + ['-V'])
    text = v.stdout
    want = [r'IfName: tap0$', r'IfDescr: span port A$', r'ApplicationName: tls$',
            r'ApplicationName: http$', r'ApplicationName: dns$', r'System Init Time: \w',
            r'Direction: Egress \(1\)$', r'Direction: Ingress \(0\)$']
    if fmt == 'v9':
        want += [r'Sampling interval: 4$']
    else:
        want += [r'Sampling Packet Interval: 1$', r'Sampling Packet Space: 3$',
                 r'Selector Algorithm: Systematic count-based Sampling \(1\)$',
                 r'Type: PKTS \(2\) \[Reverse\]$', r'Type: BYTES \(1\) \[Reverse\]$']
    for w in want:
        ck.check('options run: tshark shows /%s/' % w, re.search(w, text, re.M) is not None)


if __name__ == '__main__':
    main()
