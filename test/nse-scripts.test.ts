import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNmapRunner } from '../activities/nmap.ts';
import { httpScriptSource } from '../activities/nse-source.ts';
import { sha256Hex } from '../core/nmap/custom-scripts.ts';
import { silentLogger } from '../core/log.ts';
import { startPerimeter, type Perimeter } from '../demo/perimeter/index.ts';
import { addNseScript, listNseScripts, removeNseScript, storeScriptSource } from '../store/repos/nse-scripts.ts';
import { saveProfile } from '../store/repos/profiles.ts';
import { getJobRawXml } from '../store/repos/raw-results.ts';
import { addTargets } from '../store/repos/targets.ts';
import { searchPorts } from '../store/search/index.ts';
import { profileRequest, runEmbedded } from '../workers/embedded.ts';
import { runPlum } from './helpers/cli.ts';
import { cliEnvOf, makeTestConfig, openTestStore, storeKinds, type TestStore } from './helpers/db.ts';

/*
 * Custom NSE scripts end to end with real nmap on the loopback perimeter: a
 * script stored with `plum nse add` runs in a profile (written to the scan's
 * private directory and passed to nmap by path), its output is stored and
 * searchable, a new content is a new hash used by the next run, and a runner
 * refuses content whose hash is not the job's.
 */

const script = (output: string, categories = '"safe", "discovery"') => `description = [[Test script: reports a fixed string for an open port.]]
categories = {${categories}}
portrule = function(host, port) return port.state == "open" end
action = function(host, port) return "${output}" end
`;

let perimeter: Perimeter;
beforeAll(async () => {
  perimeter = await startPerimeter();
});
afterAll(async () => {
  await perimeter?.close();
});

describe.each(storeKinds)('custom NSE scripts on %s', (kind) => {
  let t: TestStore;
  const ssh = () => perimeter.services.find((s) => s.name === 'ssh')!;

  beforeAll(async () => {
    t = await openTestStore(kind);
    await addTargets(t.store, [ssh().ip]);
  }, 60_000);
  afterAll(async () => {
    await t?.cleanup();
  });

  const runProfile = (name: string) => runEmbedded({ store: t.store, config: t.config, log: silentLogger }, profileRequest(name, { requestedBy: 'test' }));

  async function jobOf(runId: string) {
    const [job] = await t.store.query<{ id: string }>('select id from jobs where run_id = $1', [runId]);
    return (await getJobRawXml(t.store, job!.id)) as { xml: Buffer };
  }

  it('runs in a profile: its output is stored and searchable', async () => {
    const added = await addNseScript(t.store, { name: 'site-marker', content: script('custom-marker-v1') });
    expect(added).toMatchObject({ name: 'site-marker', categories: ['safe', 'discovery'], sha256: sha256Hex(script('custom-marker-v1')), replaced: false });
    await saveProfile(t.store, { name: 'custom', tcpPorts: String(ssh().port), scripts: 'site-marker' });
    const summary = await runProfile('custom');
    expect(summary.status, summary.errors.join('; ')).toBe('succeeded');
    const raw = await jobOf(summary.runId);
    expect(raw.xml.toString('utf8')).toContain('<script id="site-marker" output="custom-marker-v1"');
    const byScript = await searchPorts(t.store, 'script:site-marker');
    expect(byScript.hosts.map((h) => h.ip)).toEqual([ssh().ip]);
    const byToken = await searchPorts(t.store, 'custom-marker-v1', { token: true });
    expect(byToken.hosts.map((h) => h.ip)).toEqual([ssh().ip]);
    const [run] = await t.store.query<{ progress: { customScripts: unknown } }>('select progress from runs where id = $1', [summary.runId]);
    expect(run!.progress.customScripts).toEqual([{ name: 'site-marker', sha256: added.sha256, categories: ['safe', 'discovery'] }]);
  }, 120_000);

  it('a changed script gets a new hash, and the next run uses the new content', async () => {
    const before = (await listNseScripts(t.store)).find((s) => s.name === 'site-marker')!;
    await expect(addNseScript(t.store, { name: 'site-marker', content: script('custom-marker-v2') })).rejects.toThrow(/already exists/);
    const changed = await addNseScript(t.store, { name: 'site-marker', content: script('custom-marker-v2') }, { replace: true });
    expect(changed.replaced).toBe(true);
    expect(changed.sha256).not.toBe(before.sha256);
    const summary = await runProfile('custom');
    expect(summary.status, summary.errors.join('; ')).toBe('succeeded');
    expect((await jobOf(summary.runId)).xml.toString('utf8')).toContain('output="custom-marker-v2"');
    expect((await searchPorts(t.store, 'custom-marker-v2', { token: true })).hosts).toHaveLength(1);
    expect((await searchPorts(t.store, 'custom-marker-v1', { token: true })).hosts).toHaveLength(0);
    // The old content is no longer served by its hash.
    await expect(storeScriptSource(t.store)({ name: 'site-marker', sha256: before.sha256, categories: [] })).rejects.toThrow(/no longer stored/);
  }, 120_000);

  it('is judged by its declared categories: an intrusive one needs an allowance by name', async () => {
    await addNseScript(t.store, { name: 'site-probe', content: script('probe', '"intrusive"') });
    await expect(saveProfile(t.store, { name: 'probe', tcpPorts: '22', scripts: 'site-probe' })).rejects.toThrow(
      'refused NSE script "site-probe": it is in the intrusive category',
    );
    await expect(saveProfile(t.store, { name: 'probe', tcpPorts: '22', scripts: 'site-probe', allowScripts: 'site-probe' })).resolves.toMatchObject({
      scripts: ['site-probe'],
    });
    await expect(addNseScript(t.store, { name: 'http-title', content: script('x') })).rejects.toThrow(/already a script .* rename your script/);
  });

  it('cannot be removed while a profile names it', async () => {
    await expect(removeNseScript(t.store, 'site-probe')).rejects.toThrow('NSE script site-probe is used by profile probe');
    await saveProfile(t.store, { name: 'probe', tcpPorts: '22', scripts: 'http-title' }, { replace: true });
    await expect(removeNseScript(t.store, 'site-probe')).resolves.toMatchObject({ name: 'site-probe' });
    expect((await listNseScripts(t.store)).map((s) => s.name)).toEqual(['site-marker']);
  });
});

describe.each(storeKinds)('plum investigate with a custom script on %s', (kind) => {
  it('runs it: judged by its declared categories, its output stored with the run', async () => {
    const { config, drop } = await makeTestConfig(kind);
    try {
      const env = cliEnvOf(config);
      const ssh = perimeter.services.find((x) => x.name === 'ssh')!;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-nse-inv-'));
      const file = path.join(dir, 'site-probe.nse');
      fs.writeFileSync(file, script('custom-probe-v1'));
      for (const args of [['init'], ['nse', 'add', file], ['target', 'add', ssh.ip]]) {
        const r = await runPlum(args, env);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      }
      const inv = await runPlum(['investigate', ssh.ip, '--ports', String(ssh.port), '--scripts', 'site-probe', '--all', '--format', 'json'], env);
      expect(inv.code, inv.stderr).toBe(0);
      const found = await runPlum(['search', 'script:site-probe', '--format', 'json'], env);
      expect(found.code, found.stderr).toBe(0);
      expect(found.stdout).toContain(ssh.ip);
      // An unknown name is still refused, with one line, before anything is scanned.
      const unknown = await runPlum(['investigate', ssh.ip, '--ports', String(ssh.port), '--scripts', 'site-nope'], env);
      expect(unknown.code).not.toBe(0);
      expect(unknown.stderr.trim().split('\n')[0]).toMatch(/^plum: unknown NSE script "site-nope"/);
      fs.rmSync(dir, { recursive: true, force: true });
    } finally {
      await drop();
    }
  }, 180_000);
});

describe('a runner fetching custom scripts by hash', () => {
  const content = script('agent-marker');
  const ref = { name: 'site-agent', sha256: sha256Hex(content), categories: ['safe'] };
  let server: http.Server;
  let base: string;
  let served = content;
  let requests = 0;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-nse-test-'));

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      requests++;
      if (req.headers.authorization !== 'Bearer plum_a_test') {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/x-lua' }).end(served);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('verifies and caches by hash, and runs the script from a private directory', async () => {
    const source = httpScriptSource({ serverUrl: base, token: 'plum_a_test' });
    expect((await source(ref)).toString('utf8')).toBe(content);
    await source(ref);
    expect(requests).toBe(1);
    const ssh = perimeter.services.find((s) => s.name === 'ssh')!;
    const modes: string[] = [];
    const runner = createNmapRunner({
      tmpDir: tmp,
      async scriptSource(r) {
        // Called once the scan's script directory exists: it and its parent are private to this user.
        const scanDir = path.join(tmp, fs.readdirSync(tmp)[0]!);
        modes.push(...[scanDir, path.join(scanDir, 'nse')].map((d) => (fs.statSync(d).mode & 0o777).toString(8)));
        return source(r);
      },
    });
    const r = await runner.runNmap({ targets: [ssh.ip], tcpPorts: String(ssh.port), scripts: ['site-agent'], customScripts: [ref] });
    const args = r.args.join(' ');
    expect(args).toMatch(new RegExp(`--script ${tmp}/plum-nmap-\\w+/nse/site-agent\\.nse`));
    expect(r.xml.toString('utf8')).toContain('<script id="site-agent" output="agent-marker"');
    expect(modes).toEqual(['700', '700']);
    // The scan's directory (scripts included) is gone once nmap is done.
    expect(fs.readdirSync(tmp)).toEqual([]);
  }, 60_000);

  it('refuses a tampered download (hash mismatch) before nmap starts, and caches nothing', async () => {
    served = content.replace('agent-marker', 'os.execute("id")');
    const source = httpScriptSource({ serverUrl: base, token: 'plum_a_test' });
    await expect(source(ref)).rejects.toMatchObject({
      code: 'unsafe_argument',
      message: expect.stringMatching(/^custom NSE script site-agent downloaded with sha256 \w+…, the job expects \w+…; refused$/),
    });
    const runner = createNmapRunner({ scriptSource: source, tmpDir: tmp, nmapPath: '/nonexistent/nmap' });
    // nmapPath does not exist: reaching nmap would fail with "nmap not found" instead.
    await expect(runner.runNmap({ targets: ['127.0.0.1'], tcpPorts: '22', scripts: ['site-agent'], customScripts: [ref] })).rejects.toMatchObject({
      code: 'unsafe_argument',
    });
    served = content;
    expect((await source(ref)).toString('utf8')).toBe(content);
  });

  it("refuses content from any source whose hash is not the job's", async () => {
    const runner = createNmapRunner({ scriptSource: async () => Buffer.from(script('other')), nmapPath: '/nonexistent/nmap' });
    await expect(runner.runNmap({ targets: ['127.0.0.1'], tcpPorts: '22', scripts: ['site-agent'], customScripts: [ref] })).rejects.toThrow(
      /custom NSE script site-agent: its content has sha256 \w+…, the job expects \w+…; refused/,
    );
    const without = createNmapRunner({ nmapPath: '/nonexistent/nmap' });
    await expect(without.runNmap({ targets: ['127.0.0.1'], tcpPorts: '22', scripts: ['site-agent'], customScripts: [ref] })).rejects.toThrow(
      /cannot fetch custom NSE scripts/,
    );
  });
});

describe('plum nse', () => {
  let made: Awaited<ReturnType<typeof makeTestConfig>>;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-nse-cli-'));
  beforeAll(async () => {
    made = await makeTestConfig('pglite');
  });
  afterAll(async () => {
    await made?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('adds, lists and removes scripts; refuses a stock name, a non-.nse file, or a batch with one bad file, with one line', async () => {
    const env = cliEnvOf(made.config);
    const file = path.join(dir, 'Site-Check.nse');
    fs.writeFileSync(file, script('cli-marker'));
    const added = await runPlum(['nse', 'add', file], env);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stderr.trim()).toBe(
      `NSE script site-check added: sha256 ${sha256Hex(script('cli-marker'))}, categories safe, discovery, ${Buffer.byteLength(script('cli-marker'))} bytes`,
    );
    const list = await runPlum(['nse', 'list', '--format', 'json'], env);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ name: 'site-check', sha256: sha256Hex(script('cli-marker')), categories: ['safe', 'discovery'], created_by: 'cli' }),
    ]);

    const clash = await runPlum(['nse', 'add', file, '--name', 'http-title'], env);
    expect(clash.code).toBe(1);
    expect(clash.stderr.trim().split('\n')[0]).toMatch(
      /^plum: "http-title" is already a script \(or category\) of the installed nmap: rename your script, e\.g\. --name site-http-title/,
    );
    const lua = path.join(dir, 'check.lua');
    fs.writeFileSync(lua, script('x'));
    const notNse = await runPlum(['nse', 'add', lua], env);
    expect(notNse.code).toBe(2);
    expect(notNse.stderr).toMatch(/check\.lua is not a \.nse file/);

    // Several files in one transaction: one refused file (no categories) and none is added.
    const good = path.join(dir, 'site-two.nse');
    fs.writeFileSync(good, script('two'));
    const bad = path.join(dir, 'site-three.nse');
    fs.writeFileSync(bad, 'action = function() return 1 end\n');
    const some = await runPlum(['nse', 'add', good, bad], env);
    expect(some.code).toBe(1);
    expect(some.stderr.trim().split('\n')[0]).toMatch(/^plum: NSE script site-three declares no categories/);
    fs.writeFileSync(bad, script('three'));
    const both = await runPlum(['nse', 'add', good, bad], env);
    expect(both.code, both.stderr).toBe(0);
    expect(JSON.parse((await runPlum(['nse', 'list', '--format', 'json'], env)).stdout).map((s: { name: string }) => s.name)).toEqual([
      'site-check',
      'site-three',
      'site-two',
    ]);
    expect((await runPlum(['nse', 'add', good, bad, '--name', 'x'], env)).code).toBe(2);
    for (const name of ['site-two', 'site-three']) expect((await runPlum(['nse', 'rm', name], env)).code).toBe(0);

    const rm = await runPlum(['nse', 'rm', 'site-check'], env);
    expect(rm.code, rm.stderr).toBe(0);
    expect(JSON.parse((await runPlum(['nse', 'list', '--format', 'json'], env)).stdout)).toEqual([]);
  }, 120_000);
});
