import fs from 'node:fs';
import path from 'node:path';

/**
 * Writes large nmap XML shaped like test/fixtures/nmap/loopback-ssh.xml (a real
 * nmap 7.93 -oX output): `hosts` hosts from 127.0.x.y, each with `ports` open tcp
 * ports carrying a banner script; streamed to disk so a test can make files
 * larger than it wants to hold in memory.
 */
export function writeNmapXml(file: string, opts: { hosts: number; ports: number; firstPort?: number; startEpoch?: number; tag?: string }): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  const start = opts.startEpoch ?? 1795436753;
  const tag = opts.tag ?? 'a';
  const write = (s: string) => fs.writeSync(fd, s);
  try {
    write(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<nmaprun scanner="nmap" args="nmap -Pn -n -sT -p- 127.0.0.0/16" start="${start}" startstr="" version="7.93" xmloutputversion="1.05">
<scaninfo type="connect" protocol="tcp" numservices="65535" services="1-65535"/>
<verbose level="0"/>
<debugging level="0"/>
`);
    for (let h = 0; h < opts.hosts; h++) {
      const ip = `127.0.${1 + Math.floor(h / 250)}.${1 + (h % 250)}`;
      write(`<host starttime="${start + 1}" endtime="${start + 2}"><status state="up" reason="user-set" reason_ttl="0"/>
<address addr="${ip}" addrtype="ipv4"/>
<hostnames>
</hostnames>
<ports>`);
      let chunk = '';
      for (let p = 0; p < opts.ports; p++) {
        const portNo = (opts.firstPort ?? 1) + p;
        chunk += `<port protocol="tcp" portid="${portNo}"><state state="open" reason="syn-ack" reason_ttl="0"/><service name="unknown" method="table" conf="3"/><script id="banner" output="svc-${tag}-${portNo}"/></port>\n`;
        if (chunk.length > 1 << 16) {
          write(chunk);
          chunk = '';
        }
      }
      write(`${chunk}</ports>
<times srtt="140141" rttvar="140141" to="700705"/>
</host>
`);
    }
    write(`<runstats><finished time="${start + 3}" timestr="" summary="" elapsed="3" exit="success"/><hosts up="${opts.hosts}" down="0" total="${opts.hosts}"/>
</runstats>
</nmaprun>
`);
  } finally {
    fs.closeSync(fd);
  }
  return file;
}
