import { chmodSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, parseDocument } from 'yaml';
import type { Config } from '../config/schema';
import { randomSecret } from '../identity/passwords';
import { packageFile } from '../package-files';
import { writeSecretFile } from '../token/keys';

export const templatePath = packageFile('registry-config.yml');

/** A secret kept in the data directory (0600), created on first use. */
export function instanceSecret(dataDir: string, name: string): string {
  const file = path.join(dataDir, name);
  if (existsSync(file)) {
    chmodSync(file, 0o600);
    return readFileSync(file, 'utf8').trim();
  }
  const secret = randomSecret(32);
  writeSecretFile(file, secret + '\n');
  return secret;
}

/**
 * The loopback listener for notifications, if this instance has one: when Wharf serves TLS and no
 * notifyUrl is set, the registry posts over plain HTTP on loopback instead of having to trust
 * Wharf's certificate for 127.0.0.1. Port 0 means an ephemeral port, chosen at start.
 */
export function notificationListener(config: Config): { host: string; port: number } | null {
  if (!config.tls.certFile || config.registry.notifyUrl) return null;
  if (config.registry.notifyListen) {
    const at = config.registry.notifyListen.lastIndexOf(':');
    return { host: config.registry.notifyListen.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(config.registry.notifyListen.slice(at + 1)) };
  }
  return config.registry.manage === 'false' ? null : { host: '127.0.0.1', port: 0 };
}

/** The URL the registry uses to post notifications to Wharf; `loopbackPort` is the bound port of the loopback listener. */
export function notificationUrl(config: Config, loopbackPort?: number): string {
  if (config.registry.notifyUrl) return config.registry.notifyUrl;
  const loopback = notificationListener(config);
  const port = loopbackPort ?? loopback?.port;
  if (loopback && port) return `http://${loopback.host.includes(':') ? `[${loopback.host}]` : loopback.host}:${port}/service/notifications`;
  const at = config.listen.lastIndexOf(':');
  let host = config.listen.slice(0, at);
  if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
  if (host === '[::]' || host === '::') host = '[::1]';
  const scheme = config.tls.certFile ? 'https' : 'http';
  return `${scheme}://${host}:${config.listen.slice(at + 1)}/service/notifications`;
}

/** Fills the registry-config.yml template in for this instance; comments of the template are kept. */
export function renderRegistryConfig(
  config: Config,
  opts: { certFile: string; notificationSecret: string; httpSecret: string; loopbackPort?: number | undefined },
): string {
  const template = readFileSync(config.registry.template || templatePath, 'utf8');
  const doc = parseDocument(template);
  doc.setIn(['storage', 'filesystem', 'rootdirectory'], config.registry.storage);
  doc.setIn(['storage', 'delete', 'enabled'], true);
  // No blob-descriptor cache, also when an operator's own template has one: the registry keeps a
  // collected blob's descriptor in it, so after delete → garbage collection → push again it skips
  // the upload as "already there" and the next pull fails on the missing blob.
  if (doc.hasIn(['storage', 'cache', 'blobdescriptor'])) doc.deleteIn(['storage', 'cache', 'blobdescriptor']);
  const cache = doc.getIn(['storage', 'cache']);
  if (isMap(cache) && cache.items.length === 0) doc.deleteIn(['storage', 'cache']);
  doc.setIn(['http', 'addr'], config.registry.listen);
  doc.setIn(['http', 'secret'], opts.httpSecret);
  if (config.registry.tls.certFile) {
    doc.setIn(['http', 'tls', 'certificate'], path.resolve(config.registry.tls.certFile));
    doc.setIn(['http', 'tls', 'key'], path.resolve(config.registry.tls.keyFile));
  }
  doc.setIn(['auth', 'token', 'realm'], `${config.publicUrl}/service/token`);
  doc.setIn(['auth', 'token', 'service'], config.token.service);
  doc.setIn(['auth', 'token', 'issuer'], config.token.issuer);
  doc.setIn(['auth', 'token', 'rootcertbundle'], opts.certFile);
  doc.setIn(['notifications', 'endpoints', 0, 'name'], 'wharf');
  doc.setIn(['notifications', 'endpoints', 0, 'url'], notificationUrl(config, opts.loopbackPort));
  doc.setIn(['notifications', 'endpoints', 0, 'headers', 'Authorization'], doc.createNode([`Bearer ${opts.notificationSecret}`]));
  return doc.toString();
}

/**
 * Writes $WHARF_DATA_DIR/registry-config.yml (0600: it holds the notification secret) when its
 * content changed; `changed` says whether it did, so a supervised registry is restarted only then.
 */
export function writeRegistryConfig(
  config: Config,
  opts: { bundleFile: string; notificationSecret: string; loopbackPort?: number | undefined },
): { file: string; httpSecret: string; changed: boolean } {
  const httpSecret = instanceSecret(config.dataDir, 'registry-http-secret');
  const file = path.join(config.dataDir, 'registry-config.yml');
  const content = renderRegistryConfig(config, { certFile: opts.bundleFile, notificationSecret: opts.notificationSecret, httpSecret, loopbackPort: opts.loopbackPort });
  const changed = !existsSync(file) || readFileSync(file, 'utf8') !== content;
  if (changed) writeSecretFile(file, content);
  else chmodSync(file, 0o600);
  return { file, httpSecret, changed };
}
