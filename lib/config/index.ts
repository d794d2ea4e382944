// lib/config — isollm.yaml: the schema with its defaults (schema), validation that reports every
// problem with its key path and line (validate), loading it once per command with ISOLLM_*
// overrides (load), and the views `isollm config` prints (view). Everything else takes a Config.
export * from './load.ts';
export * from './schema.ts';
export * from './validate.ts';
export * from './view.ts';
