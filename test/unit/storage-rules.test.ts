import { describe, expect, it } from 'vitest';
import { accessoryOfTag, compileRules, isAccessoryTag } from '../../src/storage/rules';
import { formatBytes, holdsImmutableTag } from '../../src/storage/gates';
import { gcMayStartAt } from '../../src/storage/state';

const HEX = 'a'.repeat(64);

describe('storage rules', () => {
  it('match the repository within its project and the tag, * within a component and ** across', () => {
    const [rule] = compileRules([{ repositories: 'sub/*', tags: 'v*' }]);
    expect(rule!.repository('team/sub/app')).toBe(true);
    expect(rule!.repository('team/sub/deep/app')).toBe(false);
    expect(rule!.repository('team/app')).toBe(false);
    expect(rule!.tag('v1.2')).toBe(true);
    expect(rule!.tag('latest')).toBe(false);
    const [deep] = compileRules([{ repositories: '**', tags: '*' }]);
    expect(deep!.repository('team/sub/deep/app')).toBe(true);
    expect(deep!.repository('library-app')).toBe(true);
  });

  it('know cosign accessory tags and the image they belong to, and nothing that only looks like one', () => {
    expect(accessoryOfTag(`sha256-${HEX}.sig`)).toEqual({ subject: `sha256:${HEX}`, kind: 'signature' });
    expect(accessoryOfTag(`sha256-${HEX}.att`)?.kind).toBe('attestation');
    expect(accessoryOfTag(`sha256-${HEX}.sbom`)?.kind).toBe('sbom');
    expect(isAccessoryTag(`sha256-${HEX}`)).toBe(false);
    expect(isAccessoryTag(`sha256-${'a'.repeat(63)}.sig`)).toBe(false);
    expect(isAccessoryTag(`sha256-${HEX.toUpperCase()}.sig`)).toBe(false);
    expect(isAccessoryTag(`v1.sig`)).toBe(false);
  });

  it('say whether a repository holds an immutable tag; bad or empty rules hold nothing', () => {
    const rules = JSON.stringify([{ repositories: 'app', tags: 'release-*' }]);
    expect(holdsImmutableTag(rules, 'team/app', ['latest', 'release-1'])).toBe(true);
    expect(holdsImmutableTag(rules, 'team/app', ['latest'])).toBe(false);
    expect(holdsImmutableTag(rules, 'team/other', ['release-1'])).toBe(false);
    expect(holdsImmutableTag('[]', 'team/app', ['release-1'])).toBe(false);
    expect(holdsImmutableTag('not json', 'team/app', ['release-1'])).toBe(false);
    expect(holdsImmutableTag(null, 'team/app', ['release-1'])).toBe(false);
  });

  it('format bytes for refusals', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(10 * 1024 ** 3)).toBe('10.0 GiB');
  });

  it('start GC after the last push token and a whole token lifetime from the window, plus the leeway', () => {
    const sinceMs = 1_000_000;
    // No push token recorded past the window: a lifetime from its start, the margin, the leeway.
    expect(gcMayStartAt({ sinceMs, pushTokensUntilMs: 0, pushTokenSeconds: 30, leewaySeconds: 60 })).toBe(sinceMs + 30_000 + 5_000 + 60_000);
    // A longer-lived token recorded by another instance is waited for.
    expect(gcMayStartAt({ sinceMs, pushTokensUntilMs: sinceMs + 900_000, pushTokenSeconds: 30, leewaySeconds: 60 })).toBe(sinceMs + 900_000 + 60_000);
  });
});
