import { Meilisearch, type Task } from 'meilisearch';
import type { PlumConfig } from '../../core/config.ts';
import { PlumError } from '../../core/errors.ts';
import { SEARCH_FIELD_NAMES, type SearchFields, type SearchFieldName } from '../../core/fields.ts';
import type { Logger } from '../../core/log.ts';
import type { TokenBackend } from './index.ts';

/**
 * Meilisearch adapter (distributed mode): port documents are indexed by
 * observation id (so re-indexing is idempotent), with ip/port/protocol/tags/
 * score/times filterable and the text fields searchable. Token search is then
 * served from Meilisearch; PostgreSQL still loads the documents, so results
 * are grouped and scoped (current open ports) exactly like structured search.
 *
 * Only these API calls are used: PATCH /indexes/{uid}/settings,
 * POST /indexes/{uid}/documents, POST /indexes/{uid}/documents/delete-batch,
 * GET /tasks/{uid}, POST /indexes/{uid}/search. test/meili-double answers exactly those.
 */
export interface MeiliPortDoc {
  id: string;
  ip: string;
  port: number;
  protocol: string;
  tags: string[];
  score: number;
  /** Epoch seconds (Meilisearch filters compare numbers). */
  first_seen: number;
  last_seen: number;
  [field: string]: unknown;
}

/** Text fields, most telling first (Meilisearch ranks matches in earlier attributes higher). */
const SEARCHABLE: SearchFieldName[] = [
  'http_title',
  'banner',
  'service_product',
  'http_server',
  'x509_subject_cn',
  'x509_san',
  'fqdn',
  'domain',
  'service_name',
  'service_version',
  'service_extrainfo',
  'cpe',
  'x509_subject',
  'x509_issuer',
  'http_headval',
  'http_cookiename',
  'ptr',
  'http_favicon_mmhash',
  'http_favicon_md5',
  'x509_sha256',
  'script',
];
const SKIP = new Set<SearchFieldName>(['ip', 'port', 'protocol', 'state']);

export const MEILI_SETTINGS = {
  searchableAttributes: [...SEARCHABLE, 'tags', 'ip'],
  filterableAttributes: ['ip', 'port', 'protocol', 'tags', 'score', 'first_seen', 'last_seen'],
  sortableAttributes: ['last_seen', 'first_seen', 'score'],
};

export interface IndexableObservation {
  id: string;
  ip: string;
  protocol: string;
  port: number;
  state?: string;
  firstSeen: string | Date;
  lastSeen: string | Date;
  fields: SearchFields;
  tags: string[];
  score: number;
}

const epoch = (v: string | Date) => Math.floor((v instanceof Date ? v.getTime() : Date.parse(v)) / 1000);

export function toMeiliDoc(o: IndexableObservation): MeiliPortDoc {
  const doc: MeiliPortDoc = {
    id: o.id,
    ip: o.ip,
    port: o.port,
    protocol: o.protocol,
    tags: o.tags,
    score: o.score,
    first_seen: epoch(o.firstSeen),
    last_seen: epoch(o.lastSeen),
  };
  for (const name of SEARCH_FIELD_NAMES) {
    if (SKIP.has(name)) continue;
    const v = o.fields[name];
    if (v && v.length) (doc as Record<string, unknown>)[name] = v;
  }
  return doc;
}

export class MeiliIndexer {
  private settingsApplied = false;
  readonly client: Meilisearch;

  constructor(
    host: string,
    apiKey: string | undefined,
    readonly indexUid: string,
    private readonly log?: Logger,
    private readonly taskTimeoutMs = 60_000,
  ) {
    this.client = new Meilisearch({ host, apiKey });
  }

  private async wait(p: Promise<{ taskUid: number }> & { waitTask?: unknown }, what: string): Promise<Task> {
    let task: Task;
    try {
      const enqueued = await p;
      task = await this.client.tasks.waitForTask(enqueued.taskUid, { timeout: this.taskTimeoutMs, interval: 50 });
    } catch (e) {
      throw unavailable(e, what);
    }
    if (task.status !== 'succeeded') {
      throw new PlumError('unavailable', `Meilisearch ${what} ${task.status}: ${task.error?.message ?? 'no detail'}`, {
        hint: 'check the Meilisearch server logs, then run plum search reindex',
      });
    }
    return task;
  }

  /** Creates the index if needed and applies the settings (idempotent). */
  async ensureSettings(): Promise<void> {
    if (this.settingsApplied) return;
    await this.wait(this.client.index(this.indexUid).updateSettings(MEILI_SETTINGS), 'settings update');
    this.settingsApplied = true;
  }

  /** Adds or replaces documents by id: indexing the same observation twice leaves one document. */
  async upsert(observations: IndexableObservation[]): Promise<void> {
    if (observations.length === 0) return;
    await this.ensureSettings();
    await this.wait(this.client.index(this.indexUid).addDocuments(observations.map(toMeiliDoc), { primaryKey: 'id' }), 'document update');
    this.log?.debug({ n: observations.length }, 'meilisearch: documents indexed');
  }

  async remove(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.ensureSettings();
    await this.wait(this.client.index(this.indexUid).deleteDocuments(ids), 'document deletion');
  }

  async searchIds(q: string, offset: number, limit: number): Promise<{ ids: string[]; estimatedTotal?: number }> {
    try {
      const res = await this.client.index(this.indexUid).search<{ id: string }>(q, { offset, limit, attributesToRetrieve: ['id'] });
      return { ids: res.hits.map((h) => h.id), estimatedTotal: res.estimatedTotalHits };
    } catch (e) {
      throw unavailable(e, 'search');
    }
  }

  /**
   * For ingest's `deps.afterCommit`: index open ports, drop closed ones and the
   * fingerprints they replaced. Stale documents can never leak into results
   * anyway: hits are re-checked against current open ports in PostgreSQL.
   */
  afterCommit = async (c: {
    observations: IndexableObservation[];
    events: { type: string; observationId: string; previousObservationId: string | null }[];
  }): Promise<void> => {
    const open = c.observations.filter((o) => (o.state ?? 'open') === 'open');
    const closed = c.observations.filter((o) => o.state === 'closed').map((o) => o.id);
    const replaced = c.events.filter((e) => e.type === 'changed' && e.previousObservationId).map((e) => e.previousObservationId!);
    await this.upsert(open);
    await this.remove([...new Set([...closed, ...replaced])].filter((id) => !open.some((o) => o.id === id)));
  };

  get backend(): TokenBackend {
    return { name: 'meilisearch', searchIds: (q, offset, limit) => this.searchIds(q, offset, limit) };
  }
}

function unavailable(e: unknown, what: string): PlumError {
  if (e instanceof PlumError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new PlumError('unavailable', `Meilisearch ${what} failed: ${msg}`, {
    cause: e,
    hint: 'check PLUM_MEILI_URL / PLUM_MEILI_KEY and that Meilisearch is running, or unset PLUM_MEILI_URL to search in PostgreSQL',
  });
}

/** The adapter when PLUM_MEILI_URL is configured, else undefined (PostgreSQL serves token search). */
export function meiliFromConfig(config: PlumConfig, log?: Logger): { indexer: MeiliIndexer; backend: TokenBackend } | undefined {
  if (!config.PLUM_MEILI_URL) return undefined;
  const indexer = new MeiliIndexer(config.PLUM_MEILI_URL, config.PLUM_MEILI_KEY, config.PLUM_MEILI_INDEX, log);
  return { indexer, backend: indexer.backend };
}
