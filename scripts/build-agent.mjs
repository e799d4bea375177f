// The single-file agent: dist-agent/plum-agent.mjs runs `plum agent` on a host with Node ≥ 20 and nmap and
// nothing else (no checkout, no node_modules). Built by `node scripts/build.mjs --agent` (npm run build:agent).
//
// Everything the agent imports is bundled, packages included. The one file that is not JavaScript is
// Temporal's native library (@temporalio/core-bridge, a Rust addon): it is embedded for the chosen targets
// (default: the building machine's) and written on first start to a private cache directory, named by its
// digest, from which the bridge loads it. The embedded copy is checked against that digest before use.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { build } from 'esbuild';

/** Replaces core-bridge's lookup of its prebuilt library by one that unpacks the embedded copy. */
function embedNativeBridge(root, targets) {
  const require = createRequire(path.join(root, 'package.json'));
  const bridgeDir = path.dirname(require.resolve('@temporalio/core-bridge/package.json'));
  const { getPrebuiltTargetName } = require('@temporalio/core-bridge/common.js');
  const chosen = targets?.length ? targets : [getPrebuiltTargetName()];
  const digests = Object.fromEntries(
    chosen.map((t) => {
      const file = path.join(bridgeDir, 'releases', t, 'index.node');
      return [t, createHash('sha256').update(readFileSync(file)).digest('hex')];
    }),
  );
  return {
    name: 'embed-temporal-native-bridge',
    setup(b) {
      b.onLoad({ filter: /[\\/]@temporalio[\\/]core-bridge[\\/]common\.js$/ }, async (args) => {
        const original = readFileSync(args.path, 'utf8');
        const replaced = original.replace(
          /function getPrebuiltPath\(\) \{[\s\S]*?\n\}\n/,
          `function getPrebuiltPath() {
  return require('plum-agent-native').unpack(getPrebuiltTargetName());
}
`,
        );
        if (replaced === original) throw new Error('@temporalio/core-bridge/common.js changed: getPrebuiltPath not found');
        return { contents: replaced, loader: 'js', resolveDir: path.dirname(args.path) };
      });
      b.onResolve({ filter: /^plum-agent-native(\/.*)?$/ }, (args) => ({ path: args.path, namespace: 'plum-agent-native' }));
      b.onLoad({ filter: /^plum-agent-native\/.+$/, namespace: 'plum-agent-native' }, (args) => {
        const target = args.path.split('/')[1];
        return { contents: readFileSync(path.join(bridgeDir, 'releases', target, 'index.node')), loader: 'binary' };
      });
      b.onLoad({ filter: /^plum-agent-native$/, namespace: 'plum-agent-native' }, () => ({
        loader: 'js',
        contents: `
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const digests = ${JSON.stringify(digests)};
const embedded = { ${chosen.map((t) => `${JSON.stringify(t)}: () => require(${JSON.stringify(`plum-agent-native/${t}`)})`).join(', ')} };

/** A directory only this user may write, or an error saying which variable to set. */
function privateDir(dir) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || (typeof process.getuid === 'function' && st.uid !== process.getuid()) || (st.mode & 0o022) !== 0) {
    throw new Error('plum-agent: ' + dir + ' is not a private directory of this user; set PLUM_AGENT_CACHE to one');
  }
  return dir;
}

function cacheRoot() {
  if (process.env.PLUM_AGENT_CACHE) return process.env.PLUM_AGENT_CACHE;
  // systemd's CacheDirectory= sets CACHE_DIRECTORY.
  if (process.env.CACHE_DIRECTORY) return path.join(process.env.CACHE_DIRECTORY.split(':')[0], 'plum-agent');
  if (process.env.XDG_CACHE_HOME) return path.join(process.env.XDG_CACHE_HOME, 'plum-agent');
  const home = os.homedir();
  if (home && home !== '/') return path.join(home, '.cache', 'plum-agent');
  return path.join(os.tmpdir(), 'plum-agent-' + (typeof process.getuid === 'function' ? process.getuid() : 'user'));
}

exports.unpack = function unpack(target) {
  const load = embedded[target];
  if (!load) {
    throw new Error('plum-agent: this file embeds Temporal\\'s native library for ' + Object.keys(embedded).join(', ') + ', not for ' + target + ': build it with node scripts/build.mjs --agent --agent-targets ' + target);
  }
  const digest = digests[target];
  const dir = privateDir(path.join(cacheRoot(), digest.slice(0, 16)));
  const file = path.join(dir, 'index.node');
  const ok = (f) => { try { return crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex') === digest; } catch { return false; } };
  if (!ok(file)) {
    const bytes = load();
    if (crypto.createHash('sha256').update(bytes).digest('hex') !== digest) throw new Error('plum-agent: the embedded native library is damaged');
    const partial = file + '.' + process.pid;
    fs.writeFileSync(partial, bytes, { mode: 0o600 });
    fs.renameSync(partial, file);
  }
  return file;
};
`,
      }));
    },
  };
}

/**
 * An agent registers activities only: it never bundles workflow code, so Temporal's workflow bundler
 * (webpack, swc and their native parts) is left out. Calling it says so.
 */
const noWorkflowBundler = {
  name: 'no-workflow-bundler',
  setup(b) {
    b.onLoad({ filter: /[\\/]@temporalio[\\/]worker[\\/]lib[\\/]workflow[\\/]bundler\.js$/ }, () => ({
      loader: 'js',
      contents: `
const unavailable = () => { throw new Error('plum-agent runs activities only: it cannot bundle workflow code'); };
exports.bundleWorkflowCode = unavailable;
exports.WorkflowCodeBundler = class { constructor() { unavailable(); } };
exports.moduleMatches = () => false;
exports.defaultWorkflowInterceptorModules = [];
exports.allowedBuiltinModules = ['assert', 'url', 'util'];
exports.disallowedBuiltinModules = [];
exports.disallowedModules = [];
`,
    }));
  },
};

export async function buildAgent({ root, outdir, targets }) {
  const staging = `${outdir}.build-${process.pid}`;
  try {
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    const outfile = path.join(staging, 'plum-agent.mjs');
    await build({
      absWorkingDir: root,
      entryPoints: ['cli/agent-main.ts'],
      outfile,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      logLevel: 'warning',
      tsconfig: path.join(root, 'tsconfig.json'),
      plugins: [embedNativeBridge(root, targets), noWorkflowBundler],
      // CommonJS packages inside an ES module: give them require, __filename and __dirname.
      banner: {
        js: [
          '#!/usr/bin/env node',
          "import { createRequire as __plumCreateRequire } from 'node:module';",
          "import { fileURLToPath as __plumFileURLToPath } from 'node:url';",
          'const require = __plumCreateRequire(import.meta.url);',
          'const __filename = __plumFileURLToPath(import.meta.url);',
          "const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));",
        ].join('\n'),
      },
      legalComments: 'linked',
    });
    await chmod(outfile, 0o755);
    const old = `${outdir}.old-${process.pid}`;
    await rename(outdir, old).catch(() => {});
    await rename(staging, outdir);
    await rm(old, { recursive: true, force: true });
    const size = (await stat(path.join(outdir, 'plum-agent.mjs'))).size;
    process.stderr.write(`plum: built ${path.relative(root, path.join(outdir, 'plum-agent.mjs'))} (${(size / 1_048_576).toFixed(0)} MB)\n`);
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    process.stderr.write(`plum build --agent: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
