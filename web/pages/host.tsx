import type { Context, Hono } from 'hono';
import { PlumError } from '../../core/errors.ts';
import { hostDetail, type HostDetail } from '../../api/views/host.ts';
import { roleAtLeast } from '../../api/auth.ts';
import { getJobRawXml } from '../../store/repos/raw-results.ts';
import type { WebEnv } from '../context.ts';
import { guard } from '../guard.ts';
import { PostForm, render, Tags, When } from '../layout.tsx';

/** A field-level difference of an event (filled by the change feed when it records them). */
export interface FieldChange {
  field: string;
  old: unknown;
  new: unknown;
}

const show = (v: unknown) => (v === null || v === undefined ? '—' : Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : String(v));

export function Changes({ changes }: { changes: FieldChange[] }) {
  return (
    <table class="diff">
      <thead>
        <tr>
          <th scope="col">Field</th>
          <th scope="col">Before</th>
          <th scope="col">After</th>
        </tr>
      </thead>
      <tbody>
        {changes.map((ch) => (
          <tr>
            <th scope="row">{ch.field}</th>
            <td>
              <del>{show(ch.old)}</del>
            </td>
            <td>
              <ins>{show(ch.new)}</ins>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Marks a port that keeps going and coming back (PLUM_FLAPPING): its gone/reappeared are noise more than news. */
export function FlappingBadge({ title }: { title: string }) {
  return (
    <span class="badge flapping" title={title}>
      flapping
    </span>
  );
}

type HostEvent = HostDetail['history'][number] & { changes?: FieldChange[] };

export function Timeline({ events }: { events: HostEvent[] }) {
  if (events.length === 0) return <p>No event.</p>;
  return (
    <ol class="timeline">
      {events.map((e) => (
        <li class={`event ${e.type}`}>
          <When at={e.at} /> <strong>{e.type}</strong>{' '}
          {e.flapping ? <FlappingBadge title="the port was flapping then: it went away often within the window" /> : null} {e.port}/{e.protocol}{' '}
          <code title="fingerprint">{e.hsh256.slice(0, 12)}</code>
          {e.previousHsh256 ? (
            <>
              {' '}
              (was <code>{e.previousHsh256.slice(0, 12)}</code>)
            </>
          ) : null}
          {e.runId ? (
            <>
              {' '}
              · <a href={`/runs/${e.runId}`}>run</a>
            </>
          ) : null}
          {e.jobId ? (
            <>
              {' '}
              · <a href={`/jobs/${e.jobId}/raw`}>raw XML</a>
            </>
          ) : null}
          {e.changes && e.changes.length > 0 ? <Changes changes={e.changes} /> : null}
        </li>
      ))}
    </ol>
  );
}

const CERT_FIELDS = [
  'x509_subject',
  'x509_subject_cn',
  'x509_issuer',
  'x509_issuer_cn',
  'x509_san',
  'x509_not_before',
  'x509_not_after',
  'x509_key_type',
  'x509_key_bits',
  'x509_sig_alg',
  'x509_sha256',
];

function Service({ s }: { s: HostDetail['services'][number] }) {
  const fields = Object.entries(s.fields).filter(([k, v]) => v.length > 0 && !['ip', 'port', 'protocol', 'state'].includes(k) && !CERT_FIELDS.includes(k));
  const cert = CERT_FIELDS.filter((k) => (s.fields[k]?.length ?? 0) > 0);
  return (
    <section class="service" aria-label={`service ${s.port}/${s.protocol}`}>
      <h3>
        {s.port}/{s.protocol} <span class={`state ${s.state}`}>{s.state}</span>{' '}
        {s.flapping ? <FlappingBadge title="flapping now: it went away often within the window, its state may not last" /> : null}{' '}
        <span class="score">score {s.score}</span>
      </h3>
      <p class="muted">
        Fingerprint <code>{s.hsh256}</code> · first seen <When at={s.firstSeen} /> · last seen <When at={s.lastSeen} /> · seen {s.timesSeen} times
      </p>
      <Tags tags={s.tags} />
      <dl class="fields">
        {fields.map(([k, v]) => (
          <>
            <dt>{k}</dt>
            <dd>
              {v.map((x) => (
                <span class="value">{x}</span>
              ))}
            </dd>
          </>
        ))}
      </dl>
      {cert.length ? (
        <details open>
          <summary>Certificate</summary>
          <dl class="fields">
            {cert.map((k) => (
              <>
                <dt>{k.replace('x509_', '')}</dt>
                <dd>
                  {s.fields[k]!.map((x) => (
                    <span class="value">{x}</span>
                  ))}
                </dd>
              </>
            ))}
          </dl>
        </details>
      ) : null}
    </section>
  );
}

function HostPage({ c, h }: { c: Context<WebEnv>; h: HostDetail }) {
  const operator = roleAtLeast(c.var.user.role, 'operator');
  return (
    <>
      <p>
        Score <strong>{h.score.score}</strong> ({h.score.band}) · first seen <When at={h.firstSeen} /> · last seen <When at={h.lastSeen} />
        {h.hostnames.length ? <> · names {h.hostnames.join(', ')}</> : null}
      </p>
      <Tags tags={h.tags} />
      {operator ? (
        <PostForm c={c} action="/investigations" class="inline">
          <input type="hidden" name="targets" value={h.ip} />
          <input
            type="hidden"
            name="ports"
            value={
              h.services
                .map((s) => s.port)
                .filter((p, i, a) => a.indexOf(p) === i)
                .join(',') || '1-1024'
            }
          />
          <button type="submit">Investigate now</button>
        </PostForm>
      ) : null}
      <section>
        <h2>Score explanation</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">Feature</th>
              <th scope="col">Value</th>
              <th scope="col">Weight</th>
              <th scope="col">Contribution</th>
              <th scope="col">Share</th>
            </tr>
          </thead>
          <tbody>
            {h.score.features.map((f) => (
              <tr>
                <th scope="row">{f.name}</th>
                <td>{show(f.value)}</td>
                <td>{f.weight}</td>
                <td>{f.contribution.toFixed(1)}</td>
                <td>{f.percent.toFixed(0)} %</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section>
        <h2>Services</h2>
        {h.services.map((s) => (
          <Service s={s} />
        ))}
      </section>
      <section>
        <h2>Timeline</h2>
        <Timeline events={h.history as HostEvent[]} />
      </section>
    </>
  );
}

export function registerHost(web: Hono<WebEnv>): void {
  web.get('/hosts/:ip', ...guard('viewer'), async (c) => {
    const ip = c.req.param('ip');
    if (!/^[0-9a-fA-F:.]{2,45}$/.test(ip))
      throw new PlumError('invalid_input', `"${ip.slice(0, 60)}" is not an IPv4 or IPv6 address`, { hint: 'open a host from the search results' });
    const h = await hostDetail(c.var.deps, ip, { events: 500 });
    return render(c, `Host ${h.ip}`, <HostPage c={c} h={h} />);
  });

  /** A job's raw nmap XML, as stored, as a download (never rendered as a page: it holds scanned data). */
  web.get('/jobs/:id/raw', ...guard('viewer'), async (c) => {
    const id = c.req.param('id');
    if (!/^job_[0-9a-z]{26}$/.test(id)) throw new PlumError('invalid_input', 'not a job id', { hint: 'follow a raw XML link of a host or run page' });
    const raw = await getJobRawXml(c.var.deps.store, id);
    if (raw.found === 'no-job') throw new PlumError('not_found', `no job ${id}`);
    if (raw.found === 'not-kept')
      throw new PlumError('not_found', `the XML of job ${id} is no longer kept`, { hint: 'raw XML is kept PLUM_RAW_RETENTION_DAYS days' });
    return c.body(new Uint8Array(raw.xml), 200, {
      'content-type': 'text/plain; charset=utf-8',
      'content-disposition': `attachment; filename="${id}.xml"`,
    });
  });
}
