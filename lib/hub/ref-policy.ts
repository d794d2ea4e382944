// What a worker may write in the hub, decided in one place for every worker (local over its socket,
// remote over its credential): create or fast-forward `<prefix><task>` for a task it holds or has
// held, and its own salvage branches `<prefix>salvage/<worker>-…`. Never the base branch, never
// another ref namespace, never a delete. Fast-forward itself is enforced by git (receive.*
// settings given to receive-pack for worker pushes), since only git knows the pushed objects.

export const ZERO_OID = /^0+$/;

/** What follows `salvage/<worker>-` in a salvage branch (salvageBranch in lib/worker/salvage-report.ts). */
const SALVAGE_STAMP = /^\d{8}-\d{6}(-|$)/;

export type RefUpdate = { old: string; new: string; ref: string };

export type RefPolicy = {
  worker: string;
  /** Task branch prefix, e.g. `isollm/`. */
  prefix: string;
  base: string;
  /** Whether `worker` holds or has held the task. */
  held: (taskId: string) => boolean;
};

/** Why `update` is refused, or null when the worker may make it. */
export function refusal(update: RefUpdate, policy: RefPolicy): string | null {
  const { prefix, base, worker } = policy;
  if (!update.ref.startsWith('refs/heads/')) return 'workers may push only branches';
  const branch = update.ref.slice('refs/heads/'.length);
  if (branch === base) return `the base branch ${base} moves only by \`isollm land\` or \`isollm sync push\``;
  if (ZERO_OID.test(update.new)) return 'workers may not delete branches';
  if (!branch.startsWith(prefix) || branch.length === prefix.length) return `workers may push only task branches (${prefix}<task>)`;
  const name = branch.slice(prefix.length);
  if (name.startsWith('salvage/')) {
    // The stamp right after the name: worker `web` must not reach `salvage/web-api-…`, web-api's.
    const own = `salvage/${worker}-`;
    return name.startsWith(own) && SALVAGE_STAMP.test(name.slice(own.length)) ? null : `salvage branches of ${worker} are ${prefix}salvage/${worker}-<YYYYMMDD-HHMMSS>…`;
  }
  if (name.includes('/')) return `workers may push only task branches (${prefix}<task>)`;
  return policy.held(name) ? null : `${worker} has never held task ${name}`;
}

/** Refusals by ref for a whole push; empty when every update is allowed. */
export function refusals(updates: RefUpdate[], policy: RefPolicy): Map<string, string> {
  const out = new Map<string, string>();
  for (const u of updates) {
    const why = refusal(u, policy);
    if (why) out.set(u.ref, why);
  }
  return out;
}
