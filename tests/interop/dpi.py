#!/usr/bin/python3
"""DPI fields through real decoders: tapflow exports data/sample.pcap as IPFIX over UDP on
127.0.0.1; tshark must decode the IANA HTTP elements by name (httpRequestMethod/Host/Target,
httpUserAgent, httpStatusCode) with no expert or malformed item, and libfixbuf's ipfixDump
(--yaf: CERT's element file) must print the enterprise elements (sslServerName, dnsQName,
dnsQRType) — each with exactly the values tapflow writes in its JSON lines for the same file.
With --l7-ies ntop, tshark must name them as nProbe's (SSL_SERVER_NAME, DNS_QUERY, HTTP_HOST).

usage: dpi.py TAPFLOW SOURCE_ROOT
"""
import collections
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import common  # noqa: E402
from collect import Collector  # noqa: E402


def export(tapflow, src, work, name, extra):
    col = Collector('127.0.0.1').start()
    p, _ = common.run_tapflow(tapflow, ['-r', common.sample_pcap(src), '-q', '-e',
                                        'ipfix://127.0.0.1:%d' % col.port] + extra,
                              stats=work(name + '.stats.json'))
    col.stop()
    col.write_pcap(work(name + '.pcap'))
    col.write_raw(work(name + '.ipfix'))
    return p.returncode, col.port


def tshark_fields(pcap, port, fields):
    cmd = ['tshark', '-n', '-r', pcap, '-d', 'udp.port==%d,cflow' % port, '-T', 'fields',
           '-E', 'occurrence=a', '-E', 'separator=/t', '-E', 'aggregator=|']
    for f in fields:
        cmd += ['-e', f]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    vals = collections.Counter()
    for line in out.splitlines():
        for f, cell in zip(fields, line.split('\t')):
            for v in cell.split('|') if cell else []:
                vals[(f, v)] += 1
    return vals


def main():
    tapflow, src, _ = common.parse_args('')
    common.need_tools('tshark', 'ipfixDump')
    ck = common.Checks('dpi')
    work = common.WorkDir('dpi')

    # What tapflow itself reports, as the reference.
    j = subprocess.run([tapflow, '-r', common.sample_pcap(src), '-q', '-e', 'jsonl:-'],
                       capture_output=True, text=True)
    ck.equal('tapflow jsonl exit code', 0, j.returncode)
    want = collections.Counter()
    for line in j.stdout.splitlines():
        d = json.loads(line)
        for k in ('httpRequestMethod', 'httpRequestHost', 'httpRequestTarget', 'httpUserAgent',
                  'httpStatusCode', 'sslServerName', 'dnsQName', 'dnsQRType'):
            if k in d:
                want[(k, str(d[k]))] += 1
    kinds = {k for k, _ in want}
    for k in ('httpRequestHost', 'httpStatusCode', 'sslServerName', 'dnsQName'):
        ck.check('sample has %s values' % k, k in kinds, str(sorted(kinds)))

    rc, port = export(tapflow, src, work, 'cert', [])
    ck.equal('tapflow ipfix exit code', 0, rc)
    pcap = work('cert.pcap')
    bad = subprocess.run(['tshark', '-n', '-r', pcap, '-d', 'udp.port==%d,cflow' % port,
                          '-Y', '_ws.expert || _ws.malformed'], capture_output=True, text=True)
    ck.equal('tshark expert/malformed items', '', bad.stdout.strip())
    tmap = {'cflow.http_request_method': 'httpRequestMethod',
            'cflow.http_request_host': 'httpRequestHost',
            'cflow.http_request_target': 'httpRequestTarget',
            'cflow.http_user_agent': 'httpUserAgent', 'cflow.http_statuscode': 'httpStatusCode'}
    got = tshark_fields(pcap, port, list(tmap))
    got = collections.Counter({(tmap[f], v): n for (f, v), n in got.items()})
    for k in tmap.values():
        ck.equal('tshark %s values' % k, {x: n for x, n in want.items() if x[0] == k},
                 {x: n for x, n in got.items() if x[0] == k})

    d = subprocess.run(['ipfixDump', '--yaf', '--in', work('cert.ipfix')], capture_output=True,
                       text=True)
    ck.equal('ipfixDump exit code', 0, d.returncode)
    ck.equal('ipfixDump stderr', '', d.stderr.strip())
    dumped = collections.Counter()
    for name, val in re.findall(r'\(6871/\d+\)\s+(\w+) : (?:\(len: \d+\) )?(.*)$', d.stdout, re.M):
        dumped[(name, val.strip())] += 1
    for k in ('sslServerName', 'dnsQName', 'dnsQRType'):
        ck.equal('ipfixDump %s values' % k, {x: n for x, n in want.items() if x[0] == k},
                 {x: n for x, n in dumped.items() if x[0] == k})

    rc, port = export(tapflow, src, work, 'ntop', ['--l7-ies', 'ntop'])
    ck.equal('tapflow --l7-ies ntop exit code', 0, rc)
    pcap = work('ntop.pcap')
    bad = subprocess.run(['tshark', '-n', '-r', pcap, '-d', 'udp.port==%d,cflow' % port,
                          '-Y', '_ws.expert || _ws.malformed'], capture_output=True, text=True)
    ck.equal('tshark expert/malformed items (ntop)', '', bad.stdout.strip())
    nmap = {'cflow.pie.ntop.ssl_server_name': 'sslServerName', 'cflow.pie.ntop.dns_query': 'dnsQName',
            'cflow.pie.ntop.http_host': 'httpRequestHost'}
    got = tshark_fields(pcap, port, list(nmap))
    got = collections.Counter({(nmap[f], v): n for (f, v), n in got.items()})
    for k in nmap.values():
        ck.equal('tshark ntop %s values' % k, {x: n for x, n in want.items() if x[0] == k},
                 {x: n for x, n in got.items() if x[0] == k})
    work.cleanup(keep=bool(ck.failed))
    ck.finish()


if __name__ == '__main__':
    main()
