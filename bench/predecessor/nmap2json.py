#!/usr/bin/env python3
"""The predecessor's parser as a baseline for bench/parse.ts (issue #2's goal is "2x the
predecessor's Python parser"): nmap XML -> upstream nmap2json host documents with their hsh256
values (algorithm version acab4f2, as described in shared/docs/plum-reference.md section 3-4 and
as core/nmap/compat.ts reproduces it).

This is Plum's own re-implementation, written from core/nmap/compat.ts, not upstream's code. It
works as upstream does: Python's standard library only, xml.etree.ElementTree over the whole file,
dicts sorted recursively, json.dumps, hashlib.sha256, and the same masking of http-headers
outputs. `--check GOLDEN` compares every host and port hsh256 with the golden vectors first, so a
timing is only reported for code that computes what upstream computes.

  python3 bench/predecessor/nmap2json.py FILE.xml [--open-only]    -> one summary JSON line
  python3 bench/predecessor/nmap2json.py --check golden.json DIR    -> exit 1 on any mismatch
  python3 bench/predecessor/nmap2json.py --hashes FILE.xml [--open-only]
      -> one JSON line per host: addr, hsh256, ports {protocol/portid: hsh256} (compared with
         core/nmap/compat.ts on every fixture by test/predecessor-baseline.test.ts)
"""
import hashlib
import json
import os
import platform
import re
import sys
import time
import resource
import xml.etree.ElementTree as ET


def parse_table(table):
    with_key, without_key = {}, []
    for e in table.findall("elem"):
        key = e.get("key")
        if key:
            with_key[key] = e.text
        else:
            without_key.append(e.text)
    subs = [(t.get("key"), parse_table(t)) for t in table.findall("table")]
    if with_key or subs:
        r = dict(with_key)
        for key, val in subs:
            if key:
                r[key] = val
            else:
                r.setdefault("__list__", []).append(val)
        if without_key:
            r["__list__"] = without_key
        return r
    return without_key


def ports_of(host):
    out = []
    for p in host.findall("ports/port"):
        d = dict(p.attrib)
        st, sv, scripts = p.find("state"), p.find("service"), p.findall("script")
        if st is not None:
            d["state"] = dict(st.attrib)
        if sv is not None:
            d["service"] = dict(sv.attrib)
        if scripts:
            d["scripts"] = []
            for s in scripts:
                e = dict(s.attrib)
                for t in s.findall("table"):
                    e[t.get("key", "unknown")] = parse_table(t)
                direct = [x.text for x in s.findall("elem") if x.get("key") is None]
                if direct:
                    e["elems"] = direct
                for x in s.findall("elem"):
                    if x.get("key"):
                        e[x.get("key")] = x.text
                d["scripts"].append(e)
        out.append(d)
    return out


def convert_extensions(o):
    if isinstance(o, dict):
        for k, v in list(o.items()):
            if k == "extensions" and isinstance(v, dict) and "__list__" in v:
                ext = {}
                for item in v["__list__"]:
                    ext[item["name"]] = item.get("value", "")
                    if "critical" in item:
                        ext[item["name"] + " critical"] = item["critical"]
                o[k] = ext
            else:
                convert_extensions(v)
    elif isinstance(o, list):
        for x in o:
            convert_extensions(x)


def sort_dict(d):
    if isinstance(d, dict):
        return {k: sort_dict(v) for k, v in sorted(d.items())}
    if isinstance(d, list):
        items = [sort_dict(x) for x in d]
        if all(isinstance(x, dict) for x in items):
            if all("id" in x for x in items):
                return sorted(items, key=lambda x: x["id"])
            return sorted(items, key=lambda x: json.dumps(x, sort_keys=True))
        return items
    return d


HEADERS_TOCLEAN = [
    "CF-Ray", "content-security-policy-report-only", "ETag", "request-id", "Via", "www-authenticate",
    "X-Amz-Cf-Id", "x-amz-id-2", "x-amz-request-id", "x-gitlab-meta", "x-iplb-instance",
    "x-iplb-request-id", "x-ntap-sg-trace-id", "x-request-id", "x-runtime", "X-GitHub-Request-Id",
    "X-Fastly-Request-ID",
]
SMART_HASH_SCRIPTS = ("http-headers", "http-security-headers")
DATE_RE = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2}[- ](?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[- ]\d{4} \d{2}:\d{2}:\d{2} [A-Z]{2,4}")
UID_RE = re.compile(r"[a-f0-9]{8}-(?:[a-f0-9]{4}-){3}[a-f0-9]{12}")
NONCE_RE = re.compile(r'nonce[-=]"?([a-zA-Z0-9_\-+]+)')
CORR_RE = re.compile(r'(correlation_id"[:]"([a-zA-Z0-9_\-+]+))')
COOKIE_RE = re.compile(r"(Set-Cookie:\s*[^=]+)=([^;]+)(;[^\n]*|$)", re.IGNORECASE)
HEADER_RES = [
    (h.lower(), re.compile(r"^\s*" + re.escape(h) + r"\s*:", re.I | re.M),
     re.compile(r"(^\s*" + re.escape(h) + r"\s*:\s*)([^\n]+)", re.I | re.M))
    for h in HEADERS_TOCLEAN
]


def mask_same_length(m):
    return "".join("X" if c != " " else " " for c in m.group(0))


def anonymise_headers(t):
    for lower, present, value in HEADER_RES:
        if present.search(t):
            if lower.startswith("content-security-policy") or lower.startswith("www-authenticate"):
                t = NONCE_RE.sub(mask_same_length, t)
                continue
            if lower.startswith("x-gitlab-meta"):
                t = CORR_RE.sub(mask_same_length, t)
                continue
        t = value.sub(lambda m: m.group(1) + "X" * len(m.group(2)), t)
    return t


def clean_output(out):
    t = UID_RE.sub(mask_same_length, DATE_RE.sub(mask_same_length, out))
    t = COOKIE_RE.sub(lambda m: m.group(1) + "=[REDACTED]" + (m.group(3) or ""), t)
    return anonymise_headers(t)


def filter_keys(o, exclude):
    if isinstance(o, dict):
        return {k: filter_keys(v, exclude) for k, v in o.items() if k not in exclude}
    if isinstance(o, list):
        return [filter_keys(x, exclude) for x in o]
    return o


def master_clean(r):
    for port in r.get("ports") or []:
        for item in port.get("scripts") or []:
            if item.get("id") in SMART_HASH_SCRIPTS and isinstance(item.get("output"), str):
                item["output"] = clean_output(item["output"])
    return r


def sha256(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def port_hash(port):
    return sha256(json.dumps(master_clean(filter_keys({"ports": [port]}, {"hsh256"}))["ports"][0]))


def host_hash(host):
    return sha256(json.dumps(master_clean(filter_keys(host, {"starttime", "endtime", "hsh256"}))))


def is_open(p):
    return (p.get("state") or {}).get("state") == "open"


def host_doc(h, open_only):
    data = {"addr": None, "hsh256": None, "starttime": h.get("starttime"), "endtime": h.get("endtime"),
            "status": {}, "hostnames": [], "ports": []}
    st = h.find("status")
    if st is not None:
        data["status"] = dict(st.attrib)
    addr = h.find("address")
    if addr is not None:
        data["addr"] = addr.get("addr")
    data["hostnames"] = [dict(n.attrib) for n in h.findall("hostnames/hostname")]
    data["ports"] = ports_of(h)
    convert_extensions(data)
    reply = any(is_open(p) for p in data["ports"])
    data["host_reply"] = reply
    if open_only:
        data = dict(data, ports=[p for p in data["ports"] if is_open(p)])
        if not reply:
            return None
    data = sort_dict(data)
    ports = []
    for p in data["ports"]:
        digest, out = port_hash(p), {}
        for k, v in p.items():
            out[k] = v
            if k == "portid":
                out["hsh256"] = digest
        out.setdefault("hsh256", digest)
        ports.append(out)
    data["ports"] = ports
    data["hsh256"] = host_hash(data)
    return data


def documents(path, open_only=False):
    # As upstream: the whole file as one ElementTree.
    root = ET.parse(path).getroot()
    for h in root.findall("host"):
        d = host_doc(h, open_only)
        if d is not None:
            yield d


def hashes(d):
    return {"addr": d["addr"], "hsh256": d["hsh256"], "ports": {f"{p['protocol']}/{p['portid']}": p["hsh256"] for p in d["ports"]}}


def check(golden_path, folder):
    golden = json.load(open(golden_path))["files"]
    bad = 0
    for name, modes in sorted(golden.items()):
        for mode, hosts in modes.items():
            got = list(documents(os.path.join(folder, name), mode == "open_only"))
            want = [(g["addr"], g["hsh256"], g.get("ports")) for g in hosts]
            have = [tuple(hashes(d).values()) for d in got]
            for i, (w, g) in enumerate(zip(want, have)):
                if w[0] != g[0] or w[1] != g[1] or (w[2] is not None and w[2] != g[2]):
                    bad += 1
                    print(f"{name} {mode} host {i}: expected {w[:2]}, got {g[:2]}", file=sys.stderr)
            if len(want) != len(have):
                bad += 1
                print(f"{name} {mode}: expected {len(want)} hosts, got {len(have)}", file=sys.stderr)
    return bad


def main(argv):
    if len(argv) == 3 and argv[0] == "--check":
        bad = check(argv[1], argv[2])
        print(json.dumps({"golden_mismatches": bad}))
        return 1 if bad else 0
    if len(argv) in (2, 3) and argv[0] == "--hashes" and argv[2:] in ([], ["--open-only"]):
        for d in documents(argv[1], len(argv) == 3):
            print(json.dumps(hashes(d)))
        return 0
    if len(argv) not in (1, 2) or argv[0].startswith("--") or argv[1:] not in ([], ["--open-only"]):
        print("usage: python3 bench/predecessor/nmap2json.py FILE.xml [--open-only] | --hashes FILE.xml [--open-only] | --check GOLDEN DIR", file=sys.stderr)
        return 2
    started, cpu = time.perf_counter(), time.process_time()
    hosts = ports = 0
    for d in documents(argv[0], len(argv) == 2):
        hosts += 1
        ports += len(d["ports"])  # documents are not written out: bench/parse.ts does not write either
    seconds = time.perf_counter() - started
    mb = os.path.getsize(argv[0]) / 1024 / 1024
    print(json.dumps({
        "hosts": hosts, "ports": ports, "seconds": round(seconds, 2), "cpu_seconds": round(time.process_time() - cpu, 2),
        "mb_per_s": round(mb / seconds, 1), "hosts_per_s": round(hosts / seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "python": platform.python_version(),
    }))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (OSError, ET.ParseError) as e:
        print(f"nmap2json.py: {e}", file=sys.stderr)
        sys.exit(1)
