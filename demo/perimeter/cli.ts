/**
 * Starts the loopback test perimeter by hand:
 *   npx tsx demo/perimeter/cli.ts [--prefix 127.77.3] [--title "My title"] [--high-ports]
 * Prints the services (JSON with --json) and runs until Ctrl-C.
 */
import { parseArgs } from 'node:util';
import { startPerimeter } from './index.ts';

const USAGE = `Usage: npx tsx demo/perimeter/cli.ts [options]

Starts the loopback test perimeter (SSH, HTTP, HTTPS, … services on 127.x addresses)
and runs until Ctrl-C.

Options:
  --prefix <a.b.c>  the /24 inside 127.0.0.0/8, e.g. 127.77.3 (default: a random one)
  --title <text>    the HTTP page title
  --high-ports      listen on high ports (8080, …) even as root (standard ports need root)
  --json            print the services as JSON on standard output
  -h, --help        show this help
`;

function parseOptions() {
  try {
    return parseArgs({
      options: {
        prefix: { type: 'string' },
        title: { type: 'string' },
        'high-ports': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (e) {
    process.stderr.write(`perimeter: ${(e as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
}

const values = parseOptions();
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

try {
  const perimeter = await startPerimeter({
    prefix: values.prefix,
    title: values.title,
    ...(values['high-ports'] ? { standardPorts: false } : {}),
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ prefix: perimeter.prefix, services: perimeter.services })}\n`);
  } else {
    process.stderr.write(`Plum loopback test perimeter on ${perimeter.prefix}.0/24:\n`);
    for (const s of perimeter.services) process.stderr.write(`  ${s.name.padEnd(6)} ${s.ip}:${s.port}\n`);
    process.stderr.write(`Declare it with: plum target add ${perimeter.prefix}.0/24\nCtrl-C to stop.\n`);
  }
  const stop = async () => {
    await perimeter.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} catch (e) {
  process.stderr.write(`perimeter: ${(e as Error).message}\n`);
  process.exit(1);
}
