#!/usr/bin/python3
"""Interop with nfdump 1.7: nfcapd collects tapflow's export of data/sample.pcap over UDP on
127.0.0.1, nfdump reads the stored flows back.

usage: nfdump.py TAPFLOW SOURCE_ROOT v5|v9|ipfix

Checks: nfcapd saw no sequence errors and no bad packets; flows, packets and bytes that nfdump
reads equal what tapflow's --stats says it exported and what data/sample.truth.csv says is in
the capture (v5: IPv4 part only; IPv6 flows are counted as not exportable); the ICMP echo,
ICMPv6 echo and 802.1Q flows are there with the right packets, bytes (and VLAN id for v9/IPFIX).
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import common  # noqa: E402

FMT = 'fmt:%pr|%sa|%da|%sp|%dp|%tos|%pkt|%byt|%svln'


def nfdump_flows(flowdir):
    p = subprocess.run(['nfdump', '-R', flowdir, '-q', '-N', '-o', FMT], capture_output=True,
                       text=True)
    flows = []
    for line in p.stdout.splitlines():
        f = [x.strip() for x in line.split('|')]
        if len(f) != 9:
            continue
        proto = int(f[0]) if f[0].isdigit() else f[0]
        dport = f[4]
        if '.' in dport:      # ICMP: nfdump prints type.code
            t, c = dport.split('.')
            dport = int(t) * 256 + int(c)
        flows.append(dict(proto=proto, src=f[1], dst=f[2], sport=int(f[3]), dport=int(dport),
                          tos=int(f[5]), packets=int(f[6]), bytes=int(f[7]), vlan=int(f[8])))
    return flows, p


def main():
    tapflow, src, rest = common.parse_args('v5|v9|ipfix', 1)
    fmt = rest[0]
    common.need_tools('nfcapd', 'nfdump', 'ss')
    ck = common.Checks('nfdump-' + fmt)
    work = common.WorkDir('nfdump-' + fmt)
    flowdir = work('flows')
    os.mkdir(flowdir)
    port = common.free_udp_port()
    log = open(work('nfcapd.log'), 'w+')
    cmd = ['nfcapd', '-b', '127.0.0.1', '-p', str(port), '-w', flowdir]
    print('+ ' + ' '.join(cmd), flush=True)
    nfcapd = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        if not ck.check('nfcapd listens on 127.0.0.1:%d' % port,
                        common.wait_udp_listening(port)):
            ck.finish()
        p, st = common.run_tapflow(tapflow, ['-r', common.sample_pcap(src), '-q', '-e',
                                             '%s://127.0.0.1:%d' % (fmt, port)],
                                   stats=work('stats.json'))
        ck.equal('tapflow exit code', 0, p.returncode)
        # Stop nfcapd (so it writes the file) only once it has read every datagram.
        ck.check('nfcapd read every datagram', common.wait_udp_drained(port))
    finally:
        common.stop_process(nfcapd)
    log.seek(0)
    logtext = log.read()
    print(logtext.strip())
    m = re.search(r'Sequence Errors: (\d+), Bad Packets: (\d+)', logtext)
    ck.check('nfcapd reports sequence errors and bad packets', m is not None)
    if m:
        ck.equal('nfcapd sequence errors', 0, int(m.group(1)))
        ck.equal('nfcapd bad packets', 0, int(m.group(2)))

    flows, nd = nfdump_flows(flowdir)
    ck.equal('nfdump exit code', 0, nd.returncode)
    if nd.stderr.strip():
        print('nfdump stderr: ' + nd.stderr.strip())
    truth = common.sample_truth(src)
    if fmt == 'v5':
        exportable = [r for r in truth if not r['v6']]
        v6 = [r for r in truth if r['v6']]
    else:
        exportable, v6 = truth, []
    got = (len(flows), sum(f['packets'] for f in flows), sum(f['bytes'] for f in flows))
    print('nfdump read: %d flows, %d packets, %d bytes' % got)
    if st:
        e = st['exporters'][0]
        ck.equal('nfdump flows == tapflow exported records', e['records'], got[0])
        ck.equal('nfdump packets == tapflow exported packets', e['packets'], got[1])
        ck.equal('nfdump bytes == tapflow exported octets', e['octets'], got[2])
        ck.equal('tapflow send errors', 0, e['send_errors'])
        ck.equal('records not exportable (IPv6 flows in v5)', len(v6), e['not_exportable'])
        ck.equal('packets not exportable', sum(r['packets'] for r in v6),
                 e['not_exportable_packets'])
        ck.equal('exported + not exportable packets == decoded IP packets',
                 st['decode']['ip_packets'], e['packets'] + e['not_exportable_packets'])
    else:
        ck.check('tapflow wrote --stats', False)
    ck.equal('(flows, packets, bytes) vs data/sample.truth.csv%s' %
             (' IPv4 part' if fmt == 'v5' else ''), common.totals(exportable), got)

    def flow_check(label, **key):
        t = common.find_flow(truth, **key)
        if t is None:
            ck.check(label + ' in truth', False)
            return
        # Match on addresses and protocol only, so a wrong port / ICMP type shows as a value.
        cand = [f for f in flows if all(f[k] == t[k] for k in ('src', 'dst', 'proto'))]
        if len(cand) > 1:
            cand = [f for f in cand if f['dport'] == t['dport']] or cand
        ck.equal('%s %s -> %s: nfdump records' % (label, t['src'], t['dst']), 1, len(cand))
        if len(cand) == 1:
            f = cand[0]
            exp = dict(packets=t['packets'], bytes=t['bytes'], tos=t['tos'], sport=t['sport'],
                       dport=t['dport'])
            got_ = dict(packets=f['packets'], bytes=f['bytes'], tos=f['tos'], sport=f['sport'],
                        dport=f['dport'])
            if t['proto'] in (1, 58):
                label += ' (dport = ICMP type*256+code)'
            if fmt != 'v5':
                exp['vlan'], got_['vlan'] = t['vlan'], f['vlan']
            ok = ck.equal('%s packets/bytes/tos/ports%s' % (label, '' if fmt == 'v5' else '/vlan'),
                          exp, got_)
            if not ok and fmt == 'v9' and t['proto'] in (1, 58) and f['dport'] != t['dport']:
                print('      hint: nfdump 1.7 takes a v9 ICMP/ICMPv6 type/code only from IE 32 '
                      '(ICMP_TYPE, type*256+code), not from L4_DST_PORT (IE 11) or IE 139')

    flow_check('ICMP echo request', proto=1, dport=8 * 256)
    flow_check('ICMP echo reply', proto=1, dport=0)
    flow_check('802.1Q syslog flow', proto=17, dport=514)
    flow_check('NTP flow (ToS 0xb8)', proto=17, dport=123, src='192.168.1.12')
    if fmt != 'v5':
        flow_check('ICMPv6 echo request', proto=58, dport=128 * 256)
        ck.equal('IPv6 flows read by nfdump', sum(1 for r in truth if r['v6']),
                 sum(1 for f in flows if ':' in f['src']))
    else:
        ck.equal('no IPv6 flows in v5', 0, sum(1 for f in flows if ':' in f['src']))
    work.cleanup(keep=bool(ck.failed))
    ck.finish()


if __name__ == '__main__':
    main()
