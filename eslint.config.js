// ESLint: promise hygiene everywhere, and the layering as import rules.
//   core/       pure domain logic: imports no other layer (its rule-file loaders read files; nothing else does I/O)
//   store/      database access: core/ only
//   workflows/  deterministic orchestration: Temporal's workflow packages, other layers as types only
//   api/, web/, mcp/  serve requests: workers/ (what runs scans) only as types, handed in as ApiServices
//   everything  never imports test/
//   SQL         only in store/: elsewhere a query is a named, typed function of store/repos/ (one file per table)
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const layer = (name) => [`../${name}/*`, `../../${name}/*`, `../../../${name}/*`, `../${name}/**`, `../../${name}/**`, `../../../${name}/**`];
const noTestImports = { group: layer('test'), message: 'product code never imports test/: move what it needs next to the code that uses it' };

/** Files of core/ allowed to read files: loaders of the rule data users edit, and the XML file reader. */
const coreFileReaders = [
  'core/rules/favicon-db.ts',
  'core/rules/import.ts',
  'core/rules/load.ts',
  'core/score.ts',
  'core/nmap/volatile.ts',
  'core/nmap/read-file.ts',
  'core/nmap/parse-pool.ts',
  'core/nmap/script-args.ts',
  'core/nmap/script-db.ts',
];

/**
 * Raw SQL outside store/: a query method called on a store handle (the names the code gives a Store or a
 * StoreSession from store/index.ts: store, tx, db, session, client, o.store…) or with SQL text,
 * drizzle's sql`…` and its query builder (store.db), and drizzle-orm itself. Syntax only, so a store handle under
 * another name with a computed text would pass; the SQL-text selectors catch the usual shapes of that.
 */
const sqlVerb = '/^\\s*(select|insert|update|delete|with|lock|truncate)\\s/i';
const rawSqlMessage = 'SQL lives in store/: add a function named for what it answers to store/repos/<table>.ts and call it';
const noRawSql = [
  'CallExpression[callee.property.name=/^(query|unsafe|execute)$/][callee.object.name=/^(store|tx|db|session|client)$/]',
  'CallExpression[callee.property.name=/^(query|unsafe|execute)$/][callee.object.property.name=/^(store|db)$/]',
  `CallExpression[callee.property.name=/^(query|unsafe|execute)$/] > Literal.arguments[value=${sqlVerb}]`,
  `CallExpression[callee.property.name=/^(query|unsafe|execute)$/] > TemplateLiteral.arguments > TemplateElement.quasis:first-child[value.raw=${sqlVerb}]`,
  "MemberExpression[property.name='db'][object.name=/^(store|tx)$/]",
  "MemberExpression[property.name='db'][object.property.name='store']",
  "TaggedTemplateExpression[tag.name='sql']",
  "ImportDeclaration[source.value=/^drizzle-orm/][importKind!='type']",
].map((selector) => ({ selector, message: rawSqlMessage }));

export default tseslint.config(
  { ignores: ['node_modules/**', '.plum/**', 'store/migrations/**', '**/*.mjs', '**/*.js', 'nse/**'] },
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      'no-restricted-imports': ['error', { patterns: [noTestImports] }],
    },
  },
  {
    files: ['**/*.test.ts', 'test/**', 'bench/**'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['**/*.ts', '**/*.tsx'],
    ignores: ['store/**', 'test/**', 'bench/**', '**/*.test.ts', 'workflows/**'],
    rules: { 'no-restricted-syntax': ['error', ...noRawSql] },
  },
  {
    files: ['core/**/*.ts'],
    ignores: ['core/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            noTestImports,
            {
              group: ['store', 'activities', 'workflows', 'workers', 'api', 'cli'].flatMap(layer),
              message: 'core/ is the innermost layer: it imports no other layer',
            },
            {
              group: ['node:net', 'node:http', 'node:https', 'node:child_process', 'node:dns', 'node:dgram', 'node:tls'],
              message: 'core/ does no network or process I/O',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['core/**/*.ts'],
    ignores: ['core/**/*.test.ts', ...coreFileReaders],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            noTestImports,
            {
              group: ['store', 'activities', 'workflows', 'workers', 'api', 'cli'].flatMap(layer),
              message: 'core/ is the innermost layer: it imports no other layer',
            },
            {
              group: [
                'node:fs',
                'node:fs/promises',
                'node:net',
                'node:http',
                'node:https',
                'node:child_process',
                'node:dns',
                'node:dgram',
                'node:tls',
                'node:worker_threads',
              ],
              message: 'core/ is pure: read files in the loader modules listed in eslint.config.js, or outside core/',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['store/**/*.ts'],
    ignores: ['store/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [noTestImports, { group: ['activities', 'workflows', 'workers', 'api', 'cli'].flatMap(layer), message: 'store/ builds on core/ only' }],
        },
      ],
    },
  },
  {
    files: ['api/**/*.ts', 'web/**/*.ts', 'web/**/*.tsx', 'mcp/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: layer('workers'),
              allowTypeImports: true,
              message: 'the request layers see workers/ as types only: what runs scans and schedules reaches them as ApiServices (workers/serve-services.ts)',
            },
          ],
        },
      ],
    },
  },
  {
    // Temporal replays workflow code: it must be deterministic and free of side effects.
    files: ['workflows/**/*.ts'],
    ignores: ['workflows/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: builtinModules
            .flatMap((m) => [m, `node:${m}`])
            .map((name) => ({ name, message: 'no Node built-ins in workflows/ (Temporal replays workflow code)' })),
          patterns: [
            {
              group: ['../*', '!../workflows/*', '../../*', '!../../workflows/*'],
              allowTypeImports: true,
              message: 'workflows/ sees other layers as types only (`import type`)',
            },
            { regex: '^(?![./]|@temporalio/(workflow|common)$)', message: 'only @temporalio/workflow and @temporalio/common are workflow-safe packages' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        ...['process', 'crypto', 'performance', 'setTimeout', 'setInterval', 'setImmediate', 'require'].map((name) => ({
          name,
          message: `${name} is not deterministic or not available in workflows/`,
        })),
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'ImportExpression', message: 'no dynamic import() in workflows/' },
        { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: 'Date.now() is not deterministic: use workflow time' },
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'new Date() without arguments is not deterministic' },
        { selector: "CallExpression[callee.object.name='Math'][callee.property.name='random']", message: 'Math.random() is not deterministic' },
        { selector: 'ImportDeclaration[specifiers.length=0][importKind!="type"]', message: 'no side-effecting imports in workflows/' },
      ],
    },
  },
);
