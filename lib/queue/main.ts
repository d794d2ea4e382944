// The queue server process (started detached by `isollm queue start`):
//   node lib/queue/main.ts <project-root> <port> [--hub DIR --project NAME --prefix P --base BRANCH] [--notify JSON-ARGV] [--tls HOST:PORT]
// --tls: also listen for remote workers over HTTPS, with the certificate in .isollm/tls/.
// Logs to stderr (the daemon points it at .isollm/queue.log); SIGTERM/SIGINT close it cleanly.
import fs from 'node:fs';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { hubTaskStarts } from '../hub/task-start.ts';
import { statePaths } from '../project/root.ts';
import { createNotifier } from './notify.ts';
import type { Admin } from './routes.ts';
import { startServer } from './server.ts';
import { tlsFiles } from './credentials.ts';
import { parseHostPort } from '../config/schema.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { hub: { type: 'string' }, project: { type: 'string' }, prefix: { type: 'string' }, base: { type: 'string' }, notify: { type: 'string' }, tls: { type: 'string' } },
});
const [root, portArg] = positionals;
if (!root || !/^\d+$/.test(portArg ?? '')) {
  process.stderr.write('usage: node lib/queue/main.ts <project-root> <port> [--hub DIR --project NAME --prefix P --base BRANCH] [--notify JSON-ARGV]\n');
  process.exit(2);
}
const { hub: hubDir, project, prefix, base } = values;
const hub = hubDir && project && prefix && base ? { dir: hubDir, project, prefix, base } : undefined;
// Files we create (sockets, db) are the owner's only.
process.umask(0o077);
const paths = statePaths(root);
const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

// notify.command, as the daemon passed it (a JSON argv): run for each event.
let notifyCommand: string[] | null = null;
if (values.notify) {
  try {
    const argv: unknown = JSON.parse(values.notify);
    if (Array.isArray(argv) && argv.length && argv.every((a) => typeof a === 'string')) notifyCommand = argv;
    else throw new Error('not a list of strings');
  } catch (err) {
    log(`--notify ignored (${(err as Error).message}): no notifications`);
  }
}
const notify = createNotifier(notifyCommand, log);

try {
  // Task branches start on the host side, from the hub the command that started us named.
  const prepareStart: Admin['prepareStart'] = hub ? hubTaskStarts({ project: hub.project, hub: hub.dir, base: hub.base, prefix: hub.prefix }, log) : undefined;
  const tlsAt = values.tls ? parseHostPort(values.tls) : undefined;
  if (values.tls && !tlsAt) throw new Error(`--tls ${values.tls}: not HOST:PORT`);
  const files = tlsFiles(paths.dir);
  const tls = tlsAt ? { host: tlsAt.host ?? '0.0.0.0', port: tlsAt.port, cert: fs.readFileSync(files.cert, 'utf8'), key: fs.readFileSync(files.key, 'utf8') } : undefined;
  const server = await startServer({
    tls,
    dbFile: paths.queueDb,
    port: Number(portArg),
    socketsDir: paths.sockets,
    log,
    hub,
    prepareStart,
    project: project ?? null,
    emit: (event) => {
      log(`event ${event.event}: ${event.summary}`);
      notify(event);
    },
  });
  log(`queue server pid ${process.pid} ready (db ${paths.queueDb})`);
  const stop = (signal: string) => {
    log(`${signal}: closing`);
    void server.close().then(() => {
      // Remove the pid file only if it is still ours.
      try {
        if (fs.readFileSync(paths.queuePid, 'utf8').trim() === String(process.pid)) fs.rmSync(paths.queuePid);
      } catch {
        // no pid file: nothing to clean
      }
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
} catch (err) {
  log(`cannot start: ${(err as Error).message}`);
  process.exit(1);
}
