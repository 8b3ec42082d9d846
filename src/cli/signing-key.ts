import { recordAudit } from '../audit/record';
import type { Config } from '../config/schema';
import { parse } from './args';
import { CLI_ACTOR, withInstance, type Output } from './context';
import { CommandError, UsageError } from './errors';

const SUBCOMMANDS = ['status', 'stage', 'activate', 'retire'];

const filesOf = async (config: Config) => (await import('../token/rotation')).signingKeyFiles({ dataDir: config.dataDir, keyFile: config.token.keyFile, certFile: config.token.certFile });

/** Rotation errors are the operator's to fix: one line, exit 1. */
async function asCommandError<T>(fn: () => T | Promise<T>): Promise<T> {
  const { RotationError } = await import('../token/rotation');
  try {
    return await fn();
  } catch (err) {
    if (err instanceof RotationError) throw new CommandError(err.message);
    throw err;
  }
}

/**
 * `wharf signing-key status|stage|activate|retire`: rotates the token signing key without a gap.
 * Each step rewrites the registry's rootcertbundle; running instances pick the files up within a
 * few seconds (or on SIGHUP). Private keys are never printed.
 */
export async function signingKeyCommand(args: string[], io: Output): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === undefined) throw new UsageError(`missing subcommand: wharf signing-key ${SUBCOMMANDS.join('|')}`);
  if (!SUBCOMMANDS.includes(sub)) throw new UsageError(`unknown subcommand "signing-key ${sub}": wharf signing-key ${SUBCOMMANDS.join('|')}`);
  const options: Parameters<typeof parse>[1] =
    sub === 'stage' ? { key: { type: 'string' }, cert: { type: 'string' } } : sub === 'status' ? {} : { force: { type: 'boolean', default: false } };
  const { values, positionals } = parse(rest, options);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (see wharf --help)`);
  const opt = values as { key?: string; cert?: string; force?: boolean };
  const rotation = await import('../token/rotation');
  await withInstance(async ({ deps }, config) => {
    const files = await filesOf(config);
    const timing = { nowMs: deps.clock.now(), expiresIn: config.token.expiresIn, force: opt.force ?? false };
    const audit = (step: string, fingerprint: string, extra: Record<string, unknown> = {}) =>
      recordAudit(deps.db, {
        username: CLI_ACTOR.username,
        action: 'signing_key_rotate',
        resourceType: 'system',
        resource: fingerprint,
        detail: JSON.stringify({ step, ...extra }),
      });
    switch (sub) {
      case 'status': {
        for (const s of rotation.signingKeyStatus(files)) {
          const retireAt = s.state === 'previous' ? `, may be retired from ${new Date(s.since.getTime() + rotation.retiredKeyLifetimeMs(config.token.expiresIn)).toISOString()}` : '';
          io.out(`${s.state.padEnd(8)}  ${s.fingerprint}  ${s.subject}  valid until ${s.notAfter}  since ${s.since.toISOString()}${retireAt}`);
          io.out(`          ${s.file}`);
        }
        io.out(`bundle    ${files.bundle} (the registry's rootcertbundle)`);
        return;
      }
      case 'stage': {
        const next = await asCommandError(() =>
          rotation.stageSigningKey(files, { algorithm: config.token.algorithm, commonName: `${config.token.issuer} token signer`, fromKey: opt.key, fromCert: opt.cert }),
        );
        await audit('stage', next.fingerprint, { supplied: Boolean(opt.key) });
        io.out(`staged the next signing key ${next.fingerprint}`);
        io.out(`  ${files.nextKey} and ${files.nextCert} (mode 0600); the bundle ${files.bundle} now trusts it`);
        io.out('next: copy both files to every other instance, let each registry read the bundle (a supervised one restarts by itself),');
        io.out('then run wharf signing-key activate on every instance');
        return;
      }
      case 'activate': {
        const { active, previous } = await asCommandError(() => rotation.activateSigningKey(files, { ...timing, algorithm: config.token.algorithm }));
        await audit('activate', active.fingerprint, { previous: previous.fingerprint, forced: timing.force });
        io.out(`activated ${active.fingerprint}; running instances sign with it within seconds`);
        io.out(`the previous certificate ${previous.fingerprint} stays trusted (${files.previousCert}); its private key is removed`);
        io.out(`next: after token.expiresIn (${config.token.expiresIn} s) plus a minute, run wharf signing-key retire`);
        return;
      }
      case 'retire': {
        const previous = await asCommandError(() => rotation.retireSigningKey(files, timing));
        await audit('retire', previous.fingerprint, { forced: timing.force });
        io.out(`retired ${previous.fingerprint}: the bundle no longer trusts it; tokens it signed stop verifying once each registry reads the bundle`);
        return;
      }
    }
  });
}
