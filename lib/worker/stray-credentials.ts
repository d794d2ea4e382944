// Remote workers' credentials that belong to no worker: the base's own (issued for its clone of the
// hub) when its build could not revoke it or was killed, or a worker's whose container is gone. A
// credential is a way into the hub and the queue: `up` revokes these (under the base lock, so no
// build or `worker add` is issuing one at the same time).
import type { QueueClient } from '../queue/client.ts';

/** The credentials of names that are not among `workers`. */
export function strayCredentials(credentials: string[], workers: string[]): string[] {
  const known = new Set(workers);
  return credentials.filter((name) => !known.has(name));
}

/** Revoke every credential of a name that is not one of `workers` (the project's, whatever their state). Their names. */
export async function revokeStrayCredentials(client: Pick<QueueClient, 'listCredentials' | 'removeCredential'>, workers: string[]): Promise<string[]> {
  const stray = strayCredentials((await client.listCredentials()).map((c) => c.worker), workers);
  for (const name of stray) await client.removeCredential(name);
  return stray;
}
