// `isollm config show`: the resolved configuration as YAML, with the keys that came from the
// defaults marked, and secrets redacted.
import { Document, isMap, isScalar, type Pair } from 'yaml';
import { redactConfig, type ResolvedConfig } from './load.ts';

export const DEFAULT_MARK = '(default)';

/** YAML text of the resolved config; every key not set in isollm.yaml ends with `# (default)`. */
export function formatResolvedConfig({ config, explicit }: ResolvedConfig): string {
  const doc = new Document(redactConfig(config));
  const mark = (map: unknown, prefix: string) => {
    if (!isMap(map)) return;
    for (const pair of map.items as Pair[]) {
      const keyPath = prefix + String(isScalar(pair.key) ? pair.key.value : pair.key);
      const value = pair.value as { comment?: string | null; flow?: boolean; items?: unknown } | null;
      if (isMap(value)) {
        mark(value, `${keyPath}.`);
        continue;
      }
      if (value && Array.isArray(value.items)) value.flow = true;
      if (value && !explicit.has(keyPath)) value.comment = ` ${DEFAULT_MARK}`;
    }
  };
  mark(doc.contents, '');
  return doc.toString({ flowCollectionPadding: false, lineWidth: 0 });
}
