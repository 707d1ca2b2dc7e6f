// Loads the configuration: the embedded default (config/default.yaml), with a
// named profile or a user file layered over it, then checked against the schema.
// A bad file fails with the key, the value and the file named.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { parse } from 'yaml';
import { configSchema, type Config } from './schema.js';

/** The folder that holds default.yaml and the named profiles. */
export const CONFIG_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../config');

/** What the operator can fix in a configuration; `key` names the setting when the problem shows only after loading (a folder, a certificate). */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly key?: string,
  ) {
    super(message);
  }
}

type Tree = { [key: string]: unknown };

/** Resolved settings: the validated file plus what "auto" values became. */
export interface Settings extends Config {
  shardCount: number;
  /** Threads serving client connections (`client.io_threads` resolved); 1 is the main thread itself. */
  ioThreadCount: number;
  /** The files the settings came from, most specific last. */
  sources: string[];
}

export interface LoadOptions {
  /** A path to a YAML file. */
  file?: string;
  /** A profile name: config/NAME.yaml. */
  profile?: string;
  /** Values layered over everything else (tests use this for ports and folders). */
  overrides?: Tree;
}

const DEFAULT_FILE = resolve(CONFIG_DIR, 'default.yaml');
/** default.yaml, read once per process: it ships with the code, and a reload reads only the operator's files again. */
let defaultTree: Tree | undefined;

export function loadConfig(options: LoadOptions = {}): Settings {
  const sources = [DEFAULT_FILE];
  defaultTree ??= readYaml(DEFAULT_FILE);
  let tree = defaultTree;
  if (options.profile !== undefined) {
    if (!/^[\w-]+$/.test(options.profile)) throw new ConfigError(`Unknown profile "${options.profile}"`);
    const file = resolve(CONFIG_DIR, options.profile + '.yaml');
    sources.push(file);
    tree = merge(tree, readYaml(file), file);
  }
  if (options.file !== undefined) {
    const file = resolve(options.file);
    sources.push(file);
    tree = merge(tree, readYaml(file), file);
  }
  if (options.overrides) tree = merge(tree, options.overrides, 'overrides');
  const result = configSchema.safeParse(tree);
  if (!result.success) {
    const issue = result.error.issues[0];
    const key = issue.path.join('.') || '(top level)';
    const value = issue.path.reduce<unknown>((node, part) => (node as Tree | undefined)?.[part as string], tree);
    const file = sources[sources.length - 1];
    const shown = value === undefined ? '' : ` (value ${JSON.stringify(value)})`;
    const name = issue.code === 'unrecognized_keys' ? `unknown key ${issue.keys.join(', ')} in ${key}` : `key ${key}${shown}`;
    throw new ConfigError(`Invalid configuration in ${file}: ${name}: ${issue.message}`);
  }
  const config = result.data;
  const shardCount = config.muc.shards === 'auto' ? Math.max(1, availableParallelism() - 1) : config.muc.shards;
  // WebSocket connections are accepted on the main thread, which then serves every client.
  const ioThreads = config.websocket.enabled ? 1 : ioThreadCount(config.client.io_threads);
  return { ...config, shardCount, ioThreadCount: ioThreads, sources };
}

/**
 * The error with the file that set its key named, for an error found after
 * loading (an unusable data folder, an unreadable certificate): the most
 * specific source that has the key, re-read only on this error path.
 */
export function namingFile(err: unknown, settings: Settings): unknown {
  if (!(err instanceof ConfigError) || err.key === undefined) return err;
  const path = err.key.split('.');
  const file = [...settings.sources].reverse().find((source) => {
    const tree = source === DEFAULT_FILE ? defaultTree : readYaml(source);
    return path.reduce<unknown>((node, part) => (isTree(node) ? node[part] : undefined), tree) !== undefined;
  });
  return file === undefined ? err : new ConfigError(`${err.message} (${err.key} is set in ${file})`);
}

/**
 * I/O threads share the port through SO_REUSEPORT, which `net` offers from
 * Node 22.12 (and 23.1); a worker thread cannot be handed an accepted socket,
 * so older Nodes serve clients on the main thread, whatever the setting.
 */
export const REUSE_PORT_SUPPORTED = ((major, minor) => major > 22 || (major === 22 && minor >= 12))(
  ...(process.versions.node.split('.').map(Number) as [number, number]),
);

function ioThreadCount(setting: Config['client']['io_threads']): number {
  if (!REUSE_PORT_SUPPORTED) return 1;
  if (setting !== 'auto') return setting;
  const cores = availableParallelism();
  return cores <= 2 ? 1 : Math.floor(cores / 2);
}

function readYaml(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`Cannot read configuration file ${file}: ${(err as Error).message}`);
  }
  let tree: unknown;
  try {
    tree = parse(text);
  } catch (err) {
    throw new ConfigError(`Invalid YAML in ${file}: ${(err as Error).message}`);
  }
  if (tree === null || tree === undefined) return {};
  if (typeof tree !== 'object' || Array.isArray(tree)) {
    throw new ConfigError(`Invalid configuration in ${file}: the top level must be a mapping of keys`);
  }
  return tree as Tree;
}

/** Layers `over` onto `base`; mappings merge key by key, anything else replaces. */
function merge(base: Tree, over: Tree, file: string): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    if (isTree(value) && isTree(current)) out[key] = merge(current, value, file);
    else if (isTree(current) && value !== null && !isTree(value)) {
      throw new ConfigError(`Invalid configuration in ${file}: key ${key} must be a mapping, not ${JSON.stringify(value)}`);
    } else out[key] = value;
  }
  return out;
}

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
