"""A task's Python client of its proxy, with requests (a Session): two
GETs on one kept-alive connection, a generator body (sent chunked) and a
JSON body.  Prints what it saw as JSON.  Usage: pyrequests.py PORT"""
import json
import sys

import requests

base = 'http://127.0.0.1:%s/queue/v1' % sys.argv[1]
s = requests.Session()
out = {'gets': []}
for q in ('rq1', 'rq2'):
    r = s.get(base + '/hello?' + q, timeout=20)
    out['gets'].append('%d %s' % (r.status_code, r.text))
pools = list(s.get_adapter(base).poolmanager.pools._container.values())
out['connections'] = sum(p.num_connections for p in pools)


def body():
    for _ in range(40):
        yield b'r' * 65536


out['chunked'] = s.put(base + '/echo', data=body(), timeout=20).json()
out['json'] = s.post(base + '/echo', json={'a': 1}, timeout=20).json()
print(json.dumps(out))
