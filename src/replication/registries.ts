// stand-in: replaced by the registries branch
import type { Deps } from '../deps';
import type { RegistryEndpoint } from './remote';

/** The row's endpoint with its password opened, for the copier. */
export function registryEndpoint(_deps: Deps, row: { id: number; name: string; url: string; username: string | null; passwordSealed: string | null; caPem: string | null; insecure: boolean }): RegistryEndpoint {
  return { url: row.url, username: row.username, password: null, caPem: row.caPem, insecure: row.insecure };
}
