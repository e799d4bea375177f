import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestScanResult } from '../../store/ingest.ts';
import { addTargets } from '../../store/repos/targets.ts';
import { host, port, scan } from '../helpers/scan.ts';
import { storeKinds } from '../helpers/db.ts';
import { startTestApiOn, type TestApi } from '../api/helpers.ts';
import { loginAs, startTestWeb, WebClient } from './helpers.ts';

const HOSTILE_IP = '127.0.66.1';
const SCRIPT = '<script>alert(1)</script>';
const IMG = '<img src=x onerror=alert(2)>';

/** A port whose title, banner and certificate fields carry markup, as a hostile server would send them. */
function hostilePort() {
  const p = port(443, `${SCRIPT}${IMG}`);
  p.fields = { ...p.fields, http_title: [SCRIPT], banner: [IMG], x509_subject_cn: [`"><svg onload=alert(3)>`], service_name: ['https'] };
  return p;
}

describe.each(storeKinds)('web interface over HTTP (%s)', (kind) => {
  let api: TestApi;
  let admin: WebClient;
  let operator: WebClient;
  let viewer: WebClient;
  beforeAll(async () => {
    api = await startTestWeb(kind);
    await addTargets(api.store, ['127.0.0.0/8']);
    await ingestScanResult(api.store, { source: 'test', scan: scan([host(HOSTILE_IP, '2026-01-01T00:00:00Z', [hostilePort()])]) });
    admin = (await loginAs(api, 'admin')).client;
    operator = (await loginAs(api, 'operator')).client;
    viewer = (await loginAs(api, 'viewer')).client;
  }, 240_000);
  afterAll(async () => {
    await api?.close();
  });

  describe('login', () => {
    it('happy: sets an HttpOnly SameSite=Strict session cookie and goes to the page asked for', async () => {
      const c = new WebClient(api.server.url);
      const token = await c.csrfOf('/login');
      const res = await c.post('/login', { _csrf: token, name: 'viewer', password: 'viewer password 1', next: '/changes?since=1d' });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/changes?since=1d');
      const cookie = res.headers.getSetCookie().find((s) => s.startsWith('plum_session='))!;
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Strict/);
      expect(cookie).not.toMatch(/Secure/); // plain http on loopback
      expect((await c.get('/changes')).status).toBe(200);
    });

    it('behind a TLS proxy the cookie is Secure', async () => {
      const c = new WebClient(api.server.url);
      const token = await c.csrfOf('/login');
      const res = await c.post('/login', { _csrf: token, name: 'viewer', password: 'viewer password 1' }, { 'x-forwarded-proto': 'https' });
      expect(res.headers.getSetCookie().find((s) => s.startsWith('plum_session='))).toMatch(/Secure/);
    });

    it('bad input: a wrong password or an unknown name says the same thing; a foreign next is ignored', async () => {
      const wrong = await loginAs(api, 'viewer', 'not the password');
      expect(wrong.res.status).toBe(403);
      const text = await wrong.res.text();
      expect(text).toContain('Wrong name or password.');
      const c = new WebClient(api.server.url);
      const token = await c.csrfOf('/login');
      const res = await c.post('/login', { _csrf: token, name: 'viewer', password: 'viewer password 1', next: '//evil.example/x' });
      expect(res.headers.get('location')).toBe('/');
    });

    it('security: a login post without the form token (login CSRF) is refused', async () => {
      const c = new WebClient(api.server.url);
      const res = await c.post('/login', { name: 'viewer', password: 'viewer password 1' });
      expect(res.status).toBe(403);
      expect(c.cookies.has('plum_session')).toBe(false);
    });

    it('security: repeated failures lock the account; the right password is then refused too', async () => {
      const { createUser } = await import('../../store/repos/users.ts');
      await createUser(api.store, { name: 'locked', role: 'viewer', password: 'locked password 1' });
      for (let i = 0; i < 4; i++) {
        const c = new WebClient(api.server.url);
        const r = await c.post('/login', { _csrf: await c.csrfOf('/login'), name: 'locked', password: `guess ${i} guess` });
        expect(r.status).toBe(403);
      }
      const c = new WebClient(api.server.url);
      const fifth = await c.post('/login', { _csrf: await c.csrfOf('/login'), name: 'locked', password: 'guess 5 guess' });
      expect(fifth.status).toBe(429);
      expect(await fifth.text()).toContain('Too many failed logins');
      const right = await c.post('/login', { _csrf: await c.csrfOf('/login'), name: 'locked', password: 'locked password 1' });
      expect(right.status).toBe(429);
      expect(c.cookies.has('plum_session')).toBe(false);
    });

    it('logout ends the session on the server (the old cookie no longer works)', async () => {
      const { client } = await loginAs(api, 'viewer');
      const cookie = client.cookies.get('plum_session')!;
      expect((await client.postForm('/logout', {})).status).toBe(303);
      const replay = await fetch(`${api.server.url}/`, { redirect: 'manual', headers: { cookie: `plum_session=${cookie}`, accept: 'text/html' } });
      expect(replay.status).toBe(303);
      expect(replay.headers.get('location')).toMatch(/^\/login/);
    });
  });

  describe('pages', () => {
    const pages = [
      '/',
      '/search',
      '/search?q=port%3A443',
      '/changes',
      '/changes?tag=product%3Anginx&since=30d',
      '/runs',
      '/perimeter',
      '/rules',
      '/reports',
      `/hosts/${HOSTILE_IP}`,
      '/perimeter/profiles/banner',
    ];
    it.each(pages)('happy: %s renders for a viewer with the strict CSP', async (path) => {
      const res = await viewer.get(path);
      expect(res.status, path).toBe(200);
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      const html = await res.text();
      expect(html).not.toMatch(/<script>(?!<\/script>)|<script [^>]*>[^<]/); // no inline script body
      expect(html).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/); // nothing from elsewhere
    });

    it('security: no session → a page redirects to the login page; a post is refused', async () => {
      const c = new WebClient(api.server.url);
      const res = await c.get('/search?q=port%3A22');
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/login?next=%2Fsearch%3Fq%3Dport%253A22');
      const post = await c.post('/perimeter/targets', { value: '127.0.9.9' });
      expect(post.status).toBe(401);
    });

    it.each([
      ['viewer', '/admin', 403],
      ['operator', '/admin', 403],
      ['viewer', '/investigate', 403],
      ['admin', '/admin', 200],
      ['operator', '/investigate', 200],
    ] as const)("roles: %s GET %s → %i (the API's role order)", async (role, path, status) => {
      const client = { viewer, operator, admin }[role];
      expect((await client.get(path)).status).toBe(status);
    });

    it('roles: the navigation shows Admin to admins only', async () => {
      expect(await (await viewer.get('/')).text()).not.toContain('href="/admin"');
      expect(await (await admin.get('/')).text()).toContain('href="/admin"');
    });
  });

  describe('forms and CSRF', () => {
    it('happy: an operator adds a target with the token', async () => {
      const res = await operator.postForm('/perimeter/targets', { value: '127.0.9.9', labels: 'lab' });
      expect(res.status).toBe(303);
      expect(await (await operator.get('/perimeter')).text()).toContain('127.0.9.9');
    });

    it('happy: an operator creates a TLS profile; the nmap scripts field prefilled on the form is not its own', async () => {
      const res = await operator.postForm('/perimeter/profiles', {
        name: 'web-tls',
        tcpPorts: '443',
        scanner: 'sslscan',
        scripts: 'plum-banner',
        every: '1d',
        priority: '2',
        targets: 'all',
        hostTimeout: '40s',
      });
      expect(res.status, await res.clone().text()).toBe(303);
      const form = await (await operator.get('/perimeter/profiles/web-tls')).text();
      expect(form).toMatch(/<option value="sslscan" selected/);
      expect(await (await operator.get('/perimeter')).text()).toMatch(/web-tls<\/a><\/td><td>sslscan<\/td>/);
    });

    it('happy: an operator creates a two-stage profile with a scouting rate, shown again on its form', async () => {
      const res = await operator.postForm('/perimeter/profiles', {
        name: 'wide-scout',
        tcpPorts: '22,80,443',
        scoutRate: '20000',
        scripts: 'plum-banner',
        every: '1d',
        priority: '2',
        targets: 'all',
        hostTimeout: '40s',
      });
      expect(res.status, await res.clone().text()).toBe(303);
      expect(await (await operator.get('/perimeter/profiles/wide-scout')).text()).toMatch(/name="scoutRate" type="number" min="1" value="20000"/);
      const cleared = await operator.postForm('/perimeter/profiles/wide-scout', {
        tcpPorts: '22,80,443',
        scoutRate: '',
        scripts: 'plum-banner',
        every: '1d',
        priority: '2',
        targets: 'all',
        hostTimeout: '40s',
      });
      expect(cleared.status, await cleared.clone().text()).toBe(303);
      expect(await (await operator.get('/perimeter/profiles/wide-scout')).text()).toMatch(/name="scoutRate" type="number" min="1" value=""/);
    });

    it('bad input: a scouting rate that is not a whole number, or 0, is refused with its one-line message', async () => {
      for (const [rate, message] of [
        ['fast', 'invalid profile scouting.rate: the scouting rate must be a whole number of packets a second'],
        ['0', 'invalid profile scouting.rate: the scouting rate is at least 1 packet a second'],
      ] as const) {
        const res = await operator.postForm('/perimeter/profiles', {
          name: 'bad-scout',
          tcpPorts: '22',
          scoutRate: rate,
          scripts: 'plum-banner',
          every: '1d',
          priority: '2',
          targets: 'all',
          hostTimeout: '40s',
        });
        expect(res.status).toBe(422);
        expect(await res.text()).toContain(message);
      }
      expect((await operator.get('/perimeter/profiles/bad-scout')).status).toBe(404);
    });

    it('security: a missing or wrong CSRF token is refused and changes nothing', async () => {
      const missing = await operator.post('/perimeter/targets', { value: '127.0.9.10' });
      expect(missing.status).toBe(403);
      expect(await missing.text()).toContain('missing or wrong CSRF token');
      const wrong = await operator.post('/perimeter/targets', { _csrf: 'x'.repeat(43), value: '127.0.9.10' });
      expect(wrong.status).toBe(403);
      const otherSession = await operator.post('/perimeter/targets', { _csrf: viewer.csrf, value: '127.0.9.10' });
      expect(otherSession.status).toBe(403);
      expect(await (await operator.get('/perimeter')).text()).not.toContain('127.0.9.10');
    });

    it('security: a post from another origin is refused even with the token', async () => {
      const res = await operator.postForm('/perimeter/targets', { value: '127.0.9.11' }, { origin: 'https://evil.example' });
      expect(res.status).toBe(403);
    });

    it('security: a viewer cannot post an operator form even with a valid token', async () => {
      const res = await viewer.postForm('/perimeter/targets', { value: '127.0.9.12' });
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('this page needs the operator role (you have viewer)');
    });

    it('bad input: the bulk import reports accepted, duplicate and invalid lines', async () => {
      const res = await operator.postForm('/perimeter/targets/import', { list: '127.0.10.1\n127.0.10.1\nnot a target!\n# comment\n127.0.10.2' });
      expect(res.status).toBe(200);
      const html = await res.text();
      expect(html).toContain('2 accepted, 1 already declared or repeated, 1 invalid.');
    });

    it('bad input: an investigation outside the perimeter is refused on the form with the offending target', async () => {
      const res = await operator.postForm('/investigations', { targets: '192.0.2.1', ports: '22' });
      expect(res.status).toBe(422);
      expect(await res.text()).toContain('192.0.2.1');
    });

    it('admin: creating a user and an API key; the key works on the API, the cookie does not', async () => {
      const u = await admin.postForm('/admin/users', { name: 'newbie', role: 'viewer', password: 'newbie password 1' });
      expect(u.status).toBe(303);
      const k = await admin.postForm('/admin/keys', { name: 'from the web', role: 'viewer' });
      const key = /class="secret-value">(plum_k_[A-Za-z0-9_-]+)</.exec(await k.text())![1]!;
      expect((await api.call('/v1/runs', { auth: key })).status).toBe(200);
      const cookieOnly = await fetch(`${api.server.url}/v1/runs`, { headers: { cookie: `plum_session=${admin.cookies.get('plum_session')}` } });
      expect(cookieOnly.status).toBe(401);
    });
  });

  describe('search and scanned data', () => {
    it('bad input: a syntax error is shown with its position, escaped', async () => {
      const res = await viewer.get(`/search?q=${encodeURIComponent('port:443 AND (<b>x')}`);
      expect(res.status).toBe(400);
      const html = await res.text();
      expect(html).toMatch(/Syntax error<\/strong> at position \d+/);
      expect(html).toContain('&lt;b&gt;x');
      expect(html).not.toContain('<b>x');
    });

    it('results are grouped by host with the matching field highlighted; export links keep the query', async () => {
      const html = await (await viewer.get(`/search?q=${encodeURIComponent('service_name:https')}`)).text();
      expect(html).toContain(`href="/hosts/${HOSTILE_IP}"`);
      expect(html).toContain('<mark>https</mark>');
      expect(html).toContain('/search/export?q=service_name%3Ahttps&amp;format=csv');
      const csv = await viewer.get('/search/export?q=service_name%3Ahttps&format=csv');
      expect(csv.headers.get('content-disposition')).toContain('attachment');
      expect(await csv.text()).toContain(HOSTILE_IP);
    });

    it('security: hostile titles, banners and certificate names are escaped on the host and search pages', async () => {
      for (const path of [`/hosts/${HOSTILE_IP}`, `/search?q=${encodeURIComponent(`ip:${HOSTILE_IP}`)}`]) {
        const html = await (await viewer.get(path)).text();
        expect(html).not.toContain(SCRIPT);
        expect(html).not.toContain('<img src=x');
        expect(html).not.toContain('<svg');
      }
      const host = await (await viewer.get(`/hosts/${HOSTILE_IP}`)).text();
      expect(host).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(host).toContain('&lt;img src=x onerror=alert(2)&gt;');
    });

    it('security: searches are rate-limited per user, as the API limits them per key', async () => {
      const strict = await startTestApiOn(api, undefined, { expensivePerMinute: 2 });
      try {
        const v = new WebClient(strict.server.url);
        v.cookies = new Map(viewer.cookies);
        expect((await v.get('/search?q=port%3A1')).status).toBe(200);
        expect((await v.get('/search/export?q=port%3A1&format=json')).status).toBe(200);
        expect((await v.get('/search?q=port%3A2')).status).toBe(200);
        const third = await v.get('/search?q=port%3A3');
        expect(third.status).toBe(429);
        expect(await third.text()).toContain('too many searches: at most 2 a minute');
        const o = new WebClient(strict.server.url);
        o.cookies = new Map(operator.cookies);
        expect((await o.get('/search?q=port%3A1')).status).toBe(200);
      } finally {
        await strict.close();
      }
    });

    it('completion proposes fields and values', async () => {
      const fields = await (await viewer.get('/search/complete?q=port%3A443%20serv')).text();
      expect(fields).toContain('value="port:443 service_name:"');
      const values = await (await viewer.get('/search/complete?q=service_name%3Aht')).text();
      expect(values).toContain('value="service_name:https"');
    });
  });

  describe('assets and /docs', () => {
    it('assets come from the package with a year of cache and SRI on the page', async () => {
      const html = await (await viewer.get('/')).text();
      const m = /<script src="(\/assets\/[0-9a-f]{16}\/htmx\.min\.js)" integrity="(sha384-[^"]+)"/.exec(html);
      expect(m).toBeTruthy();
      const res = await fetch(`${api.server.url}${m![1]}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      const { createHash } = await import('node:crypto');
      expect(
        `sha384-${createHash('sha384')
          .update(Buffer.from(await res.arrayBuffer()))
          .digest('base64')}`,
      ).toBe(m![2]);
      expect((await fetch(`${api.server.url}/assets/0000000000000000/../../package.json`)).status).toBe(404);
    });

    it('/docs loads the API reference from this server, never a CDN', async () => {
      const res = await fetch(`${api.server.url}/docs`);
      const html = await res.text();
      expect(res.status).toBe(200);
      expect(html).not.toMatch(/https?:\/\//);
      const src = /<script src="(\/assets\/[0-9a-f]{16}\/swagger-ui\.js)"/.exec(html)![1]!;
      const bundle = await fetch(`${api.server.url}${src}`);
      expect(bundle.status).toBe(200);
      expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(1_000_000);
      const css = /<link rel="stylesheet" href="(\/assets\/[0-9a-f]{16}\/swagger-ui\.css)"/.exec(html)![1]!;
      expect((await fetch(`${api.server.url}${css}`)).headers.get('content-type')).toMatch(/^text\/css/);
      // Every script is a file of this server: no inline script on the page.
      expect(html.match(/<script\b[^>]*>/g)!.every((tag) => / src="\/assets\//.test(tag))).toBe(true);
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(res.headers.get('content-security-policy')).not.toMatch(/unsafe/);
    });
  });
});
