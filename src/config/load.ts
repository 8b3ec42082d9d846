import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configSchema, type Config, type ConfigInput } from './schema';

/** A configuration problem: the process prints the message on one line and exits with code 2. */
export class ConfigError extends Error {}

/** Environment variables of API.md and the config key each one overrides. */
export const envOverrides: Record<string, string[]> = {
  WHARF_LISTEN: ['listen'],
  WHARF_PUBLIC_URL: ['publicUrl'],
  WHARF_DATA_DIR: ['dataDir'],
  WHARF_REGISTRY_URL: ['registry', 'url'],
  WHARF_REGISTRY_MANAGE: ['registry', 'manage'],
  WHARF_REGISTRY_LISTEN: ['registry', 'listen'],
  WHARF_REGISTRY_STORAGE: ['registry', 'storage'],
  WHARF_REGISTRY_NOTIFY_LISTEN: ['registry', 'notifyListen'],
  WHARF_ADMIN_PASSWORD: ['admin', 'password'],
  WHARF_LOG_LEVEL: ['log', 'level'],
  WHARF_LOG_FILE: ['log', 'file'],
  WHARF_LOG_ACCESS: ['log', 'access'],
  WHARF_WEBHOOKS_ALLOW_PRIVATE: ['webhooks', 'allowPrivateTargets'],
  WHARF_AUDIT_FORWARD_URL: ['audit', 'forward', 'url'],
  WHARF_METRICS_TOKEN: ['metrics', 'token'],
  WHARF_TRUST_PROXY: ['trustProxy'],
  WHARF_DATABASE_URL: ['database', 'url'],
  WHARF_JOBS_WORKERS: ['jobs', 'workers'],
  WHARF_JOBS_LEASE_MS: ['jobs', 'leaseMs'],
  WHARF_JOBS_POLL_MS: ['jobs', 'pollMs'],
};

function setPath(target: Record<string, unknown>, keys: string[], value: unknown): void {
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null) node[key] = {};
    // A section that is not a mapping stays as it is, so validation reports it.
    else if (typeof next !== 'object' || Array.isArray(next)) return;
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

/** Builds the configuration from an object (tests, or the parsed YAML) plus environment overrides. */
export function resolveConfig(input: ConfigInput | Record<string, unknown>, env: NodeJS.ProcessEnv = {}, source = 'config'): Config {
  const raw = structuredClone(input) as Record<string, unknown>;
  const origin = new Map<string, string>();
  for (const [name, keys] of Object.entries(envOverrides)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    setPath(raw, keys, value);
    origin.set(keys.join('.'), name);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.join('.') || '(root)';
    const from = origin.get(key) ? ` (from ${origin.get(key)})` : ` (in ${source})`;
    throw new ConfigError(`invalid configuration: ${key}: ${describeIssue(issue)}${from}`);
  }
  const config = parsed.data;
  config.dataDir = path.resolve(config.dataDir);
  if (config.registry.storage === '') config.registry.storage = path.join(config.dataDir, 'registry');
  config.registry.storage = path.resolve(config.registry.storage);
  return config;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
  return issue.message;
}

/** Reads WHARF_CONFIG (default config/wharf.yaml) and applies WHARF_* overrides. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const file = env.WHARF_CONFIG || 'config/wharf.yaml';
  let fromFile: unknown = {};
  if (existsSync(file)) {
    try {
      fromFile = parseYaml(readFileSync(file, 'utf8')) ?? {};
    } catch (err) {
      throw new ConfigError(`invalid configuration: ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    if (typeof fromFile !== 'object' || Array.isArray(fromFile)) throw new ConfigError(`invalid configuration: ${file} must hold a mapping`);
  } else if (env.WHARF_CONFIG) {
    throw new ConfigError(`invalid configuration: WHARF_CONFIG names ${file}, which does not exist`);
  }
  return resolveConfig(fromFile as Record<string, unknown>, env, file);
}
