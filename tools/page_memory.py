#!/usr/bin/env python3
# Peak resident memory of the release binary while clients of several customers read the largest
# list page over and over. Usage: tools/page_memory.py target/release/confab CUSTOMERS READERS_EACH SECONDS
import json, subprocess, sys, threading, time, urllib.request, os, re, tempfile
binary, customers, readers_each, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
d = tempfile.mkdtemp()
proc = subprocess.Popen([binary, 'serve', '--db', f'{d}/c.db', '--bind', '127.0.0.1:18181', '--admin-token', 't', '--rate-limit', '0', '--flows-dir', '/nonexistent'], stderr=subprocess.DEVNULL)
base = 'http://127.0.0.1:18181'
for _ in range(100):
    try:
        urllib.request.urlopen(base + '/healthz'); break
    except Exception: time.sleep(0.1)
def call(method, path, key, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None, headers={'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json'})
    return urllib.request.urlopen(req, timeout=120).read()
talk = lambda l, n: {"type": "talk", "option": {"text": f"{l} {n} " + "x"*4700}}
keys = []
for c in range(customers):
    key = json.loads(call('POST', '/v1.0/customers', 't', {"name": f"c{c}"}))['api_key']
    for i in range(8):
        call('POST', '/v1.0/conferences', key, {"name": f"big {i}", "data": {"blob": "d"*60000}, "pre_actions": [talk("pre", n) for n in range(100)], "post_actions": [talk("post", n) for n in range(100)]})
    keys.append(key)
def rss(field):
    for line in open(f'/proc/{proc.pid}/status'):
        if line.startswith(field): return int(line.split()[1]) / 1024
idle = rss('VmRSS')
stop = time.time() + seconds
reads = [0]
def reader(key):
    while time.time() < stop:
        call('GET', '/v1.0/conferences?page_size=100', key); reads[0] += 1
ts = [threading.Thread(target=reader, args=(k,)) for k in keys for _ in range(readers_each)]
for t in ts: t.start()
for t in ts: t.join()
print(f"customers={customers} readers={customers*readers_each} idle_rss={idle:.1f}MiB peak_rss={rss('VmHWM'):.1f}MiB pages_read={reads[0]}")
proc.terminate(); proc.wait()
