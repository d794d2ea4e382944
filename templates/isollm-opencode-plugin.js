// isollm-state for opencode: written by isollm into ~/.config/opencode/plugin/ at every launch. It
// passes opencode's session and permission events, flattened, to `isollm-state hook opencode`, which
// reports this worker's agent state to the queue. A queue that does not answer never disturbs opencode.
import { spawn } from 'node:child_process';

const report = (fields) =>
  new Promise((resolve) => {
    try {
      const child = spawn('isollm-state', ['hook', 'opencode'], { stdio: ['pipe', 'ignore', 'ignore'] });
      child.on('error', () => resolve());
      child.on('close', () => resolve());
      child.stdin.on('error', () => {});
      child.stdin.end(JSON.stringify(fields));
    } catch {
      resolve();
    }
  });

const line = (v) => (typeof v === 'string' ? v.replace(/\s+/g, ' ').slice(0, 300) : '');

/** The event as flat string fields (isollm-state reads JSON without a parser). */
function flatten(event) {
  const p = event.properties ?? {};
  switch (event.type) {
    case 'session.status':
      return { hook_event_name: event.type, status: line(p.status?.type), message: line(p.status?.message) };
    case 'session.idle':
      return { hook_event_name: event.type };
    case 'permission.asked':
    case 'permission.updated':
      return { hook_event_name: 'permission.asked', tool_name: line(p.permission ?? p.type ?? p.title) };
    case 'permission.replied':
      return { hook_event_name: event.type };
    case 'question.asked':
      return { hook_event_name: event.type, message: line(p.questions?.[0]?.question ?? p.question) };
    case 'session.error':
      return { hook_event_name: event.type, message: line(p.error?.data?.message ?? p.error?.message ?? p.error?.name) };
    default:
      return null;
  }
}

// Reports go one after the other, in the order of the events (opencode calls its handlers without
// waiting for them, and a late `busy` must not land after the `idle` that followed it), only when
// what they say changed (opencode repeats `busy` many times a turn), and never hold opencode up.
let last = Promise.resolve();
let previous = '';

export const IsollmState = async () => ({
  event: async ({ event }) => {
    // ISOLLM_OPENCODE_EVENTS: a file that gets every event's type (to see what opencode sends).
    if (process.env.ISOLLM_OPENCODE_EVENTS) {
      const { appendFileSync } = await import('node:fs');
      try { appendFileSync(process.env.ISOLLM_OPENCODE_EVENTS, `${event.type} ${JSON.stringify(event.properties ?? {}).slice(0, 200)}\n`); } catch {}
    }
    const fields = flatten(event);
    if (!fields) return;
    const key = JSON.stringify(fields);
    if (key === previous) return;
    previous = key;
    last = last.then(() => report(fields));
  },
});
