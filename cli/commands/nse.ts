import { open } from 'node:fs/promises';
import type { Command } from 'commander';
import { PlumError, usageError } from '../../core/errors.ts';
import { MAX_CUSTOM_SCRIPT_BYTES, scriptNameOfFile } from '../../core/nmap/custom-scripts.ts';
import { addNseScript, listNseScripts, removeNseScript, type NseScriptInfo } from '../../store/repos/nse-scripts.ts';
import type { CliContext } from '../context.ts';
import { formatOption, info, printJson, printTable } from '../output.ts';
import { openCommandStore } from './init.ts';

/** Reads at most one byte past the limit, so a huge file is refused without being read whole. */
async function readScriptFile(file: string): Promise<Buffer> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (e) {
    throw new PlumError('not_found', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      hint: 'give the path of a .nse file',
    });
  }
  try {
    const buf = Buffer.alloc(MAX_CUSTOM_SCRIPT_BYTES + 1);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** `--format json` speaks snake_case, like every CLI output. */
const nseJson = (s: NseScriptInfo) => ({
  id: s.id,
  name: s.name,
  sha256: s.sha256,
  categories: s.categories,
  size: s.size,
  created_by: s.createdBy,
  created_at: s.createdAt,
  updated_at: s.updatedAt,
});

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command('nse').description('custom NSE scripts that profiles may name (stored with their SHA-256, shipped to agents by hash)');

  cmd
    .command('add')
    .description('add custom NSE scripts (.nse Lua files declaring their categories), or change them with --replace; all or none are stored')
    .argument('<files...>', "the .nse files (e.g. the predecessor's scripts: DIR/*.nse)")
    .option('--name <name>', 'with one file: the name profiles use (default: the file name without .nse); must not be a script nmap ships')
    .option('--replace', 'replace the content of existing scripts of those names (a new SHA-256; the next runs use it)', false)
    .addOption(formatOption())
    .action(async (files: string[], opts: { name?: string; replace: boolean; format: string }) => {
      if (opts.name && files.length > 1) throw usageError('--name renames one script, but several files were given', 'add the scripts to rename one by one');
      const inputs: Array<{ name: string; content: Buffer }> = [];
      for (const file of files) {
        const fromFile = scriptNameOfFile(file);
        if (!fromFile) throw usageError(`${file} is not a .nse file`, "give the NSE script's .nse file (rename it if needed)");
        const name = opts.name ?? fromFile;
        if (inputs.some((i) => i.name === name)) throw usageError(`two files give the script name ${name}`, 'add one of them with --name');
        inputs.push({ name, content: await readScriptFile(file) });
      }
      const store = await openCommandStore(ctx, { create: true });
      // One transaction: a refused script (bad categories, a clash) leaves none of the others half-added.
      const saved = await store.transaction(async (tx) => {
        const out = [];
        for (const input of inputs) out.push(await addNseScript(tx, { ...input, by: 'cli' }, { replace: opts.replace }));
        return out;
      });
      if (opts.format === 'json') {
        printJson(saved.map(({ replaced: _replaced, ...s }) => nseJson(s)));
        return;
      }
      for (const { replaced, ...s } of saved) {
        info(`NSE script ${s.name} ${replaced ? 'replaced' : 'added'}: sha256 ${s.sha256}, categories ${s.categories.join(', ')}, ${s.size} bytes`);
      }
    });

  cmd
    .command('list')
    .description('list custom NSE scripts with their SHA-256 and categories')
    .addOption(formatOption())
    .action(async (opts: { format: string }) => {
      const store = await openCommandStore(ctx);
      const list = await listNseScripts(store);
      if (opts.format === 'json') {
        printJson(list.map(nseJson));
        return;
      }
      printTable(
        list.map((s) => ({ ...s, categories: s.categories.join(',') })),
        ['name', 'sha256', 'categories', 'size', 'updatedAt'],
      );
    });

  cmd
    .command('rm')
    .description('delete a custom NSE script that no profile names')
    .argument('<name>', 'the script name')
    .action(async (name: string) => {
      const store = await openCommandStore(ctx);
      const s = await removeNseScript(store, name);
      info(`NSE script ${s.name} removed`);
    });
}
