import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNmapRunner } from '../activities/nmap.ts';
import { planJobs } from '../core/plan.ts';
import { BANNER_PROFILE, WEB_PROFILE, parseProfile } from '../core/profiles.ts';
import { runPlum } from './helpers/cli.ts';
import { makeTestConfig, storeKinds, cliEnvOf } from './helpers/db.ts';
import { startPerimeter, type Perimeter } from '../demo/perimeter/index.ts';

/**
 * End to end on real components: real nmap scans the loopback perimeter, the
 * XML goes through `plum ingest` (rules tag at ingest, scores after commit),
 * then `plum rules ...` and `plum explain` are run as a user would.
 */

const plum = (args: string[], env: Record<string, string>) => runPlum(args, env);

let perimeter: Perimeter;
let tmp: string;
let xmlFile: string;

beforeAll(async () => {
  perimeter = await startPerimeter();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'plum-rules-cli-'));
  const profile = parseProfile({
    name: 'rules-e2e',
    tcpPorts: perimeter.services.map((s) => String(s.port)).join(','),
    scripts: [...new Set([...BANNER_PROFILE.scripts, ...WEB_PROFILE.scripts])],
    nmapArgs: '--script-args plum-banner.timeout=2',
  });
  const [job] = planJobs(profile, [{ value: `${perimeter.prefix}.1-6` }]);
  const result = await createNmapRunner({}).runNmap({ ...job!, timeoutMs: 90_000 });
  xmlFile = path.join(tmp, 'scan.xml');
  await fs.writeFile(xmlFile, result.xml);
  // A directory in the predecessor's rule format.
  await fs.mkdir(path.join(tmp, 'legacy', 'sub'), { recursive: true });
  await fs.writeFile(
    path.join(tmp, 'legacy', 'perimeter.yaml'),
    `description: the loopback test perimeter's title\nquery: http_title.lk:"plum test perimeter"\ntags: [Team:Perimeter]\nversion: 1700000000\n`,
  );
  await fs.writeFile(path.join(tmp, 'legacy', 'sub', 'perimeter.yaml'), `description: older\nquery: http_title:x\ntags: [team:old]\nversion: 1600000000\n`);
  // The same rule twice with the predecessor's compact version and an ISO date: the newer, by time, wins.
  await fs.writeFile(
    path.join(tmp, 'legacy', 'phpinfo-old.yaml'),
    `name: phpinfo-page\ndescription: older\nquery: http_title.lk:phpinfo()\ntags: [vuln:phpinfo!]\nversion: 20260101T000000Z\n`,
  );
  await fs.writeFile(
    path.join(tmp, 'legacy', 'sub', 'phpinfo-new.yaml'),
    `name: phpinfo-page\ndescription: newer\nquery: http_title.lk:phpinfo() OR http_server.lk:(Win64)\ntags: [vuln:phpinfo!]\nversion: '2026-11-23'\n`,
  );
  await fs.writeFile(path.join(tmp, 'legacy', 'never.yaml'), `description: never\nquery: protocol:tpc\ntags: [x:y]\nversion: 1\n`);
  await fs.writeFile(path.join(tmp, 'legacy', 'unknown.yaml'), `description: unknown field\nquery: http_titel:x\ntags: [x:y]\nversion: 1\n`);
}, 180_000);

afterAll(async () => {
  await perimeter?.close();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe.each(storeKinds)('plum rules and plum explain on %s', (kind) => {
  let env: Record<string, string>;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const t = await makeTestConfig(kind);
    drop = t.drop;
    env = cliEnvOf(t.config);
    const ing = await plum(['ingest', xmlFile], env);
    expect(ing.code, ing.stderr).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await drop?.();
  });

  it('tags the scanned services at ingest', async () => {
    const ssh = await plum(['host', perimeter.service('ssh').ip, '--format', 'json'], env);
    expect(ssh.code, ssh.stderr).toBe(0);
    const tags = JSON.parse(ssh.stdout).services[0].tags as string[];
    expect(tags).toEqual(expect.arrayContaining(['product:openssh', 'os:ubuntu', 'proto:ssh', 'type:remote-access']));
    const telnet = JSON.parse((await plum(['host', perimeter.service('telnet').ip, '--format', 'json'], env)).stdout);
    expect(telnet.services[0].tags).toEqual(expect.arrayContaining(['proto:telnet', 'vuln:cleartext-login']));
    const ftp = JSON.parse((await plum(['host', perimeter.service('ftp').ip, '--format', 'json'], env)).stdout);
    expect(ftp.services[0].tags).toEqual(expect.arrayContaining(['product:vsftpd', 'proto:ftp']));
    const web = JSON.parse((await plum(['host', perimeter.service('http').ip, '--format', 'json'], env)).stdout);
    expect(web.services[0].tags).toEqual(expect.arrayContaining(['product:nginx', 'proto:http']));
  });

  it('explains a host score: contributions add up to the score, with a band', async () => {
    const r = await plum(['explain', perimeter.service('telnet').ip, '--format', 'json'], env);
    expect(r.code, r.stderr).toBe(0);
    const ex = JSON.parse(r.stdout);
    expect(ex.ip).toBe(perimeter.service('telnet').ip);
    expect(ex.features.map((f: { name: string }) => f.name)).toEqual([
      'sensitive_service',
      'management_interface',
      'vulnerability_tags',
      'certificate_problems',
      'newly_appeared',
      'recently_changed',
      'open_ports',
    ]);
    for (const f of ex.features) expect(Object.keys(f)).toEqual(expect.arrayContaining(['name', 'value', 'normalized', 'weight', 'contribution']));
    expect(ex.features.reduce((a: number, f: { contribution: number }) => a + f.contribution, 0)).toBe(ex.score);
    expect(ex.features.find((f: { name: string }) => f.name === 'sensitive_service').value).toBe('proto:telnet');
    expect(ex.score).toBeGreaterThan(30);
    expect(['critical', 'high', 'medium', 'low', 'info']).toContain(ex.band);
    // The table form says the same in words.
    const table = await plum(['explain', perimeter.service('telnet').ip], env);
    expect(table.stdout).toContain(`score ${ex.score}/100, band ${ex.band}`);
    // Unknown and malformed addresses: one line, what to do next.
    const unknown = await plum(['explain', '127.0.0.254'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toMatch(/^plum: no observation of 127\.0\.0\.254 \(.+\)$/);
    const bad = await plum(['explain', 'not-an-ip'], env);
    expect(bad.code).toBe(2);
  });

  it('search filters on the stored score', async () => {
    const r = await plum(['search', 'score>=30 tag:proto:telnet', '--format', 'json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).map((h: { ip: string }) => h.ip)).toEqual([perimeter.service('telnet').ip]);
  });

  it('lists, shows and tests rules', async () => {
    const list = await plum(['rules', 'list', '--format', 'json'], env);
    expect(list.code, list.stderr).toBe(0);
    const rules = JSON.parse(list.stdout);
    expect(rules.length).toBeGreaterThanOrEqual(60);
    for (const r of rules) expect(Object.keys(r)).toEqual(expect.arrayContaining(['name', 'tags', 'query', 'source']));
    const show = await plum(['rules', 'show', 'ssh-openssh-ubuntu', '--format', 'json'], env);
    expect(JSON.parse(show.stdout)).toMatchObject({ name: 'ssh-openssh-ubuntu', tags: ['os:ubuntu', 'os:linux'] });
    const all = await plum(['rules', 'test'], env);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stderr).toMatch(/\d+ rules, \d+ cases, 0 failed/);
    const onHost = await plum(['rules', 'test', 'ssh-openssh-ubuntu', perimeter.service('ssh').ip, '--format', 'json'], env);
    expect(JSON.parse(onHost.stdout).ports[0].matches).toBe(true);
    const notOnHost = await plum(['rules', 'test', 'ssh-openssh-debian', perimeter.service('ssh').ip, '--format', 'json'], env);
    expect(JSON.parse(notOnHost.stdout).ports[0].matches).toBe(false);
    const missing = await plum(['rules', 'show', 'no-such-rule'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no rule named no-such-rule/);
  });

  it("imports the predecessor's rules, then applies them incrementally", async () => {
    const imp = await plum(['rules', 'import', path.join(tmp, 'legacy'), '--format', 'json'], env);
    expect(imp.code, imp.stderr).toBe(0);
    const res = JSON.parse(imp.stdout);
    expect(res).toMatchObject({ imported: 2, updated: 0, skipped: 2 });
    expect(res.invalid.map((i: { file: string }) => i.file).sort()).toEqual(['never.yaml', 'unknown.yaml']);
    for (const i of res.invalid) expect(i.reason).toBeTruthy();
    expect(res.skipped_files.map((s: { file: string }) => s.file).sort()).toEqual(['phpinfo-old.yaml', 'sub/perimeter.yaml']);
    // Parentheses were values in the predecessor's language, and its tags may hold characters Plum's do not: both said.
    const notes = res.notes.filter((n: { file: string }) => n.file === 'sub/phpinfo-new.yaml').map((n: { reason: string }) => n.reason);
    expect(notes).toEqual([
      expect.stringContaining('"phpinfo()" is a value'),
      expect.stringContaining('"(Win64)" is a value'),
      expect.stringContaining('tag "vuln:phpinfo!" written "vuln:phpinfo"'),
    ]);
    const shown = JSON.parse((await plum(['rules', 'show', 'phpinfo-page', '--format', 'json'], env)).stdout);
    expect(shown).toMatchObject({ version: '2026-11-23', query: 'http_title.lk:"phpinfo()" OR http_server.lk:"(Win64)"', tags: ['vuln:phpinfo'] });

    const apply = await plum(['rules', 'apply', '--format', 'json'], env);
    expect(apply.code, apply.stderr).toBe(0);
    const first = JSON.parse(apply.stdout);
    expect(first.retagged).toBeGreaterThanOrEqual(2); // the two web services get team:perimeter
    const web = JSON.parse((await plum(['host', perimeter.service('http').ip, '--format', 'json'], env)).stdout);
    expect(web.services[0].tags).toContain('team:perimeter');
    const again = JSON.parse((await plum(['rules', 'apply', '--format', 'json'], env)).stdout);
    expect(again).toMatchObject({ affected: [], documents: 0, retagged: 0 });
  });
});
