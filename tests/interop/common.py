"""Helpers shared by the interop, robust, accuracy and golden test scripts (stdlib only).

Every test script is called by meson as  SCRIPT TAPFLOW SOURCE_ROOT [ARGS...]  and exits
0 = pass, 1 = fail, 77 = skipped (meson's skip code; a reason is printed first).
"""
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
signal.signal(signal.SIGPIPE, signal.SIG_DFL)   # quiet when piped into head


def skip(reason):
    print('SKIP: ' + reason, flush=True)
    sys.exit(SKIP)


def need_tools(*names):
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        skip('not installed: %s (scripts/deps installs them)' % ' '.join(missing))


def shared_dir(src):
    """../shared beside the checkout (CI has it, a user's clone does not)."""
    return os.path.realpath(os.path.join(src, '..', 'shared'))


def parse_args(usage, nargs=0):
    if len(sys.argv) < 3 + nargs:
        print('usage: %s TAPFLOW SOURCE_ROOT %s' % (os.path.basename(sys.argv[0]), usage),
              file=sys.stderr)
        sys.exit(2)
    tapflow = os.path.realpath(sys.argv[1])
    src = os.path.realpath(sys.argv[2])
    return tapflow, src, sys.argv[3:]


class Checks:
    """Collects named checks, prints one line each, exits 1 at the end if any failed."""

    def __init__(self, name):
        self.name = name
        self.failed = []
        self.passed = 0
        self.t0 = time.monotonic()

    def check(self, what, ok, detail=''):
        if ok:
            self.passed += 1
            print('ok    %s%s' % (what, ('  (' + detail + ')') if detail else ''), flush=True)
        else:
            self.failed.append(what)
            print('FAIL  %s%s' % (what, ('  -- ' + detail) if detail else ''), flush=True)
        return ok

    def equal(self, what, expected, actual):
        return self.check(what, expected == actual,
                          'expected %r, got %r' % (expected, actual) if expected != actual
                          else '%r' % (actual,))

    def finish(self):
        dt = time.monotonic() - self.t0
        print('%s: %d checks passed, %d failed (%.1f s)' % (self.name, self.passed,
                                                           len(self.failed), dt), flush=True)
        if self.failed:
            print('failed: ' + '; '.join(self.failed), flush=True)
        sys.exit(1 if self.failed else 0)


class WorkDir:
    """A temporary directory, removed at exit unless TAPFLOW_KEEP_TMP is set."""

    def __init__(self, prefix):
        self.path = tempfile.mkdtemp(prefix='tapflow-%s-' % prefix)

    def __call__(self, *parts):
        return os.path.join(self.path, *parts)

    def cleanup(self, keep=False):
        if keep or os.environ.get('TAPFLOW_KEEP_TMP'):
            print('kept work dir ' + self.path)
        else:
            shutil.rmtree(self.path, ignore_errors=True)


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def udp_listening(port):
    out = subprocess.run(['ss', '-Hunl', 'sport = :%d' % port], capture_output=True,
                         text=True).stdout
    return bool(out.strip())


def wait_udp_listening(port, timeout=10.0):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if udp_listening(port):
            return True
        time.sleep(0.05)
    return False


def run_tapflow(tapflow, args, timeout=60, stats=None):
    """Runs tapflow; returns (CompletedProcess, stats dict or None)."""
    cmd = [tapflow] + args
    if stats:
        cmd += ['--stats', stats]
    print('+ ' + ' '.join(cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        print('tapflow exit %d, stderr:\n%s' % (p.returncode, p.stderr), flush=True)
    st = None
    if stats and os.path.exists(stats):
        with open(stats) as f:
            st = json.load(f)
    return p, st


def sample_pcap(src):
    return os.path.join(src, 'data', 'sample.pcap')


def load_truth(path):
    """Truth CSV rows with numeric columns as int."""
    rows = []
    with open(path, newline='') as f:
        for r in csv.DictReader(f):
            for k in ('proto', 'sport', 'dport', 'tos', 'vlan', 'packets', 'bytes', 'first_us',
                      'last_us', 'tcp_flags'):
                r[k] = int(r[k]) if r[k] != '' else 0
            r['v6'] = ':' in r['src']
            rows.append(r)
    return rows


def sample_truth(src):
    return load_truth(os.path.join(src, 'data', 'sample.truth.csv'))


def totals(rows):
    return len(rows), sum(r['packets'] for r in rows), sum(r['bytes'] for r in rows)


def find_flow(rows, **kw):
    for r in rows:
        if all(r[k] == v for k, v in kw.items()):
            return r
    return None


def udp_recv_queue(port):
    """Bytes waiting in the receive queue of the UDP socket bound to 127.0.0.1:port (ss)."""
    out = subprocess.run(['ss', '-Hunl', 'sport = :%d' % port], capture_output=True,
                         text=True).stdout.split()
    return int(out[1]) if len(out) > 1 and out[1].isdigit() else 0


def wait_udp_drained(port, timeout=20.0):
    """Waits until a collector has read every datagram queued on its socket: nfcapd (and
    others) drop what is still queued when stopped, and a loaded machine can starve them."""
    time.sleep(0.3)
    t_end = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < t_end:
        quiet = quiet + 1 if udp_recv_queue(port) == 0 else 0
        if quiet >= 3:
            time.sleep(0.2)     # the last datagram read is processed before SIGTERM is seen
            return True
        time.sleep(0.1)
    return False


def stop_process(p, sig=signal.SIGTERM, timeout=10):
    """Signals a collector to stop (so it writes its files) and waits; kills it if it hangs."""
    p.send_signal(sig)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
