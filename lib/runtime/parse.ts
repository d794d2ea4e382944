// Pure parsers of the clients' JSON (`list --format json`, `query /1.0/...`), tested on captured output.
import { PROJECT_KEY, WORKER_KEY } from './argv.ts';

/**
 * A JSON list from a client. Incus prints nothing (not `[]`) for an empty collection, e.g. `incus
 * query /1.0/storage-pools` before any pool exists, where LXD prints `[]`; `null` counts as empty too.
 */
export function parseList<T>(text: string): T[] {
  if (text.trim() === '') return [];
  const value = JSON.parse(text) as T[] | null;
  if (value === null) return [];
  if (!Array.isArray(value)) throw new Error(`expected a JSON list, got ${typeof value}`);
  return value;
}

export type InstanceStatus = 'Running' | 'Stopped' | 'Frozen' | 'Error' | string;

export type Instance = {
  name: string;
  status: InstanceStatus;
  project: string | null;
  worker: string | null;
  /** First global IPv4 address, or null (no network, or not running). */
  ipv4: string | null;
  createdAt: Date | null;
  image: string | null;
  config: Record<string, string>;
  devices: Record<string, Record<string, string>>;
  /** The cluster member it runs on (`none` or empty off a cluster → null). */
  location: string | null;
  /** Its profiles, in order (null when the listing did not say). */
  profiles: string[] | null;
};

type RawInstance = {
  name: string;
  location?: string;
  status: string;
  created_at?: string;
  config?: Record<string, string>;
  profiles?: string[];
  expanded_devices?: Record<string, Record<string, string>>;
  devices?: Record<string, Record<string, string>>;
  state?: { network?: Record<string, { addresses?: { family: string; address: string; scope: string }[] }> | null } | null;
};

export function parseInstance(raw: RawInstance): Instance {
  const config = raw.config ?? {};
  let ipv4: string | null = null;
  for (const [iface, net] of Object.entries(raw.state?.network ?? {})) {
    if (iface === 'lo') continue;
    const addr = net.addresses?.find((a) => a.family === 'inet' && a.scope === 'global');
    if (addr) {
      ipv4 = addr.address;
      break;
    }
  }
  const created = raw.created_at ? new Date(raw.created_at) : null;
  return {
    name: raw.name,
    status: raw.status,
    project: config[PROJECT_KEY] ?? null,
    worker: config[WORKER_KEY] ?? null,
    ipv4,
    createdAt: created && !Number.isNaN(created.getTime()) ? created : null,
    image: config['image.description'] ?? config['volatile.base_image'] ?? null,
    config,
    devices: raw.devices ?? {},
    location: raw.location && raw.location !== 'none' ? raw.location : null,
    profiles: Array.isArray(raw.profiles) ? raw.profiles : null,
  };
}

/** `list --format json` → instances; filtered by project tag again (the client filter is a prefix match on some versions). */
export function parseInstanceList(json: string, project?: string): Instance[] {
  const raw = parseList<RawInstance>(json);
  return raw.map(parseInstance).filter((i) => project === undefined || i.project === project);
}

export type Snapshot = { name: string; createdAt: Date | null; stateful: boolean };

/** `query /1.0/instances/N/snapshots?recursion=1` → snapshots (names without the `N/` prefix). */
export function parseSnapshots(json: string): Snapshot[] {
  const raw = parseList<{ name: string; created_at?: string; stateful?: boolean }>(json);
  return raw.map((s) => ({
    name: s.name.includes('/') ? s.name.slice(s.name.lastIndexOf('/') + 1) : s.name,
    createdAt: s.created_at ? new Date(s.created_at) : null,
    stateful: Boolean(s.stateful),
  }));
}

export type Image = {
  fingerprint: string;
  aliases: string[];
  description: string;
  /** Alias on the server it was cached from (e.g. `debian/12` from `images:`), or null for a local image. */
  sourceAlias: string | null;
  sizeBytes: number;
};

/** `query /1.0/images?recursion=1` or `image list --format json` → images. */
export function parseImages(json: string): Image[] {
  const raw = parseList<{
    fingerprint: string;
    aliases?: { name: string }[] | null;
    properties?: Record<string, string>;
    update_source?: { alias?: string } | null;
    size?: number;
  }>(json);
  return raw.map((i) => ({
    fingerprint: i.fingerprint,
    aliases: (i.aliases ?? []).map((a) => a.name),
    description: i.properties?.description ?? '',
    sourceAlias: i.update_source?.alias ?? null,
    sizeBytes: i.size ?? 0,
  }));
}

export type ImageRef = { remote: string | null; alias: string };

/** `images:debian/12` → { remote: 'images', alias: 'debian/12' }; `isollm-test` → { remote: null, … }. */
export function parseImageRef(ref: string): ImageRef {
  const colon = ref.indexOf(':');
  // A colon after a slash is part of the name, not a remote (remotes have no slash).
  if (colon > 0 && !ref.slice(0, colon).includes('/')) return { remote: ref.slice(0, colon), alias: ref.slice(colon + 1) };
  return { remote: null, alias: ref };
}

/** The local image that `ref` names: a local alias, or a copy cached from its remote. */
export function findImage(images: Image[], ref: string): Image | null {
  const { remote, alias } = parseImageRef(ref);
  return (
    images.find((i) => i.aliases.includes(alias) || i.fingerprint === alias || (alias.length >= 12 && i.fingerprint.startsWith(alias))) ??
    (remote ? images.find((i) => i.sourceAlias === alias) : undefined) ??
    null
  );
}

/** `query /1.0/storage-pools` → pool names (the API lists URLs). */
export function parseStoragePools(json: string): string[] {
  const raw = parseList<string>(json);
  return raw.map((url) => decodeURIComponent(url.slice(url.lastIndexOf('/') + 1)));
}

export type Network = { name: string; managed: boolean; type: string; ipv4: string | null };

/** `query /1.0/networks?recursion=1` → networks, with a managed bridge's IPv4 address (`10.1.2.1/24`). */
export function parseNetworks(json: string): Network[] {
  const raw = parseList<{ name: string; managed: boolean; type: string; config?: Record<string, string> | null }>(json);
  const ipv4 = (a?: string) => (a && a !== 'none' ? a : null);
  return raw.map((n) => ({ name: n.name, managed: n.managed, type: n.type, ipv4: ipv4(n.config?.['ipv4.address']) }));
}
