import { emptySearchFields, type SearchFields } from '../core/fields.ts';
import type { MatchDoc } from '../core/query/index.ts';
import type { StoreSession } from '../store/index.ts';

/** A stored port document for the search tests, with what matchFields needs. */
export interface CorpusDoc extends MatchDoc {
  id: string;
  ip: string;
  protocol: string;
  port: number;
  hsh256: string;
  state: 'open' | 'closed';
  current: boolean;
  fields: SearchFields;
  tags: string[];
  score: number;
  firstSeen: string;
  lastSeen: string;
}

function f(p: Partial<SearchFields>): SearchFields {
  return { ...emptySearchFields(), ...p };
}

/**
 * Documents of real-service shapes (OpenSSH, nginx/Apache/IIS with headers and
 * certificates, Dovecot, Postfix, FortiGate, open directory...), with history
 * rows, a closed port, non-ASCII titles and IPv6: enough for the query corpus
 * to exercise every field type and operator.
 */
export function buildCorpus(): CorpusDoc[] {
  const docs: CorpusDoc[] = [];
  let n = 0;
  const add = (
    ip: string,
    port: number,
    fields: Partial<SearchFields>,
    o: { tags?: string[]; score?: number; first?: string; last?: string; state?: 'open' | 'closed'; current?: boolean; protocol?: string } = {},
  ) => {
    n++;
    const protocol = o.protocol ?? 'tcp';
    docs.push({
      id: `obs_test${String(n).padStart(4, '0')}`,
      ip,
      protocol,
      port,
      hsh256: n.toString(16).padStart(64, '0'),
      state: o.state ?? 'open',
      current: o.current ?? true,
      fields: f({ ip: [ip], port: [String(port)], protocol: [protocol], state: [o.state ?? 'open'], ...fields }),
      tags: o.tags ?? [],
      score: o.score ?? 0,
      firstSeen: o.first ?? '2024-01-10T08:00:00.000Z',
      lastSeen: o.last ?? '2024-03-01T12:00:00.000Z',
    });
  };
  const sshDeb = { service_name: ['ssh'], banner: ['SSH-2.0-OpenSSH_8.4p1 Debian-5+deb11u1'], script: ['banner'] };
  const sshUbu = { service_name: ['ssh'], banner: ['SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6'], script: ['banner'] };
  const nginx = (title: string, names: string[]) => ({
    service_name: ['https'],
    http_title: [title],
    http_server: ['nginx/1.18.0 (Ubuntu)'],
    http_header: ['server', 'content-type', 'x-powered-by'],
    http_headval: ['server: nginx/1.18.0 (Ubuntu)', 'content-type: text/html; charset=UTF-8', 'x-powered-by: PHP/7.4.3'],
    x509_subject: [`CN=${names[0]}`],
    x509_subject_cn: [names[0]!],
    x509_issuer: ["CN=R3,O=Let's Encrypt,C=US"],
    x509_issuer_cn: ['R3'],
    x509_san: names,
    fqdn: names,
    domain: ['example.org'],
    tld: ['org'],
    host: names.map((x) => x.replace(/\.?example\.org$/, '')).filter(Boolean),
    x509_sha256: ['9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'],
    x509_key_bits: ['2048'],
    x509_key_type: ['rsa'],
    http_favicon_mmhash: ['-1137974939'],
    http_favicon_md5: ['d41d8cd98f00b204e9800998ecf8427e'],
    http_cookiename: ['PHPSESSID'],
    script: ['http-title', 'http-headers', 'ssl-cert'],
  });
  add('192.0.2.10', 22, sshDeb, { tags: ['product:openssh', 'os:debian'], score: 20 });
  add('192.0.2.10', 443, nginx('Index of /backup', ['www.example.org', 'example.org']), { tags: ['vuln:opendir', 'product:nginx'], score: 72 });
  add('192.0.2.11', 22, sshUbu, { tags: ['product:openssh'], score: 15, last: '2024-03-02T09:00:00.000Z' });
  add(
    '192.0.2.11',
    80,
    {
      service_name: ['http'],
      http_title: ['IIS Windows Server'],
      http_server: ['Microsoft-IIS/10.0'],
      http_header: ['server', 'x-aspnet-version'],
      http_headval: ['server: Microsoft-IIS/10.0', 'x-aspnet-version: 4.0.30319'],
      http_etag: ['"a1b2c3"'],
    },
    { tags: ['product:iis', 'vendor:microsoft'], score: 40, last: '2024-03-02T09:00:00.000Z' },
  );
  add(
    '198.51.100.7',
    443,
    {
      service_name: ['https'],
      http_title: ['Please Login'],
      http_server: ['xxxxxxxx-xxxxx'],
      http_header: ['server', 'set-cookie'],
      http_headval: ['server: xxxxxxxx-xxxxx', 'set-cookie: SVPNCOOKIE=; path=/'],
      http_cookiename: ['SVPNCOOKIE'],
      x509_subject: ['CN=FortiGate,O=Fortinet,C=US'],
      x509_subject_cn: ['FortiGate'],
      x509_issuer_cn: ['FortiGate'],
      x509_key_bits: ['1024'],
      http_favicon_mmhash: ['945408572'],
    },
    { tags: ['vendor:fortinet', 'type:vpn', 'type:firewall'], score: 85, last: '2024-02-20T10:00:00.000Z' },
  );
  add(
    '198.51.100.8',
    993,
    { service_name: ['imaps'], banner: ['* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS] Dovecot (Debian) ready.'] },
    { tags: ['product:dovecot'], score: 10 },
  );
  add('198.51.100.8', 110, { service_name: ['pop3'], banner: ['+OK Dovecot ready.'] }, { tags: ['product:dovecot'], score: 25 });
  add(
    '198.51.100.9',
    25,
    {
      service_name: ['smtp'],
      banner: ['220 mail.example.net ESMTP Postfix (Debian/GNU)'],
      fqdn: ['mail.example.net'],
      domain: ['example.net'],
      tld: ['net'],
      host: ['mail'],
      ptr: ['mail.example.net'],
    },
    { tags: ['product:postfix'], score: 12, last: '2024-01-15T00:00:00.000Z' },
  );
  add(
    '198.51.100.9',
    8080,
    {
      service_name: ['http-proxy'],
      http_title: ["Bienvenue à l'ÉCOLE — Intranet"],
      http_server: ['Apache/2.4.57 (Debian)'],
      http_header: ['server'],
      http_headval: ['server: Apache/2.4.57 (Debian)'],
      http_favicon_path: ['/favicon.ico'],
    },
    { tags: ['product:apache'], score: 30 },
  );
  add('198.51.100.9', 3306, { service_name: ['mysql'], banner: ['5.7.42-log'] }, { tags: ['type:database'], score: 60 });
  add('2001:db8::5', 443, nginx('Grafana', ['grafana.example.org']), { tags: ['product:grafana'], score: 35 });
  add('203.0.113.1', 21, { service_name: ['ftp'], banner: ['220 (vsFTPd 3.0.3)'] }, { tags: ['product:vsftpd'], score: 50, first: '2023-06-01T00:00:00.000Z' });
  // History: an older fingerprint of the same slot, no longer current.
  add(
    '203.0.113.1',
    21,
    { service_name: ['ftp'], banner: ['220 (vsFTPd 2.3.4)'] },
    { tags: ['product:vsftpd', 'vuln:backdoor'], score: 95, first: '2022-01-01T00:00:00.000Z', last: '2023-05-31T00:00:00.000Z', current: false },
  );
  // A port that went away: current row, closed.
  add('203.0.113.2', 23, { service_name: ['telnet'], banner: ['Debian GNU/Linux 9'] }, { tags: ['proto:telnet'], score: 70, state: 'closed' });
  add('203.0.113.3', 53, { service_name: ['domain'] }, { protocol: 'udp', score: 5 });
  add(
    '203.0.113.4',
    443,
    { service_name: ['https'], http_title: ['Index of /'], http_server: ['Apache'], x509_san: ['*.example.com'], fqdn: ['example.com'] },
    { tags: ['vuln:opendir'], score: 65, last: '2024-03-04T23:59:59.000Z' },
  );
  return docs;
}

export async function insertCorpus(store: StoreSession, docs: CorpusDoc[]): Promise<void> {
  for (const d of docs) {
    await store.query(
      `with o as (
         insert into port_observations (id, ip, protocol, port, hsh256, fp_version, first_seen, state_changed_at,
           state, current, doc, fields, tags, score)
         values ($1, $2::inet, $3, $4, $5, 1, $6::timestamptz, $6::timestamptz, $8, $9, $10::jsonb, $11::jsonb, $12::text[], $13)
         returning id)
       insert into observation_sightings (id, last_seen, checked_at) select id, $7::timestamptz, $7::timestamptz from o`,
      [
        d.id,
        d.ip,
        d.protocol,
        d.port,
        d.hsh256,
        d.firstSeen,
        d.lastSeen,
        d.state,
        d.current,
        JSON.stringify({
          protocol: d.protocol,
          portid: String(d.port),
          service: { name: d.fields.service_name[0] ?? '' },
          scripts: d.fields.banner.map((b) => ({ id: 'banner', output: b })),
          title: d.fields.http_title,
          server: d.fields.http_server,
        }),
        JSON.stringify(d.fields),
        `{${d.tags.map((t) => `"${t}"`).join(',')}}`,
        d.score,
      ],
    );
  }
}

/** The query corpus: every field type, modifier and operator, plus the predecessor examples. */
export const QUERY_CORPUS: string[] = [
  'port:22',
  'port:22,443',
  'port>=1024',
  'port<100',
  'ip:192.0.2.10',
  'ip:192.0.2.0/24',
  'ip.bg:198.51.',
  'ip.lk:100.8',
  'net:198.51.100.0/24',
  'net:192.0.2.0/24 port:443',
  'ip:192.0.2.10 net:10.0.0.0/8',
  'ip:2001:db8::5',
  'net:2001:db8::/32',
  'http_title:"index of /backup"',
  'http_title.bg:"Index of"',
  'http_title.lk:backup',
  'http_title.lk:école',
  'http_title.lk:ÉCOLE',
  'http_title.not:grafana',
  'http_title.lk.not:index',
  'http_server.lk:nginx',
  'http_server.bg:apache',
  'http_server:apache',
  'http_headval:server.lk:nginx',
  'http_headval:x-powered-by.bg:php/7',
  'http_headval:X-Powered-By:PHP/7.4.3',
  'http_headval:content-type.lk:utf-8',
  'http_headval:x-powered.lk:php',
  'http_header:x-aspnet-version',
  'http_header.bg:x-',
  'http_cookiename:svpncookie',
  'http_etag:"\\"a1b2c3\\""',
  'http_favicon_mmhash:-1137974939',
  'http_favicon_mmhash:945408572,-1',
  'http_favicon_md5:D41D8CD98F00B204E9800998ECF8427E',
  'http_favicon_path:/favicon.ico',
  'x509_san.lk:example',
  'x509_san:*.example.com',
  'x509_subject.lk:fortinet',
  'x509_issuer_cn:r3',
  'x509_key_bits<2048',
  'x509_key_bits:2048',
  'x509_sha256.bg:9f86',
  'x509_key_type:rsa',
  'fqdn:mail.example.net',
  'domain:example.org',
  'domain.bg:example',
  'host:www',
  'tld:net',
  'ptr.lk:mail',
  'banner.bg:ssh-2.0-openssh AND banner.lk:debian OR banner.bg:"+OK Dovecot"',
  'banner.lk:dovecot',
  'banner.lk:"(debian"',
  'banner.lk:"[capability"',
  'banner:5.7.42-log',
  'service_name:ssh',
  'protocol:udp',
  'script:banner',
  'script.bg:http-',
  'tag:vuln:opendir',
  'tag:VULN:OPENDIR',
  'tag.bg:vendor:',
  'tag.lk:ssh',
  'tag:type:vpn,type:database',
  'NOT tag.bg:product:',
  'score>=60',
  'score<20',
  'score:72',
  'score>=60 NOT tag:vuln:opendir',
  '(port:22 OR port:443) AND NOT tag:vuln:opendir',
  'port:22 OR port:443 http_title.lk:backup',
  'NOT (port:22 OR port:443)',
  'port:22 http_title.lk:backup',
  '(banner.lk:debian OR http_server.lk:debian) AND NOT port:25',
  'domain.begin:example.org port:443 http_server.lk:nginx',
  'http_favicon_mmhash:945408572 AND http_title.bg:Please',
  'since:7',
  'since:30 port:21',
  'after:2024-03-02',
  'before:2023-01-01',
  'first_seen<2024-01-01',
  'last_seen:2024-03-04',
  'last_seen>2024-03-01',
  'last_seen<=2024-03-01 port:443',
  'before:2023-01-01 tag:vuln:backdoor',
];
