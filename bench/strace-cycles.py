#!/usr/bin/env python3
# bench/strace-cycles.py TRACE: from `strace -T -o TRACE build/bench/layers_bench
# --benchmark_filter=Paired/...`, cuts the floor's and the workspace's cycles (from
# mkdir .../floor|ws/init to rmdir of it), and says whether their syscall
# sequences are the same (paths normalised, the untimed probe left out) and
# the median time spent in syscalls per cycle.
import re,sys
lines=open(sys.argv[1]).read().splitlines()
# cycles: from mkdir(.../floor/init" or ws/init" to the rmdir of that init
def cycles(tag):
    out=[];cur=None
    for l in lines:
        if re.search(r'mkdir\("[^"]*/%s/init", 0755'%tag,l): cur=[]
        if cur is not None:
            cur.append(l)
            if re.search(r'rmdir\("[^"]*/%s/init"\)'%tag,l): out.append(cur);cur=None
    return out
def norm(c,tag):
    r=[]
    for l in c:
        l=re.sub(r' <[0-9.]+>$','',l); l=l.replace('/%s/'%tag,'/X/').replace('/%s"'%tag,'/X"')
        if 'newfstatat' in l and 'only-' in l: continue  # the bench's untimed probe
        r.append(l)
    return r
def tsum(c): return sum(float(m.group(1)) for l in c for m in [re.search(r'<([0-9.]+)>$',l)] if m)
f=cycles('floor'); w=cycles('ws')
print('cycles', len(f), len(w))
same=all(norm(a,'floor')==norm(b,'ws') for a,b in zip(f,w))
print('syscalls per cycle floor', len(norm(f[0],'floor')), 'ws', len(norm(w[0],'ws')), 'identical sequences:', same)
print('kernel time in syscalls per cycle (strace -T, median): floor %.1f us, ws %.1f us'%(sorted(tsum(c) for c in f)[len(f)//2]*1e6, sorted(tsum(c) for c in w)[len(w)//2]*1e6))
