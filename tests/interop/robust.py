#!/usr/bin/python3
"""Robustness over ../shared/corpus/robust (damaged, cut, odd-link-type and fuzzed-looking
captures): tapflow must neither crash nor hang on any of them.

usage: robust.py TAPFLOW SOURCE_ROOT [CORPUS_DIR]

Each file: `timeout 20 tapflow -r FILE -e jsonl:/dev/null -q --stats FILE`. Pass = exit 0, or
exit 2 with exactly one stderr line starting with "tapflow:" (bad input, reported). Fail =
killed by a signal (crash, sanitizer abort), timeout, any other exit code or stderr shape.
Skips (77) when the corpus is absent (a clone without ../shared).
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import common  # noqa: E402

TIMEOUT_S = 20


def main():
    tapflow, src, rest = common.parse_args('[CORPUS_DIR]')
    corpus = rest[0] if rest else os.path.join(common.shared_dir(src), 'corpus', 'robust')
    if not os.path.isdir(corpus):
        common.skip('%s not found: the robust corpus comes with ../shared beside the checkout'
                    % corpus)
    files = sorted(f for f in os.listdir(corpus) if os.path.isfile(os.path.join(corpus, f)))
    if not files:
        common.skip('%s is empty' % corpus)
    work = common.WorkDir('robust')
    rows, bad = [], []
    t_all = time.monotonic()
    for name in files:
        path = os.path.join(corpus, name)
        stats = work('stats.json')
        if os.path.exists(stats):
            os.remove(stats)
        cmd = ['timeout', '-s', 'KILL', str(TIMEOUT_S), tapflow, '-r', path, '-e',
               'jsonl:/dev/null', '-q', '--stats', stats]
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, errors='replace')
        dt = time.monotonic() - t0
        err = p.stderr.splitlines()
        frames = flows = '-'
        try:
            with open(stats) as f:
                st = json.load(f)
            frames, flows = st['decode']['frames'], st['cache']['flows_created']
        except (OSError, ValueError, KeyError):
            pass
        if p.returncode == 0:
            verdict = 'ok'
        elif p.returncode == 2 and len(err) == 1 and err[0].startswith('tapflow:'):
            verdict = 'ok (input error)'
        elif p.returncode == 137 or (p.returncode == 124):
            verdict = 'FAIL timeout (>%d s)' % TIMEOUT_S
        elif p.returncode < 0 or p.returncode > 128:
            sig = -p.returncode if p.returncode < 0 else p.returncode - 128
            try:
                signame = signal.Signals(sig).name
            except ValueError:
                signame = str(sig)
            verdict = 'FAIL signal %s' % signame
        else:
            verdict = 'FAIL exit %d, %d stderr lines' % (p.returncode, len(err))
        rows.append((name, p.returncode, frames, flows, '%.2f' % dt, verdict,
                     err[0][:90] if err else ''))
        if verdict.startswith('FAIL'):
            bad.append((name, p.returncode, p.stderr))
    w = max(len(r[0]) for r in rows)
    print('%-*s %5s %8s %6s %6s  %s' % (w, 'file', 'exit', 'frames', 'flows', 'sec', 'verdict'))
    for r in rows:
        print('%-*s %5d %8s %6s %6s  %s%s' % (w, r[0], r[1], r[2], r[3], r[4], r[5],
                                              ('  -- ' + r[6]) if r[6] else ''))
    for name, code, stderr in bad:
        print('\n--- %s (exit %d) stderr:\n%s' % (name, code, stderr.strip()[-3000:]))
    print('\nrobust: %d files, %d passed, %d failed (%.1f s)' % (
        len(rows), len(rows) - len(bad), len(bad), time.monotonic() - t_all))
    work.cleanup()
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
