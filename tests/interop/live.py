#!/usr/bin/python3
"""Live capture end to end: tapflow -i lo with a BPF filter for one UDP port, this script sends
datagrams to 127.0.0.1 on that port from several source ports, then SIGTERM. tapflow must exit
0 after flushing every flow: the exported packets equal the datagrams sent, one flow per
source port, and --stats shows the kernel delivered them (no drops).

usage: live.py TAPFLOW SOURCE_ROOT      (needs root or CAP_NET_RAW; skips otherwise)
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import common  # noqa: E402


def main():
    tapflow, src, _ = common.parse_args('')
    if os.geteuid() != 0:
        common.skip('live capture needs root (or CAP_NET_RAW)')
    ck = common.Checks('live')
    work = common.WorkDir('live')
    port = common.free_udp_port()
    out, stats = work('flows.jsonl'), work('stats.json')
    cmd = [tapflow, '-i', 'lo', '-f', 'udp dst port %d' % port, '-e', 'jsonl:' + out,
           '--stats', stats, '-q']
    print('+ ' + ' '.join(cmd), flush=True)
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # capture open and filter installed
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(5)]
    sent = 0
    for rnd in range(20):
        for s in socks:
            s.sendto(b'tapflow live test %d' % rnd, ('127.0.0.1', port))
            sent += 1
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    try:
        _, err = p.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
        ck.check('tapflow exits within 15 s of SIGTERM', False)
        ck.finish()
    ck.equal('exit code after SIGTERM', 0, p.returncode)
    ck.equal('stderr', '', err.strip())
    flows = [json.loads(l) for l in open(out)]
    ck.equal('flows (one per source port)', len(socks), len(flows))
    ck.equal('packets exported', sent, sum(f['packetDeltaCount'] for f in flows))
    ck.equal('octets exported', sent * (20 + 8) + sum(len(b'tapflow live test %d' % r) for r in range(20)) * len(socks),
             sum(f['octetDeltaCount'] for f in flows))
    ck.check('every flow ended by the shutdown (flowEndReason 4)',
             all(f['flowEndReason'] == 4 for f in flows), str([f['flowEndReason'] for f in flows]))
    st = json.load(open(stats))
    ck.equal('ring drops', 0, st['cache']['ring_drops'])
    ck.equal('kernel drops', 0, st['capture']['dropped'] + st['capture']['if_dropped'])
    for s in socks:
        s.close()
    work.cleanup(keep=bool(ck.failed))
    ck.finish()


if __name__ == '__main__':
    main()
