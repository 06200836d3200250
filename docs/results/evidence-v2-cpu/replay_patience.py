import csv,glob,json,os
def replay(f1s, patience, new):
    best=-1.0; since=0
    for i,f in enumerate(f1s):
        imp = f>best
        if new: since = 0 if imp else (since if f==0 else since+1)
        else: since = 0 if imp or (f==0==best) else since+1
        if imp: best=f
        if patience and since>=patience: return i
    return None
n=0; diff=[]
for p in glob.glob("docs/results/**/dev_curve.csv", recursive=True):
    d=os.path.dirname(p); ri=json.load(open(d+"/run_info.json")); pat=ri.get("patience")
    f1s=[float(r["dev_f1"]) for r in csv.DictReader(open(p))]
    if not pat: continue
    n+=1
    o,nw=replay(f1s,pat,False),replay(f1s,pat,True)
    if ri.get("stopped_early") and o!=len(f1s)-1: print("old rule does not reproduce", d)
    if o!=nw: diff.append((d,o,nw,len(f1s)))
print(n,"runs with patience"); [print(x) for x in diff]
