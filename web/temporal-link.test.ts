import { describe, expect, it } from 'vitest';
import { temporalUiBase, temporalWorkflowUrl } from './temporal-link.ts';

describe('temporalWorkflowUrl', () => {
  it.each([
    ['http://127.0.0.1:8233', 'default', 'investigation:inv_01', 'http://127.0.0.1:8233/namespaces/default/workflows/investigation%3Ainv_01'],
    [
      'http://127.0.0.1:8233/',
      'default',
      'profile:banner:2026-01-01T00:00:00.000Z',
      'http://127.0.0.1:8233/namespaces/default/workflows/profile%3Abanner%3A2026-01-01T00%3A00%3A00.000Z',
    ],
    ['https://temporal.example/ui//', 'plum prod', 'a/b?c#d&e', 'https://temporal.example/ui/namespaces/plum%20prod/workflows/a%2Fb%3Fc%23d%26e'],
    ['http://127.0.0.1:8233', 'ns', '"><script>x</script>', 'http://127.0.0.1:8233/namespaces/ns/workflows/%22%3E%3Cscript%3Ex%3C%2Fscript%3E'],
  ])('%s %s %s', (base, ns, id, url) => {
    expect(temporalWorkflowUrl(base, ns, id)).toBe(url);
  });
});

describe('temporalUiBase', () => {
  it.each([
    [{ PLUM_TEMPORAL_ADDRESS: '127.0.0.1:7233', PLUM_TEMPORAL_UI_URL: 'http://127.0.0.1:8233' }, 'http://127.0.0.1:8233'],
    [{ PLUM_TEMPORAL_ADDRESS: '127.0.0.1:7233' }, undefined],
    [{ PLUM_TEMPORAL_UI_URL: 'http://127.0.0.1:8233' }, undefined], // embedded mode: no link even when the URL is set
    [{}, undefined],
  ])('%j → %s', (config, base) => {
    expect(temporalUiBase(config)).toBe(base);
  });
});
