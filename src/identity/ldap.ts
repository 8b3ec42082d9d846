import { readFileSync } from 'node:fs';
import { Client, InvalidCredentialsError, type Entry } from 'ldapts';
import type { Config } from '../config/schema';
import { fail } from '../errors';
import type { Log } from '../log';

/** What the directory says about a user who just proved their password. */
export interface DirectoryUser {
  dn: string;
  username: string;
  email: string | null;
  /** Names (groupNameAttribute) of the user's groups; null when they were not read this time. */
  groups: string[] | null;
  /** Member of ldap.adminGroup (false when groups were not read). */
  admin: boolean;
}

/** The directory could not be asked: clients get 503, not a 401 they would read as a wrong password. */
export const directoryUnavailable = () =>
  fail(503, 'directory_unavailable', 'auth.directoryUnavailable');

/** RFC 4515: the characters that mean something in a filter value are written as \XX. */
export function escapeFilterValue(value: string): string {
  return value.replace(/[\\*()\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

const first = (v: Entry[string] | undefined): string | null => {
  if (v === undefined) return null;
  const x = Array.isArray(v) ? v[0] : v;
  return x === undefined ? null : x.toString();
};

const sameDn = (a: string, b: string) => a.replace(/\s*,\s*/g, ',').toLowerCase() === b.replace(/\s*,\s*/g, ',').toLowerCase();

type LdapConfig = Config['ldap'];

/**
 * Search-then-bind against LDAP or Active Directory: bind as the search account (or anonymously),
 * find the user with userFilter, then bind as the found DN with the given password. Several URLs
 * are tried in order; a URL that cannot be reached moves on to the next.
 */
export class Directory {
  private readonly urls: string[];
  private readonly ca: Buffer | undefined;
  /** The outcome of the last conversation with the directory, for the health endpoint. */
  lastError: string | null = null;

  constructor(
    private readonly config: LdapConfig,
    private readonly log: Log,
  ) {
    this.urls = config.url.split(/[\s,]+/).filter(Boolean);
    this.ca = config.caFile ? readFileSync(config.caFile) : undefined;
  }

  get enabled(): boolean {
    return this.urls.length > 0;
  }

  private async connect(url: string): Promise<Client> {
    const host = new URL(url).hostname;
    const tlsOptions = { ...(this.ca ? { ca: this.ca } : {}), servername: host };
    // ldapts speaks TLS whenever tlsOptions are given, so they go only with ldaps:// URLs.
    const client = new Client({
      url,
      timeout: this.config.timeoutMs,
      connectTimeout: this.config.timeoutMs,
      ...(url.startsWith('ldaps:') ? { tlsOptions } : {}),
    });
    if (this.config.startTLS && url.startsWith('ldap:')) await client.startTLS({ ...tlsOptions, host });
    return client;
  }

  /** Runs `work` against the first URL that answers; throws 503 when none does. */
  private async withClient<T>(work: (client: Client) => Promise<T>): Promise<T> {
    let lastError: unknown;
    for (const url of this.urls) {
      let client: Client | undefined;
      try {
        client = await this.connect(url);
        const result = await work(client);
        this.lastError = null;
        return result;
      } catch (err) {
        lastError = err;
        this.log.warn({ url, err: (err as Error).message }, 'directory not usable');
      } finally {
        await client?.unbind().catch(() => undefined);
      }
    }
    this.lastError = (lastError as Error | undefined)?.message ?? 'no directory URL';
    throw directoryUnavailable();
  }

  private async bindService(client: Client): Promise<void> {
    if (!this.config.bindDN) return;
    try {
      await client.bind(this.config.bindDN, this.config.bindPassword);
    } catch (err) {
      // A refused search account is a configuration problem, never the user's wrong password.
      if (err instanceof InvalidCredentialsError) throw new Error('the directory refused ldap.bindDN / ldap.bindPassword');
      throw err;
    }
  }

  private async findUser(client: Client, username: string): Promise<Entry | null> {
    const filter = this.config.userFilter.replaceAll('{username}', escapeFilterValue(username));
    const { searchEntries } = await client.search(this.config.baseDN, {
      scope: 'sub',
      filter,
      attributes: [this.config.usernameAttribute, this.config.emailAttribute],
      sizeLimit: 2,
    });
    // Zero or several matches: nobody to log in as.
    return searchEntries.length === 1 ? searchEntries[0]! : null;
  }

  private async groupsOf(client: Client, dn: string): Promise<{ names: string[]; admin: boolean }> {
    if (!this.config.groupBaseDN) return { names: [], admin: false };
    const filter = this.config.groupFilter.replaceAll('{dn}', escapeFilterValue(dn));
    const { searchEntries } = await client.search(this.config.groupBaseDN, {
      scope: 'sub',
      filter,
      attributes: [this.config.groupNameAttribute],
      sizeLimit: 1000,
    });
    const names = searchEntries.map((e) => first(e[this.config.groupNameAttribute])).filter((n): n is string => !!n);
    const admin = !!this.config.adminGroup && searchEntries.some((e) => sameDn(e.dn, this.config.adminGroup));
    return { names: [...new Set(names)].sort(), admin };
  }

  /** The entry's name, email and (when asked) groups and admin flag, read as the search account. */
  private async describe(client: Client, entry: Entry, groups: boolean, asked: string): Promise<DirectoryUser> {
    let names: string[] | null = null;
    let admin = false;
    if (groups) {
      // Group lookups run as the search account: users often may not read groups.
      await this.bindService(client);
      ({ names, admin } = await this.groupsOf(client, entry.dn));
    }
    return { dn: entry.dn, username: first(entry[this.config.usernameAttribute]) ?? asked, email: first(entry[this.config.emailAttribute]), groups: names, admin };
  }

  /**
   * The user, when the password is right; null for an unknown user or a wrong password. An empty
   * password is refused before the directory is asked: LDAP treats it as an anonymous bind.
   */
  async authenticate(username: string, password: string, opts: { groups: boolean } = { groups: true }): Promise<DirectoryUser | null> {
    if (!this.enabled || password === '' || username === '' || username.length > 256) return null;
    return this.withClient(async (client) => {
      await this.bindService(client);
      const entry = await this.findUser(client, username);
      if (!entry) return null;
      try {
        await client.bind(entry.dn, password);
      } catch (err) {
        if (err instanceof InvalidCredentialsError) return null;
        throw err;
      }
      return this.describe(client, entry, opts.groups, username);
    });
  }

  /**
   * What the directory says of a name now, with groups, without a password: how an account that
   * signs in with a token or session follows the directory. Null when the entry is gone.
   */
  async lookup(username: string): Promise<DirectoryUser | null> {
    if (!this.enabled || username === '' || username.length > 256) return null;
    return this.withClient(async (client) => {
      await this.bindService(client);
      const entry = await this.findUser(client, username);
      return entry ? await this.describe(client, entry, true, username) : null;
    });
  }

  /** Whether the directory knows the name (no password check): for warning about shadowed names. */
  async exists(username: string): Promise<boolean> {
    if (!this.enabled) return false;
    return this.withClient(async (client) => {
      await this.bindService(client);
      return (await this.findUser(client, username)) !== null;
    });
  }

  /** Connects and binds as the search account: the health endpoint's check. */
  async ping(): Promise<boolean> {
    if (!this.enabled) return true;
    try {
      await this.withClient((client) => this.bindService(client));
      return true;
    } catch {
      return false;
    }
  }
}
