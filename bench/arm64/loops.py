# Prints the instructions of each loop (backward branch range) of every pair_kernel in the given objects.
import re,subprocess,sys
# For each pair_kernel instantiation: instructions in each innermost loop (a backward branch's range).
for obj in sys.argv[1:]:
    out=subprocess.run(['aarch64-linux-gnu-objdump','-d','-C','--no-show-raw-insn',obj],capture_output=True,text=True).stdout
    funcs=re.split(r'\n(?=[0-9a-f]+ <)',out)
    for f in funcs:
        m=re.match(r'([0-9a-f]+) <(.*)>:',f)
        if not m or 'pair_kernel' not in m.group(2): continue
        name=re.search(r'pair_kernel<\(rpu::DType\)(\d+), (\w+), (\d+)>',m.group(2))
        ins=[]
        for line in f.split('\n')[1:]:
            mm=re.match(r'\s+([0-9a-f]+):\s+(\S+)\s*(.*)',line)
            if mm: ins.append((int(mm.group(1),16),mm.group(2),mm.group(3)))
        addr={a:i for i,(a,_,_) in enumerate(ins)}
        loops=[]
        for i,(a,op,arg) in enumerate(ins):
            if op.startswith('b') and not op.startswith('bl') or op in('cbnz','cbz','tbnz','tbz','b.ne','b.lt','b.gt'):
                t=re.search(r'([0-9a-f]+) <',arg)
                if t:
                    ta=int(t.group(1),16)
                    if ta<a and ta in addr: loops.append((addr[ta],i))
        # innermost = the largest loop body (the per-block loop) – print all
        desc=[]
        for s,e in loops:
            body=ins[s:e+1]
            kinds={}
            for _,op,_ in body:
                k='sdot' if op=='sdot' else 'smmla' if op=='smmla' else 'load' if op.startswith('ld') else 'other'
                kinds[k]=kinds.get(k,0)+1
            desc.append(f"{e-s+1} ins {kinds}")
        print(obj, name.groups() if name else m.group(2)[:80], '|', '; '.join(desc))
