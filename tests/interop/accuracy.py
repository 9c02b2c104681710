#!/usr/bin/python3
"""Accuracy and export lint against the shared ground truth, through
../shared/tools/corpus_eval.py and flowcheck.py (independent decoders + tshark lint).

usage: accuracy.py TAPFLOW SOURCE_ROOT PROTO MODE [EXTRA_OPTIONS]
  MODE corpus  every ../shared/corpus/dev pcap: --min-accuracy 99.5 --min-l7 99 --max-l7-wrong 0 --max-lint 0
       lint    every ../shared/corpus/dev pcap: --max-lint 0 only (accuracy printed, not judged)
       sample  data/sample.pcap vs data/sample.truth.csv: 100 % exact flows, lint clean

Probe command: TAPFLOW -r {pcap} -e PROTO://{host}:{port} -q, plus --key +vlan except for v5
(NetFlow v5 has no VLAN field; flowcheck ignores the vlan column for v5), plus EXTRA_OPTIONS
(one shell-quoted string, e.g. '--biflow --sample 3': lint mode only, since they change flows).
Skips (77) when ../shared/tools or ../shared/corpus is absent (a clone without ../shared).
"""
import os
import shlex
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import common  # noqa: E402


def main():
    tapflow, src, rest = common.parse_args('v5|v9|ipfix corpus|lint|sample', 2)
    proto, mode = rest[0], rest[1]
    extra = rest[2] if len(rest) > 2 else ''
    if extra and mode != 'lint':
        print('EXTRA_OPTIONS change the flows: lint mode only', file=sys.stderr)
        sys.exit(2)
    shared = common.shared_dir(src)
    tools = os.path.join(shared, 'tools')
    evaluator = os.path.join(tools, 'corpus_eval.py')
    flowcheck = os.path.join(tools, 'flowcheck.py')
    for need in (evaluator, flowcheck):
        if not os.path.exists(need):
            common.skip('%s not found: accuracy needs ../shared beside the checkout' % need)
    common.need_tools('tshark')
    key = '' if proto == 'v5' else ' --key +vlan'
    probe = '%s -r {pcap} -e %s://{host}:{port}%s -q' % (shlex.quote(tapflow), proto, key)
    if extra:
        probe += ' ' + extra
    work = common.WorkDir('accuracy-%s-%s%s' % (proto, mode, '-options' if extra else ''))
    if mode == 'sample':
        cmd = ['/usr/bin/python3', flowcheck, 'run', '--probe', probe,
               '--pcap', common.sample_pcap(src),
               '--truth', os.path.join(src, 'data', 'sample.truth.csv'), '--proto', proto,
               '--outdir', work('out'), '--idle', '1', '--min-accuracy', '100', '--strict-lint']
    else:
        corpus = os.path.join(shared, 'corpus')
        dev, truth = os.path.join(corpus, 'dev'), os.path.join(corpus, 'truth')
        if not (os.path.isdir(dev) and os.path.isdir(truth)):
            common.skip('%s or %s not found' % (dev, truth))
        cmd = ['/usr/bin/python3', evaluator, '--pcaps', dev, '--truth', truth, '--proto', proto,
               '--probe', probe, '--max-lint', '0', '--out', work('out')]
        # Which enterprise elements carry the DNS type/rcode (and, in v9, SNI and DNS name):
        # docs/fields.md. flowcheck knows the IANA HTTP elements and CERT's SNI/name itself.
        if proto == 'ipfix':
            cmd += ['--ie-map', 'dns_qtype=6871:175:uint,dns_rcode=6871:177:uint']
        elif proto == 'v9':
            cmd += ['--ie-map', 'sni=57660,dns_qname=57677,dns_qtype=57679:uint,dns_rcode=57680:uint']
        if mode == 'corpus':
            # docs/accuracy.md: flows >= 99.5 % exact; DPI values >= 99 % equal and none wrong.
            cmd += ['--min-accuracy', '99.5', '--min-l7', '99', '--max-l7-wrong', '0']
    print('+ ' + ' '.join(shlex.quote(c) for c in cmd), flush=True)
    t0 = time.monotonic()
    p = subprocess.run(cmd)
    print('%s %s: exit %d after %.0f s' % (proto, mode, p.returncode, time.monotonic() - t0))
    work.cleanup(keep=p.returncode != 0)
    sys.exit(0 if p.returncode == 0 else 1)


if __name__ == '__main__':
    main()
