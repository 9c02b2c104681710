#!/usr/bin/python3
"""tapflow's documented exit codes: 0 ok, 1 runtime failure, 2 bad usage or unreadable input
with exactly one line on stderr.

usage: exitcodes.py TAPFLOW SOURCE_ROOT
"""
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import common  # noqa: E402


def main():
    tapflow, src, _ = common.parse_args('')
    ck = common.Checks('exit-codes')
    work = common.WorkDir('exitcodes')
    sample = common.sample_pcap(src)

    # A capture with link type 147 (LINKTYPE_USER0), which tapflow cannot decode.
    odd = work('linktype147.pcap')
    with open(odd, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xA1B2C3D4, 2, 4, 0, 0, 65535, 147))
        f.write(struct.pack('<IIII', 1704067200, 0, 4, 4) + b'\x00\x01\x02\x03')
    unreadable = work('no-such-dir', 'missing.pcap')
    notpcap = work('not-a-pcap.txt')
    with open(notpcap, 'w') as f:
        f.write('this is not a capture file\n' * 10)
    jsonl = 'jsonl:' + work('out.jsonl')

    cases = [
        # (name, args, expected exit code, stderr lines (None = any), text stderr must contain)
        ('--help', ['--help'], 0, None, None),
        ('--version', ['--version'], 0, None, None),
        ('sample to jsonl', ['-r', sample, '-q', '-e', jsonl], 0, 0, None),
        ('unreadable file', ['-r', unreadable, '-q', '-e', jsonl], 2, 1, unreadable),
        ('file that is not a capture', ['-r', notpcap, '-q', '-e', jsonl], 2, 1, notpcap),
        ('bad URI scheme', ['-r', sample, '-q', '-e', 'v7://127.0.0.1:2055'], 2, 1, 'v7://'),
        ('URI without port', ['-r', sample, '-q', '-e', 'ipfix://127.0.0.1'], 2, 1, 'ipfix://'),
        ('URI with port 0', ['-r', sample, '-q', '-e', 'v9://127.0.0.1:0'], 2, 1, 'v9://'),
        ('URI with port 70000', ['-r', sample, '-q', '-e', 'v9://127.0.0.1:70000'], 2, 1, None),
        ('unknown option', ['-r', sample, '-q', '-e', jsonl, '--no-such-option'], 2, 1,
         '--no-such-option'),
        ('no -e', ['-r', sample, '-q'], 2, 1, None),
        ('no input', ['-q', '-e', jsonl], 2, 1, None),
        ('-r and -i together', ['-r', sample, '-i', 'lo', '-q', '-e', jsonl], 2, 1, None),
        ('bad --key', ['-r', sample, '-q', '-e', jsonl, '--key', '+colour'], 2, 1, 'colour'),
        ('link type 147', ['-r', odd, '-q', '-e', jsonl], 2, 1, odd),
    ]
    for name, args, code, lines, needle in cases:
        p = subprocess.run([tapflow] + args, capture_output=True, text=True, timeout=30)
        err = p.stderr.splitlines()
        shown = ' | '.join(err[:3])
        ck.equal('%s: exit code' % name, code, p.returncode)
        if lines is not None:
            ck.check('%s: %d stderr line(s)' % (name, lines), len(err) == lines,
                     'got %d: %s' % (len(err), shown))
        if lines:
            ck.check('%s: stderr starts with "tapflow:"' % name,
                     bool(err) and err[0].startswith('tapflow:'), shown)
        if needle:
            ck.check('%s: stderr names %s' % (name, needle), needle in p.stderr, shown)
        if name == '--help':
            ck.check('--help prints usage on stdout', 'Usage' in p.stdout and '-r' in p.stdout)

    # A live-capture interface that does not exist is bad input, not a crash.
    p = subprocess.run([tapflow, '-i', 'tapflow-no-such-if0', '-q', '-e', jsonl],
                       capture_output=True, text=True, timeout=30)
    err = p.stderr.splitlines()
    ck.check('missing interface: exit code 1 or 2 with one "tapflow:" line',
             p.returncode in (1, 2) and len(err) == 1 and err[0].startswith('tapflow:'),
             'exit %d, stderr %r' % (p.returncode, p.stderr.strip()))
    work.cleanup(keep=bool(ck.failed))
    ck.finish()


if __name__ == '__main__':
    main()
