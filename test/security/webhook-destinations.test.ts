import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverPayload } from '../../activities/webhooks.ts';
import { loadConfig } from '../../core/config.ts';
import { assertPublicDestination, privateRange } from '../../core/report/webhook-destination.ts';
import { createWebhook, listDeliveries } from '../../store/repos/webhooks.ts';
import { openTestStore, storeKinds, type TestStore } from '../helpers/db.ts';

/** Issue #31: webhook URLs could point at loopback or the cloud metadata address (169.254.169.254). */
describe('webhook destinations (pure)', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['169.254.169.254', 'linkLocal'],
    ['10.1.2.3', 'private'],
    ['192.168.0.1', 'private'],
    ['::1', 'loopback'],
    ['fe80::1', 'linkLocal'],
    ['fd00::1', 'uniqueLocal'],
    ['::ffff:169.254.169.254', 'linkLocal'],
    ['0.0.0.0', 'unspecified'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['224.0.0.1', 'multicast'],
  ])('%s is not a public destination (%s)', (address, range) => {
    expect(privateRange(address)).toBe(range);
  });

  it('a public address is', () => {
    expect(privateRange('8.8.8.8')).toBeUndefined();
    expect(privateRange('2606:4700:4700::1111')).toBeUndefined();
  });

  it('checks every address a name resolves to, unless private destinations are allowed', async () => {
    const resolve = async (h: string) => (h === 'hooks.example.test' ? ['93.184.215.14', '169.254.169.254'] : ['93.184.215.14']);
    await expect(assertPublicDestination('https://hooks.example.test/x', { resolve })).rejects.toThrow(
      'webhook URL https://hooks.example.test points at 169.254.169.254 (linkLocal), not a public address',
    );
    await expect(assertPublicDestination('https://ok.example.test/x', { resolve })).resolves.toBeUndefined();
    await expect(assertPublicDestination('http://[::1]:8080/x')).rejects.toThrow(/points at ::1 \(loopback\)/);
    await expect(assertPublicDestination('http://169.254.169.254/latest/meta-data/', { allowPrivate: true })).resolves.toBeUndefined();
  });

  it('PLUM_WEBHOOK_ALLOW_PRIVATE is off unless set to 1 or true', () => {
    expect(loadConfig({}).PLUM_WEBHOOK_ALLOW_PRIVATE).toBe(false);
    expect(loadConfig({ PLUM_WEBHOOK_ALLOW_PRIVATE: '1' }).PLUM_WEBHOOK_ALLOW_PRIVATE).toBe(true);
    expect(() => loadConfig({ PLUM_WEBHOOK_ALLOW_PRIVATE: 'yes please' })).toThrow(/PLUM_WEBHOOK_ALLOW_PRIVATE/);
  });
});

describe.each(storeKinds)('webhook destinations are checked at creation and at delivery (%s)', (kind) => {
  let t: TestStore;
  let server: http.Server;
  let url: string;
  let received = 0;
  beforeAll(async () => {
    t = await openTestStore(kind);
    server = http.createServer((req, res) => {
      received++;
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  }, 120_000);
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await t?.cleanup();
  });

  it('refuses loopback and link-local URLs at creation unless allowed', async () => {
    for (const u of [url, 'http://169.254.169.254/latest/meta-data/', 'http://localhost:9/x', 'http://[::ffff:127.0.0.1]/x']) {
      await expect(createWebhook(t.store, { name: 'h1', url: u })).rejects.toMatchObject({
        code: 'forbidden',
        message: expect.stringMatching(/not a public address/),
      });
    }
    expect((await createWebhook(t.store, { name: 'h1', url }, new Date(), { allowPrivate: true })).url).toBe(url);
  });

  it('refuses at delivery, after resolution, when private destinations are not allowed', async () => {
    const hook = await createWebhook(t.store, { name: 'h2', url: 'https://hooks.example.test/x' }, new Date(), { resolve: async () => ['93.184.215.14'] });
    // The name now resolves to the metadata address: nothing is sent.
    const sent: string[] = [];
    const fetchSpy = (async (u: string) => {
      sent.push(u);
      return new Response('ok');
    }) as unknown as typeof fetch;
    const r = await deliverPayload(t.store, hook, 'events', { events: [] }, 0, {
      fetch: fetchSpy,
      immediateAttempts: 1,
      resolve: async () => ['169.254.169.254'],
    });
    expect(r.ok).toBe(false);
    expect(sent).toEqual([]);
    expect((await listDeliveries(t.store, hook.id))[0]!.attempts).toBe(1);
    expect(r.error).toMatch(/points at 169\.254\.169\.254 \(linkLocal\)/);

    const before = received;
    const loop = await createWebhook(t.store, { name: 'h3', url }, new Date(), { allowPrivate: true });
    expect((await deliverPayload(t.store, loop, 'events', { events: [] }, 0, { immediateAttempts: 1 })).ok).toBe(false);
    expect(received).toBe(before);
    expect((await deliverPayload(t.store, loop, 'events', { events: [] }, 0, { immediateAttempts: 1, allowPrivate: true })).ok).toBe(true);
    expect(received).toBe(before + 1);
  });
});
