import { randomSecret } from '../identity/passwords';
import { EmailSchema } from '../identity/schemas';
import { assertPasswordPolicy, assertUsername, changePassword, createUser, getUser, listUsers, updateUser, userView } from '../identity/users';
import { cliContext, initialiseIfEmpty, withInstance, type Output } from './context';
import { UsageError } from './errors';
import { parse } from './args';
import { readPasswordFromStdin } from './stdin';

const SUBCOMMANDS = ['create', 'passwd', 'disable', 'enable', 'list'];

function oneName(positionals: string[], usage: string): string {
  if (positionals.length === 0) throw new UsageError(`missing user name (usage: ${usage})`);
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}" (usage: ${usage})`);
  return positionals[0]!;
}

/** `wharf user create|passwd|disable|enable|list`. */
export async function userCommand(args: string[], io: Output): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === undefined) throw new UsageError(`missing subcommand: wharf user ${SUBCOMMANDS.join('|')}`);
  switch (sub) {
    case 'create':
      return create(rest, io);
    case 'passwd':
      return passwd(rest, io);
    case 'disable':
    case 'enable':
      return setDisabled(sub, rest, io);
    case 'list':
      return list(rest, io);
    default:
      throw new UsageError(`unknown subcommand "user ${sub}": wharf user ${SUBCOMMANDS.join('|')}`);
  }
}

async function create(args: string[], io: Output): Promise<void> {
  const usage = 'wharf user create NAME [--admin] [--email E] [--password-stdin]';
  const { values, positionals } = parse(args, {
    admin: { type: 'boolean', default: false },
    email: { type: 'string' },
    'password-stdin': { type: 'boolean', default: false },
  });
  const username = oneName(positionals, usage);
  if (values.email !== undefined && !EmailSchema.safeParse(values.email).success) throw new UsageError(`--email: "${values.email}" is not an e-mail address`);
  assertUsername(username);
  const given = values['password-stdin'] ? await readPasswordFromStdin() : undefined;
  const password = given ?? randomSecret(18);
  assertPasswordPolicy(password);
  await withInstance(
    async (instance) => {
      await initialiseIfEmpty(instance, io, { creating: username });
      const user = await createUser(cliContext(instance.deps), { username, password, email: values.email ?? null, admin: values.admin });
      io.out(`created user ${user.username}${user.admin ? ' (system admin)' : ''}`);
      if (given === undefined) io.out(`password: ${password}  (shown once; change it with: wharf user passwd ${shellWord(user.username)})`);
    },
    { mayInitialise: true },
  );
}

async function passwd(args: string[], io: Output): Promise<void> {
  const usage = 'wharf user passwd NAME [--password-stdin]';
  const { values, positionals } = parse(args, { 'password-stdin': { type: 'boolean', default: false } });
  const username = oneName(positionals, usage);
  const given = values['password-stdin'] ? await readPasswordFromStdin() : undefined;
  const password = given ?? randomSecret(18);
  assertPasswordPolicy(password);
  await withInstance(async ({ deps }) => {
    await changePassword(cliContext(deps), username, { newPassword: password });
    io.out(`changed the password of ${username} (refresh tokens issued before are revoked)`);
    if (given === undefined) io.out(`password: ${password}  (shown once)`);
  });
}

async function setDisabled(sub: 'disable' | 'enable', args: string[], io: Output): Promise<void> {
  const { positionals } = parse(args, {});
  const username = oneName(positionals, `wharf user ${sub} NAME`);
  const disabled = sub === 'disable';
  await withInstance(async ({ deps }) => {
    const before = await getUser(deps.db, username);
    if (before.disabled === disabled) {
      io.out(`user ${username} is already ${disabled ? 'disabled' : 'enabled'}`);
      return;
    }
    await updateUser(cliContext(deps), username, { disabled });
    io.out(disabled ? `disabled user ${username} (no more logins; refresh tokens issued before are revoked)` : `enabled user ${username}`);
  });
}

async function list(args: string[], io: Output): Promise<void> {
  const { values, positionals } = parse(args, { json: { type: 'boolean', default: false } });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (usage: wharf user list [--json])`);
  await withInstance(async ({ deps }) => {
    const all: ReturnType<typeof userView>[] = [];
    for (let page = 1; ; page++) {
      const { items, total } = await listUsers(deps, { page, pageSize: 500 });
      all.push(...items.map(userView));
      if (all.length >= total || items.length === 0) break;
    }
    if (values.json) {
      io.out(JSON.stringify(all, null, 2));
      return;
    }
    const rows = [
      ['USERNAME', 'ADMIN', 'DISABLED', 'SOURCE', 'EMAIL', 'LAST LOGIN'],
      ...all.map((u) => [u.username, u.admin ? 'yes' : 'no', u.disabled ? 'yes' : 'no', u.source, u.email ?? '-', u.lastLoginAt ?? '-']),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) io.out(r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
    io.out(`${all.length} user${all.length === 1 ? '' : 's'}`);
  });
}

/** A name as one shell word, so a printed command can be pasted as it is (`o'brien` → `'o'\''brien'`). */
export const shellWord = (word: string): string => (/^[A-Za-z0-9._@%+=:,/-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`);
