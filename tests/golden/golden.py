#!/usr/bin/python3
"""Golden tests on data/sample.pcap: tapflow's output must equal the reviewed files here.

usage: golden.py TAPFLOW SOURCE_ROOT jsonl|v5|v9|ipfix|truth [--regen]

  jsonl      JSON lines (`-e jsonl:-`), lines sorted          vs tests/golden/sample.jsonl
  v5|v9|ipfix the export datagrams received on 127.0.0.1, in order, hex-dumped
                                                              vs tests/golden/sample.FORMAT.hex
  truth      JSON lines vs data/sample.truth.csv (independent truth): every flow, packets,
             bytes, first/last (ms, floor of the µs truth), TCP flags (no golden file)

For a capture file tapflow stamps export headers with packet time, so the bytes are the same
on every run and no header field needs masking; `--regen` runs tapflow twice, refuses to
write if the two runs differ, and rewrites the golden file (tests/golden/regen.sh does all).
"""
import difflib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'interop'))
import common  # noqa: E402
from collect import Collector  # noqa: E402


def jsonl(tapflow, src):
    p = subprocess.run([tapflow, '-r', common.sample_pcap(src), '-q', '-e', 'jsonl:-'],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError('tapflow exit %d: %s' % (p.returncode, p.stderr.strip()))
    return ''.join(sorted(p.stdout.splitlines(keepends=True)))


def hexdump(messages):
    out = []
    for i, data in enumerate(messages, 1):
        version = int.from_bytes(data[:2], 'big') if len(data) >= 2 else -1
        out.append('# message %d: %d bytes, version %d\n' % (i, len(data), version))
        for off in range(0, len(data), 16):
            chunk = data[off:off + 16]
            words = ' '.join(chunk[k:k + 2].hex() for k in range(0, len(chunk), 2))
            out.append('%04x  %s\n' % (off, words))
    return ''.join(out)


def export_hex(tapflow, fmt, src):
    col = Collector('127.0.0.1').start()
    p = subprocess.run([tapflow, '-r', common.sample_pcap(src), '-q', '-e',
                        '%s://127.0.0.1:%d' % (fmt, col.port)], capture_output=True, text=True,
                       timeout=60)
    msgs = col.stop()
    if p.returncode != 0:
        raise RuntimeError('tapflow exit %d: %s' % (p.returncode, p.stderr.strip()))
    return hexdump([m[2] for m in msgs])


def check_truth(tapflow, src):
    ck = common.Checks('sample-truth')
    truth = {}
    for r in common.sample_truth(src):
        truth[(r['src'], r['dst'], r['proto'], r['sport'], r['dport'], r['tos'], r['vlan'])] = r
    ck.check('truth has flows', len(truth) > 0)
    p = subprocess.run([tapflow, '-r', common.sample_pcap(src), '-q', '--key', '+vlan', '-e',
                        'jsonl:-'], capture_output=True, text=True, timeout=60)
    ck.equal('tapflow exit code', 0, p.returncode)
    seen = set()
    for line in p.stdout.splitlines():
        j = json.loads(line)
        v = 'IPv6' if j.get('ipVersion') == 6 else 'IPv4'
        key = (j['source%sAddress' % v], j['destination%sAddress' % v], j['protocolIdentifier'],
               j['sourceTransportPort'], j['destinationTransportPort'], j['ipClassOfService'],
               j['vlanId'])
        t = truth.get(key)
        if not ck.check('flow %s in truth' % (key,), t is not None):
            continue
        if key in seen:
            ck.check('flow %s exported once' % (key,), False)
        seen.add(key)
        exp = (t['packets'], t['bytes'], t['first_us'] // 1000, t['last_us'] // 1000,
               t['tcp_flags'])
        got = (j['packetDeltaCount'], j['octetDeltaCount'], j['flowStartMilliseconds'],
               j['flowEndMilliseconds'], j['tcpControlBits'])
        if exp != got:
            ck.equal('flow %s (packets, bytes, first_ms, last_ms, flags)' % (key,), exp, got)
        else:
            ck.passed += 1
    missing = sorted(set(truth) - seen)
    ck.check('every truth flow exported (%d)' % len(truth), not missing,
             'missing: %s' % missing[:5] if missing else '')
    ck.finish()


def main():
    tapflow, src, rest = common.parse_args('jsonl|v5|v9|ipfix|truth [--regen]', 1)
    what = rest[0]
    regen = '--regen' in rest[1:]
    if what == 'truth':
        check_truth(tapflow, src)
    if what == 'jsonl':
        produce = lambda: jsonl(tapflow, src)  # noqa: E731
        golden = os.path.join(HERE, 'sample.jsonl')
    elif what in ('v5', 'v9', 'ipfix'):
        produce = lambda: export_hex(tapflow, what, src)  # noqa: E731
        golden = os.path.join(HERE, 'sample.%s.hex' % what)
    else:
        print('unknown golden kind %r' % what, file=sys.stderr)
        sys.exit(2)
    got = produce()
    if regen:
        again = produce()
        if again != got:
            print('%s: two runs on the same file differ; not writing %s' % (what, golden))
            sys.stdout.writelines(difflib.unified_diff(got.splitlines(True), again.splitlines(True),
                                                       'run 1', 'run 2', n=1))
            sys.exit(1)
        with open(golden, 'w') as f:
            f.write(got)
        print('wrote %s (%d lines)' % (os.path.relpath(golden, src), got.count('\n')))
        sys.exit(0)
    if not os.path.exists(golden):
        print('FAIL: %s missing (tests/golden/regen.sh writes it)' % golden)
        sys.exit(1)
    with open(golden) as f:
        want = f.read()
    if got == want:
        print('ok    %s equals %s (%d lines)' % (what, os.path.relpath(golden, src),
                                                 want.count('\n')))
        sys.exit(0)
    print('FAIL  %s differs from %s (review; if intended, run tests/golden/regen.sh):'
          % (what, os.path.relpath(golden, src)))
    diff = list(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                     'golden', 'tapflow', n=2))
    sys.stdout.writelines(diff[:400])
    if len(diff) > 400:
        print('... %d more diff lines' % (len(diff) - 400))
    sys.exit(1)


if __name__ == '__main__':
    main()
