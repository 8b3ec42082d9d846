/** The Distribution token scope grammar: `type[(class)]:name:action[,action]`. */

export interface Scope {
  type: 'repository' | 'registry';
  class?: string;
  name: string;
  actions: string[];
}

const KNOWN_ACTIONS: Record<Scope['type'], readonly string[]> = {
  repository: ['pull', 'push', 'delete', '*'],
  registry: ['*'],
};

const TYPE_RE = /^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$/;
/** A reference name: optional host[:port]/ prefix, then lowercase path components. */
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const HOST = '(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\\.(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?))*(?::[0-9]+)?';
const NAME_RE = new RegExp(`^(?:${HOST}/)?${COMPONENT}(?:/${COMPONENT})*$`);
/** As in Docker's reference grammar, a first part is a host only with a dot, a port, or `localhost`. */
const isHost = (part: string) => part.includes('.') || part.includes(':') || part === 'localhost';

export const MAX_NAME_LENGTH = 255;

function isValidScopeName(name: string): boolean {
  if (name.length > MAX_NAME_LENGTH || !NAME_RE.test(name)) return false;
  const slash = name.indexOf('/');
  const first = slash === -1 ? name : name.slice(0, slash);
  // An uppercase first part is only allowed as a host.
  return first === first.toLowerCase() || (slash !== -1 && isHost(first));
}

/**
 * Parses one scope. Returns null for anything malformed or of an unknown type; unknown actions are
 * dropped. The name may hold one `:` (host:port), so actions follow the LAST colon.
 */
export function parseScope(raw: string): Scope | null {
  const first = raw.indexOf(':');
  const last = raw.lastIndexOf(':');
  if (first <= 0 || last === first) return null;
  const typeMatch = TYPE_RE.exec(raw.slice(0, first));
  if (!typeMatch) return null;
  const type = typeMatch[1];
  if (type !== 'repository' && type !== 'registry') return null;
  const name = raw.slice(first + 1, last);
  if (type === 'registry' ? name !== 'catalog' : !isValidScopeName(name)) return null;
  const known = KNOWN_ACTIONS[type];
  const actions = [...new Set(raw.slice(last + 1).split(','))].filter((a) => known.includes(a));
  if (actions.length === 0) return null;
  return { type, ...(typeMatch[2] ? { class: typeMatch[2] } : {}), name, actions };
}

/**
 * Parses every scope of a request: repeated `scope` parameters, each possibly space-separated.
 * Scopes on the same resource are merged.
 */
export function parseScopes(values: string[]): Scope[] {
  const merged = new Map<string, Scope>();
  for (const value of values) {
    for (const raw of value.split(' ')) {
      if (raw === '') continue;
      const scope = parseScope(raw);
      if (!scope) continue;
      const key = `${scope.type}:${scope.name}`;
      const prev = merged.get(key);
      if (prev) prev.actions = [...new Set([...prev.actions, ...scope.actions])];
      else merged.set(key, scope);
    }
  }
  return [...merged.values()];
}
