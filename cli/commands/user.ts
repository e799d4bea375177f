import { Option, type Command } from 'commander';
import { PlumError } from '../../core/errors.ts';
import { createUser, listUsers, removeUser, setUserPassword, setUserRole, unlockUser, USER_ROLES } from '../../store/repos/users.ts';
import type { CliContext } from '../context.ts';
import { formatOption, info, printJson, printTable } from '../output.ts';
import { openCommandStore } from './init.ts';

/** The whole of standard input, without its final newline (`printf %s "$PW" | plum user add … --password-stdin`). */
async function readStdinPassword(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(c as string);
    size += b.length;
    if (size > 4096) throw new PlumError('usage', 'standard input holds more than 4096 bytes', { hint: 'pipe only the password' });
    chunks.push(b);
  }
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Reads one line from the terminal without echoing it. */
async function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    throw new PlumError('usage', 'no terminal to ask the password on', { hint: 'pipe it in with --password-stdin' });
  }
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  try {
    return await new Promise<string>((resolve, reject) => {
      let line = '';
      const onData = (s: string) => {
        for (const ch of s) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData);
            process.stderr.write('\n');
            resolve(line);
            return;
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            reject(new PlumError('usage', 'cancelled'));
            return;
          }
          if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
          else line += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
  }
}

async function askPassword(fromStdin: boolean | undefined): Promise<string> {
  if (fromStdin) return readStdinPassword();
  const first = await promptHidden('Password: ');
  const again = await promptHidden('Password again: ');
  if (first !== again) throw new PlumError('usage', 'the two passwords differ', { hint: 'run the command again' });
  return first;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command('user').description('web interface accounts (roles viewer, operator, admin, as for API keys)');
  const roleOption = () =>
    new Option(
      '--role <role>',
      'viewer reads; operator also manages targets/profiles and starts investigations; admin also manages users, keys and agents',
    ).choices([...USER_ROLES]);

  cmd
    .command('add')
    .description('create a user; the password is asked twice on the terminal, or read from standard input')
    .argument('<name>', 'login name')
    .addOption(roleOption().makeOptionMandatory())
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, opts: { role: string; passwordStdin?: boolean }) => {
      const password = await askPassword(opts.passwordStdin);
      const store = await openCommandStore(ctx);
      const u = await createUser(store, { name, role: opts.role, password });
      info(`plum: created ${u.role} user ${u.name}; log in on the web interface of \`plum serve\``);
    });

  cmd
    .command('passwd')
    .description("set a user's password (ends their sessions and clears a lockout)")
    .argument('<name>', 'login name')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (name: string, opts: { passwordStdin?: boolean }) => {
      const password = await askPassword(opts.passwordStdin);
      const store = await openCommandStore(ctx);
      await setUserPassword(store, name, password);
      info(`plum: password of ${name} changed; their sessions ended`);
    });

  cmd
    .command('role')
    .description("change a user's role (ends their sessions)")
    .argument('<name>', 'login name')
    .addOption(roleOption().makeOptionMandatory())
    .action(async (name: string, opts: { role: string }) => {
      const store = await openCommandStore(ctx);
      const u = await setUserRole(store, name, opts.role);
      info(`plum: ${u.name} is now ${u.role}`);
    });

  cmd
    .command('unlock')
    .description('clear a lockout after repeated failed logins')
    .argument('<name>', 'login name')
    .action(async (name: string) => {
      const store = await openCommandStore(ctx);
      await unlockUser(store, name);
      info(`plum: ${name} unlocked`);
    });

  cmd
    .command('list')
    .description('list users (never the password hashes)')
    .addOption(formatOption())
    .action(async (opts: { format: string }) => {
      const store = await openCommandStore(ctx);
      const list = await listUsers(store);
      if (opts.format === 'json') printJson(list);
      else printTable(list as unknown as Record<string, unknown>[], ['name', 'role', 'createdAt', 'lastLoginAt', 'lockedUntil']);
    });

  cmd
    .command('rm')
    .description('remove a user and end their sessions')
    .argument('<name>', 'login name')
    .action(async (name: string) => {
      const store = await openCommandStore(ctx);
      await removeUser(store, name);
      info(`plum: user ${name} removed`);
    });
}
