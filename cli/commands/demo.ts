import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { PlumConfig } from '../../core/config.ts';
import { plumCommand } from '../invocation.ts';
import { openStore, type Store } from '../../store/index.ts';
import { getHostView, listEvents } from '../../store/repos/observations.ts';
import { getProfile, saveProfile } from '../../store/repos/profiles.ts';
import { addTargets } from '../../store/repos/targets.ts';
import { searchPorts } from '../../store/search/index.ts';
import { startPerimeter, type Perimeter } from '../../demo/perimeter/index.ts';
import { profileRequest } from '../../workers/embedded.ts';
import { describeService } from '../findings.ts';
import type { CliContext } from '../context.ts';
import { info, renderTable } from '../output.ts';
import { runWithProgress, summaryLine } from './run.ts';

/*
 * `plum demo`: the first command on a fresh machine. Everything happens on
 * the loopback test perimeter (127.0.0.0/8 only) and in a separate embedded
 * database under $PLUM_HOME/demo, so the user's own data is never touched.
 */

const say = (step: number, text: string) => info(`\n[${step}] ${text}`);
const show = (text: string) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);

export function demoConfig(config: PlumConfig): PlumConfig {
  const home = path.join(config.home, 'demo');
  return { ...config, PLUM_HOME: home, home, PLUM_DATABASE_URL: undefined, PLUM_MEILI_URL: undefined };
}

export async function runDemo(ctx: CliContext): Promise<void> {
  const config = demoConfig(ctx.config);
  const dctx: CliContext = { ...ctx, config };
  let perimeter: Perimeter | undefined;
  let store: Store | undefined;
  try {
    say(1, 'Starting the loopback test perimeter: real HTTP, HTTPS, SSH, FTP, SMTP and Telnet services on 127.x.y.z addresses.');
    perimeter = await startPerimeter({ title: 'Welcome to ACME intranet' });
    for (const s of perimeter.services) show(`    ${s.name.padEnd(6)} ${s.ip}:${s.port}`);

    say(2, `Creating a separate embedded database in ${config.home} (your own data is untouched).`);
    await rm(config.home, { recursive: true, force: true });
    store = await openStore(config, { log: ctx.log });
    const range = `${perimeter.prefix}.1-${perimeter.services.length}`;
    await addTargets(store, [range], { labels: ['demo'] });
    show(`    declared the perimeter: ${range} (plum target add ${range})`);
    const banner = await getProfile(store, 'banner');
    const web = await getProfile(store, 'web');
    const ports = new Set(perimeter.services.map((s) => s.port));
    const bannerPorts = banner.tcpPorts.split(',').map(Number);
    if (!bannerPorts.some((p) => ports.has(p))) {
      // Without root the perimeter listens on high ports; point the default profile at them for the demo.
      const list = perimeter.services.map((s) => s.port).join(',');
      await saveProfile(store, { name: 'banner', tcpPorts: list, scripts: banner.scripts, every: banner.every }, { replace: true });
      show(`    not running as root: the perimeter uses high ports, so the demo's banner profile scans ${list}`);
    }
    show(`    profiles: banner (${(await getProfile(store, 'banner')).tcpPorts}, banners) and web (${web.tcpPorts}: title, headers, favicon, certificate)`);

    say(3, 'Running the default "banner" profile: nmap in this process, one progress line per job, results stored with history.');
    const first = await runWithProgress(dctx, store, profileRequest('banner', { requestedBy: 'demo' }), { label: 'banner', concurrency: 4 });
    show(`    ${summaryLine(first)}`);

    say(4, 'Running the "web" profile: HTTP titles, headers, favicon hashes and TLS certificates.');
    const second = await runWithProgress(dctx, store, profileRequest('web', { requestedBy: 'demo' }), { label: 'web', concurrency: 4 });
    show(`    ${summaryLine(second)}`);

    say(5, 'Changing one service: the web site\'s title becomes "Under maintenance", as a real change would.');
    perimeter.setHttpTitle('Under maintenance');

    say(6, 'Rescanning with the web profile: Plum compares fingerprints and records what changed.');
    const third = await runWithProgress(dctx, store, profileRequest('web', { requestedBy: 'demo' }), { label: 'web', concurrency: 4 });
    show(`    ${summaryLine(third)}`);

    const query = 'http_title.lk:maintenance';
    say(7, `Searching: plum search '${query}'`);
    const found = await searchPorts(store, query, { limit: 10 });
    const rows = found.hosts.flatMap((h) =>
      h.ports.map((p) => ({ ip: h.ip, port: `${p.port}/${p.protocol}`, score: p.score, title: p.title ?? '', tags: p.tags.slice(0, 4).join(',') })),
    );
    show(rows.length ? renderTable(rows, ['ip', 'port', 'score', 'title', 'tags']) : '    (no match)');

    say(8, 'The change feed: plum history');
    const events = await listEvents(store, { limit: 10 });
    show(
      renderTable(
        events.map((e) => ({ at: e.at.toISOString().slice(11, 19), type: e.type, ip: e.ip, port: `${e.port}/${e.protocol}` })),
        ['at', 'type', 'ip', 'port'],
      ),
    );

    const httpIp = perimeter.service('http').ip;
    say(9, `A host's details: plum host ${httpIp}`);
    const host = await getHostView(store, httpIp, { eventLimit: 5 });
    if (host) {
      show(
        renderTable(
          host.services.map((s) => ({
            port: `${s.port}/${s.protocol}`,
            state: s.state,
            score: s.score,
            seen: s.times_seen,
            tags: s.tags.slice(0, 4).join(','),
            service: describeService(s.fields),
          })),
          ['port', 'state', 'score', 'seen', 'tags', 'service'],
        ),
      );
    }

    // What to type: `npx plum` unless plum is on the PATH.
    const plum = plumCommand();
    say(10, 'Done. To explore this demo database: ');
    show(`    export PLUM_HOME=${config.home}`);
    show(`    ${plum} search 'port:443' ; ${plum} history ; ${plum} host ${httpIp} ; ${plum} report`);
    show('\nOn your own perimeter (only scan what you are allowed to scan):');
    show(`    ${plum} init`);
    show(`    ${plum} target add <your-cidr> <your-domain>         # your ranges and names`);
    show(`    ${plum} plan banner                                   # jobs and duration, scans nothing`);
    show(`    ${plum} run banner && ${plum} run web                    # scan now`);
    show(`    ${plum} scheduler                                     # keep scanning every cycle`);
    show(`    ${plum} search 'tag:proto:http http_title.lk:login'  # find what to look at first`);
  } finally {
    await store?.close();
    // The demo database is kept so the commands printed above work; only the perimeter stops.
    await perimeter?.close();
  }
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description(
      'the first command to try: scans a loopback test perimeter with the default and web profiles, changes a service, rescans and shows searches, history and a host',
    )
    .action(async () => {
      await runDemo(ctx);
    });
}
