// Loopback helpers shared by tests and benches (no vitest import, so benches can use them).
import net from 'node:net';

/** A TCP port that was free a moment ago (for isollm.yaml queue.port, or a server under test). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The p-th percentile of an ascending array. */
export const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
