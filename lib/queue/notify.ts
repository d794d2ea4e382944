// `notify.command`: the user's program, run on the host for each event with the event as JSON on
// stdin and its one-line summary as the last argument. An argv, never a shell string. It must not
// hold up the queue: it runs apart from the request, and is killed if it takes too long. One at a
// time, in the order of the events, so "task done" never arrives after "all work finished".
import { spawn } from 'node:child_process';
import type { QueueEvent } from './events.ts';

export const NOTIFY_TIMEOUT_MS = 30_000;

export type Notifier = {
  (event: QueueEvent): void;
  /** Resolves when every notification started so far has ended (tests, a clean stop). */
  idle(): Promise<void>;
};

export function createNotifier(argv: string[] | null, log: (line: string) => void = () => {}, timeoutMs = NOTIFY_TIMEOUT_MS): Notifier {
  let tail: Promise<void> = Promise.resolve();
  const run = (event: QueueEvent, argv: string[]) =>
    new Promise<void>((resolve) => {
      let child;
      try {
        child = spawn(argv[0], [...argv.slice(1), event.summary], { stdio: ['pipe', 'ignore', 'pipe'] });
      } catch (err) {
        log(`notify.command ${argv[0]}: ${(err as Error).message}`);
        return resolve();
      }
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-500)));
      child.on('error', (err) => log(`notify.command ${argv[0]}: ${err.message}`));
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code !== 0) log(`notify.command ${argv[0]} for ${event.event} exited ${code ?? signal}${stderr.trim() ? `: ${stderr.trim().split('\n').at(-1)}` : ''}`);
        resolve();
      });
      child.stdin.on('error', () => {}); // a program that does not read stdin is fine
      child.stdin.end(JSON.stringify(event) + '\n');
    });
  const notify = ((event: QueueEvent) => {
    if (!argv || argv.length === 0) return;
    tail = tail.then(() => run(event, argv));
  }) as Notifier;
  notify.idle = () => tail;
  return notify;
}
