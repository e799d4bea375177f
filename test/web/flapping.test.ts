import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApi } from '../api/helpers.ts';
import { storeKinds } from '../helpers/db.ts';
import { ingestFlappingHost } from '../helpers/scan.ts';
import { loginAs, startTestWeb, WebClient } from './helpers.ts';

const IP = '127.0.0.12';

/** The changes table's rows: `gone flapping` for a row with the badge, `gone` for one without. */
function rows(html: string): string[] {
  return [...html.matchAll(/<tr class="event (\w+)">([\s\S]*?)<\/tr>/g)].map(([, type, row]) =>
    row!.includes('class="badge flapping"') ? `${type} flapping` : type!,
  );
}

describe.each(storeKinds)('flapping ports on the web pages (%s)', (kind) => {
  let api: TestApi;
  let viewer: WebClient;
  beforeAll(async () => {
    api = await startTestWeb(kind);
    // Port 80 flaps (PLUM_FLAPPING's default, 3/7d, is met) and is back; 22 stayed.
    await ingestFlappingHost(api.store, IP, Date.now());
    viewer = (await loginAs(api, 'viewer')).client;
  }, 240_000);
  afterAll(async () => {
    await api?.close();
  });

  const ALL = ['reappeared flapping', 'gone flapping', 'reappeared', 'gone', 'reappeared', 'gone', 'appeared', 'appeared'];

  it('happy: the changes page badges a flapping port’s gone/reappeared and no other event', async () => {
    const res = await viewer.get(`/changes?net=${IP}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(rows(html)).toEqual(ALL);
    // The checkbox starts unticked; the badge is styled by the stylesheet (the CSP forbids inline styles).
    expect(html).toMatch(/<input type="checkbox" name="flapping" value="hide"\s*\/>/);
    expect(html).not.toMatch(/\sstyle=/);
  });

  it('happy: flapping=hide (the ticked checkbox) leaves out the flapping ones, keeps every other event, and stays ticked', async () => {
    const html = await (await viewer.get(`/changes?net=${IP}&flapping=hide`)).text();
    expect(rows(html)).toEqual(ALL.slice(2));
    expect(html).toMatch(/<input type="checkbox" name="flapping" value="hide" checked=""\s*\/>/);
    expect(rows(await (await viewer.get(`/changes?net=${IP}&flapping=show`)).text())).toEqual(ALL);
  });

  it('bad input: another flapping value is a 400 saying what is expected, the value escaped', async () => {
    const res = await viewer.get(`/changes?net=${IP}&flapping=${encodeURIComponent('<b>x')}`);
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain('flapping must be show or hide, not');
    expect(html).toContain('&lt;b&gt;x');
    expect(html).not.toContain('<b>x');
  });

  it('security: without a session the filtered page redirects to the login page', async () => {
    const res = await new WebClient(api.server.url).get(`/changes?flapping=hide`);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/login?next=%2Fchanges%3Fflapping%3Dhide');
  });

  it('the host page badges the service flapping now and its flapping events in the timeline', async () => {
    const res = await viewer.get(`/hosts/${IP}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    const services = [...html.matchAll(/<section class="service" aria-label="service ([^"]+)">([\s\S]*?)<\/section>/g)].map(
      ([, name, body]) => `${name}${body!.includes('class="badge flapping"') ? ' flapping' : ''}`,
    );
    expect(services).toEqual(['22/tcp', '80/tcp flapping']);
    const timeline = [...html.matchAll(/<li class="event (\w+)">([\s\S]*?)<\/li>/g)].map(([, type, li]) =>
      li!.includes('class="badge flapping"') ? `${type} flapping` : type!,
    );
    expect(timeline).toEqual(ALL);
  });
});
