import type { Clock } from '../clock';
import type { Db } from '../db/open';
import { recordAudit } from '../audit/record';
import { repositoryActions } from '../access/resolve';
import type { RepositoryAction } from '../access/roles';
import type { Principal } from '../identity/principal';
import { projectOf } from '../access/roles';
import type { SigningKey } from './keys';
import { signRegistryToken, type AccessEntry } from './issue';
import type { Scope } from './scope';
import { createRefreshToken } from './refresh';

export interface TokenServiceDeps {
  db: Db;
  clock: Clock;
  key: SigningKey;
  issuer: string;
  service: string;
  expiresIn: number;
  refreshTokenDays: number;
  defaultProject: string;
}

export interface TokenGrant {
  access: AccessEntry[];
  denied: { name: string; actions: string[] }[];
}

/**
 * The intersection of what was asked and what the principal may do. Asking for more is not an
 * error: the token carries the allowed subset, maybe nothing.
 */
export function grantAccess(deps: Pick<TokenServiceDeps, 'db' | 'defaultProject'>, principal: Principal, scopes: Scope[]): TokenGrant {
  const access: AccessEntry[] = [];
  const denied: TokenGrant['denied'] = [];
  const memo = new Map<string, RepositoryAction[]>();
  for (const scope of scopes) {
    if (scope.type === 'registry') {
      if (principal.admin) access.push({ type: 'registry', name: 'catalog', actions: ['*'] });
      else denied.push({ name: 'registry:catalog', actions: ['*'] });
      continue;
    }
    const allowed = repositoryActions(deps.db, principal, scope.name, deps.defaultProject, memo);
    const wanted = scope.actions.includes('*') ? ['pull', 'push', 'delete'] : scope.actions;
    const granted = allowed.filter((a) => wanted.includes(a));
    const refused = wanted.filter((a) => !granted.includes(a as RepositoryAction));
    access.push({ type: 'repository', name: scope.name, actions: granted });
    if (refused.length > 0 && !(scope.actions.includes('*') && granted.length > 0)) denied.push({ name: scope.name, actions: refused });
  }
  return { access, denied };
}

export interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  scope?: string;
  refresh_token?: string;
}

export interface IssueRequest {
  principal: Principal;
  scopes: Scope[];
  offline: boolean;
  clientId?: string;
  ip?: string | null;
  userAgent?: string | null;
  /** The credentials were just checked (not a refresh), so a scope-less request is a login. */
  login: boolean;
}

export async function issueToken(deps: TokenServiceDeps, req: IssueRequest): Promise<TokenResponse> {
  const { access: asked, denied } = grantAccess(deps, req.principal, req.scopes);
  const access = asked.filter((a) => a.actions.length > 0);
  const signed = await signRegistryToken(deps.key, {
    issuer: deps.issuer,
    service: deps.service,
    subject: req.principal.kind === 'user' ? req.principal.username : '',
    access,
    expiresIn: deps.expiresIn,
    nowMs: deps.clock.now(),
  });
  const response: TokenResponse = {
    token: signed.token,
    access_token: signed.token,
    expires_in: signed.expiresIn,
    issued_at: signed.issuedAt,
  };
  if (access.length > 0) response.scope = access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`).join(' ');
  if (req.offline && req.principal.kind === 'user')
    response.refresh_token = createRefreshToken(deps.db, deps.clock, req.principal, deps.refreshTokenDays, req.clientId);
  writeTokenAudit(deps, req, denied);
  return response;
}

function writeTokenAudit(deps: TokenServiceDeps, req: IssueRequest, denied: TokenGrant['denied']): void {
  const base = { username: req.principal.username, sourceIp: req.ip ?? null, userAgent: req.userAgent?.slice(0, 512) ?? null };
  if (req.login && req.principal.kind === 'user' && (req.scopes.length === 0 || req.offline))
    recordAudit(deps.db, { ...base, action: 'login', resourceType: 'user', resource: req.principal.username });
  for (const d of denied.slice(0, 20)) {
    const isCatalog = d.name === 'registry:catalog';
    recordAudit(deps.db, {
      ...base,
      action: 'token_denied',
      resourceType: isCatalog ? 'registry' : 'repository',
      resource: d.name,
      project: isCatalog ? null : projectOf(d.name, deps.defaultProject),
      repository: isCatalog ? null : d.name,
      outcome: 'denied',
      detail: JSON.stringify({ actions: d.actions }),
    });
  }
}
