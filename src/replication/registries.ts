import { X509Certificate } from 'node:crypto';
import { isoTime } from '../clock';
import type { Ctx } from '../context';
import type { Deps } from '../deps';
import { transaction } from '../db/transaction';
import { badRequest, conflict, notFound } from '../errors';
import { recordAudit } from '../audit/record';
import { assertSystemAdmin } from '../identity/principal';
import { isValidProjectName, PROJECT_NAME_MAX } from '../access/roles';
import { pemCertificates } from '../token/keys';
import { RemoteRegistry, type PingResult, type RegistryEndpoint } from './remote';
import { changeRegistry, deleteRegistryRow, insertRegistry, policiesUsingRegistry, registryByName, registryRows, type RegistryRow } from './store';

export const REGISTRY_KINDS = ['distribution', 'wharf', 'harbor'] as const;
export type RegistryKind = (typeof REGISTRY_KINDS)[number];
export const REGISTRY_USERNAME_MAX = 255;
export const REGISTRY_PASSWORD_MAX = 4096;
export const REGISTRY_CA_MAX = 65_536;

export interface RegistryInput {
  name: string;
  url: string;
  kind: RegistryKind;
  username?: string | null;
  /** An empty string clears the stored password. */
  password?: string | null;
  caPem?: string | null;
  insecure?: boolean;
  description?: string | null;
}

export interface RegistryView {
  name: string;
  url: string;
  kind: RegistryKind;
  username: string | null;
  hasPassword: boolean;
  insecure: boolean;
  caPem: string | null;
  description: string | null;
  createdAt: string;
  updatedAt: string;
  createdBy: string | null;
}

export function registryView(r: RegistryRow): RegistryView {
  return {
    name: r.name,
    url: r.url,
    kind: r.kind,
    username: r.username,
    hasPassword: r.passwordSealed !== null,
    insecure: r.insecure,
    caPem: r.caPem,
    description: r.description,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    createdBy: r.createdBy,
  };
}

/** http(s), a host, no user, query or fragment; trailing slashes trimmed. */
export function normalRegistryUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw badRequest('registry.badUrl');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname || url.username || url.password || raw.includes('?') || raw.includes('#'))
    throw badRequest('registry.badUrl');
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/** One or more PEM certificates, each parsing, and nothing else in the bundle. */
function checkedCaPem(pem: string | null | undefined): string | null | undefined {
  if (pem === undefined || pem === null) return pem;
  if (pem.trim() === '') return null;
  const certs = pemCertificates(pem);
  const rest = pem.replace(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g, '').trim();
  if (pem.length > REGISTRY_CA_MAX || certs.length === 0 || rest !== '') throw badRequest('registry.badCa');
  for (const cert of certs) {
    try {
      new X509Certificate(cert);
    } catch {
      throw badRequest('registry.badCa');
    }
  }
  return pem;
}

function checkedCredentials(input: Pick<RegistryInput, 'username' | 'password'>): void {
  if (input.username && (input.username.length > REGISTRY_USERNAME_MAX || input.username.includes(':') || /[\u0000-\u001f\u007f]/.test(input.username)))
    throw badRequest('registry.badUsername', { max: REGISTRY_USERNAME_MAX });
  if (input.password && input.password.length > REGISTRY_PASSWORD_MAX) throw badRequest('registry.badPassword', { max: REGISTRY_PASSWORD_MAX });
}

/** What the audit row says of a change: never the password, only whether there is one. */
const auditDetail = (r: RegistryRow, changed: string[]) =>
  JSON.stringify({ url: r.url, kind: r.kind, username: r.username, hasPassword: r.passwordSealed !== null, insecure: r.insecure, caPem: r.caPem !== null, changed });

export function createRegistry(ctx: Ctx, input: RegistryInput): Promise<RegistryView> {
  const { principal, actor } = ctx;
  assertSystemAdmin(principal);
  if (!isValidProjectName(input.name)) throw badRequest('registry.badName', { max: PROJECT_NAME_MAX });
  const url = normalRegistryUrl(input.url);
  const caPem = checkedCaPem(input.caPem) ?? null;
  checkedCredentials(input);
  const passwordSealed = input.password ? ctx.deps.secretBox.seal(input.password, input.name) : null;
  return transaction(ctx.db, async (tx) => {
    if (await registryByName(tx, input.name)) throw conflict('registry.exists', { name: input.name });
    const row = await insertRegistry(tx, {
      name: input.name,
      url,
      kind: input.kind,
      username: input.username || null,
      passwordSealed,
      caPem,
      insecure: input.insecure ?? false,
      description: input.description ?? null,
      createdBy: actor.username,
    });
    await recordAudit(tx, {
      username: actor.username,
      action: 'registry_create',
      resourceType: 'registry',
      resource: row.name,
      sourceIp: actor.ip,
      detail: auditDetail(row, []),
    });
    return registryView(row);
  });
}

export function updateRegistry(ctx: Ctx, name: string, patch: Partial<RegistryInput>): Promise<RegistryView> {
  const { principal, actor } = ctx;
  assertSystemAdmin(principal);
  if (patch.name !== undefined && patch.name !== name) throw badRequest('registry.nameFixed');
  const url = patch.url === undefined ? undefined : normalRegistryUrl(patch.url);
  const caPem = checkedCaPem(patch.caPem);
  checkedCredentials(patch);
  return transaction(ctx.db, async (tx) => {
    const row = await registryByName(tx, name);
    if (!row) throw notFound('registry.notFound', { name });
    const values: Parameters<typeof changeRegistry>[2] = { updatedAt: isoTime(ctx.clock.now()) };
    if (url !== undefined) values.url = url;
    if (patch.kind !== undefined) values.kind = patch.kind;
    if (patch.username !== undefined) values.username = patch.username || null;
    if (patch.password !== undefined) values.passwordSealed = patch.password ? ctx.deps.secretBox.seal(patch.password, row.name) : null;
    if (caPem !== undefined) values.caPem = caPem;
    if (patch.insecure !== undefined) values.insecure = patch.insecure;
    if (patch.description !== undefined) values.description = patch.description;
    const updated = await changeRegistry(tx, row.id, values);
    await recordAudit(tx, {
      username: actor.username,
      action: 'registry_update',
      resourceType: 'registry',
      resource: row.name,
      sourceIp: actor.ip,
      detail: auditDetail(updated, Object.keys(patch).filter((k) => patch[k as keyof RegistryInput] !== undefined).sort()),
    });
    return registryView(updated);
  });
}

export async function deleteRegistry(ctx: Ctx, name: string): Promise<void> {
  const { principal, actor } = ctx;
  assertSystemAdmin(principal);
  await transaction(ctx.db, async (tx) => {
    const row = await registryByName(tx, name);
    if (!row) throw notFound('registry.notFound', { name });
    const policies = await policiesUsingRegistry(tx, row.id);
    if (policies.length > 0) throw conflict('registry.inUse', { name, policies: policies.join(', ') });
    await deleteRegistryRow(tx, row.id);
    await recordAudit(tx, {
      username: actor.username,
      action: 'registry_delete',
      resourceType: 'registry',
      resource: row.name,
      sourceIp: actor.ip,
    });
  });
}

export async function listRegistries(ctx: Ctx): Promise<RegistryView[]> {
  assertSystemAdmin(ctx.principal);
  return (await registryRows(ctx.db)).map(registryView);
}

async function registryRow(ctx: Ctx, name: string): Promise<RegistryRow> {
  assertSystemAdmin(ctx.principal);
  const row = await registryByName(ctx.db, name);
  if (!row) throw notFound('registry.notFound', { name });
  return row;
}

export async function getRegistry(ctx: Ctx, name: string): Promise<RegistryView> {
  return registryView(await registryRow(ctx, name));
}

/** The row's endpoint with its password opened, for the copier; throws when the key file cannot open it. */
export function registryEndpoint(
  deps: Deps,
  row: { id: number; name: string; url: string; username: string | null; passwordSealed: string | null; caPem: string | null; insecure: boolean },
): RegistryEndpoint {
  let password: string | null = null;
  if (row.passwordSealed !== null) {
    try {
      password = deps.secretBox.open(row.passwordSealed, row.name);
    } catch {
      throw new Error(`the stored password of registry ${row.name} cannot be opened with this instance's replication.key; set the password again`);
    }
  }
  return { url: row.url, username: row.username, password, caPem: row.caPem, insecure: row.insecure };
}

/** Whether the registry answers and accepts the stored credentials, and which authentication it asked for. */
export async function pingRegistry(ctx: Ctx, name: string): Promise<PingResult> {
  const row = await registryRow(ctx, name);
  let endpoint: RegistryEndpoint;
  try {
    endpoint = registryEndpoint(ctx.deps, row);
  } catch (err) {
    return { ok: false, auth: 'none', error: (err as Error).message };
  }
  const remote = new RemoteRegistry(endpoint);
  try {
    return await remote.ping();
  } finally {
    await remote.close();
  }
}
