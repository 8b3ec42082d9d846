import { describe, expect, it } from 'vitest';
import { MAX_NAME_LENGTH, parseScope, parseScopes } from '../../src/token/scope';

/** The Distribution scope grammar `type[(class)]:name:action[,action]` (ARCHITECTURE.md, Protocol facts). */

describe('parseScope', () => {
  it('parses a plain repository scope', () => {
    expect(parseScope('repository:team/app:pull,push')).toEqual({ type: 'repository', name: 'team/app', actions: ['pull', 'push'] });
  });

  it('parses a one-part name (default project)', () => {
    expect(parseScope('repository:myapp:pull')).toEqual({ type: 'repository', name: 'myapp', actions: ['pull'] });
  });

  it('keeps a host:port in the name and splits the actions on the LAST colon', () => {
    expect(parseScope('repository:localhost:5000/team/app:pull')).toEqual({
      type: 'repository',
      name: 'localhost:5000/team/app',
      actions: ['pull'],
    });
    expect(parseScope('repository:registry.example.com:443/a/b/c:pull,push')).toEqual({
      type: 'repository',
      name: 'registry.example.com:443/a/b/c',
      actions: ['pull', 'push'],
    });
  });

  it('rejects a name with more than one colon or a port without a path', () => {
    expect(parseScope('repository:localhost:5000:pull')).toBeNull();
    expect(parseScope('repository:a:1:b:2/app:pull')).toBeNull();
    // a tag is not part of a scope name
    expect(parseScope('repository:team/app:latest:pull')).toBeNull();
  });

  it('keeps a resource class but leaves the type as repository', () => {
    const scope = parseScope('repository(plugin):team/app:pull');
    expect(scope).toEqual({ type: 'repository', class: 'plugin', name: 'team/app', actions: ['pull'] });
    expect(scope?.type).toBe('repository');
  });

  it('has no class property when there is no class', () => {
    const scope = parseScope('repository:team/app:pull');
    expect(scope).not.toBeNull();
    expect(Object.keys(scope!)).not.toContain('class');
  });

  it('rejects malformed classes', () => {
    for (const raw of ['repository():team/app:pull', 'repository(plugin:team/app:pull', 'repository(Plugin):team/app:pull', 'repository(a)(b):team/app:pull'])
      expect(parseScope(raw), raw).toBeNull();
  });

  it('parses registry:catalog:*', () => {
    expect(parseScope('registry:catalog:*')).toEqual({ type: 'registry', name: 'catalog', actions: ['*'] });
  });

  it('accepts only catalog and * for the registry type', () => {
    expect(parseScope('registry:catalog:pull')).toBeNull();
    expect(parseScope('registry:other:*')).toBeNull();
    expect(parseScope('registry:catalog:pull,*')).toEqual({ type: 'registry', name: 'catalog', actions: ['*'] });
  });

  it('keeps the * action on repositories', () => {
    expect(parseScope('repository:team/app:*')).toEqual({ type: 'repository', name: 'team/app', actions: ['*'] });
    expect(parseScope('repository:team/app:pull,*')?.actions).toEqual(['pull', '*']);
  });

  it('accepts delete', () => {
    expect(parseScope('repository:team/app:delete')?.actions).toEqual(['delete']);
  });

  it('drops unknown types', () => {
    for (const raw of ['plugin:team/app:pull', 'Repository:team/app:pull', 'REPOSITORY:team/app:pull', 'repo:team/app:pull', 'registry2:catalog:*'])
      expect(parseScope(raw), raw).toBeNull();
  });

  it('drops unknown actions and never echoes them', () => {
    const scope = parseScope('repository:team/app:pull,steal,PUSH,push ,admin,<script>');
    expect(scope).toEqual({ type: 'repository', name: 'team/app', actions: ['pull'] });
    expect(JSON.stringify(scope)).not.toMatch(/steal|PUSH|admin|script/);
  });

  it('dedupes repeated actions', () => {
    expect(parseScope('repository:team/app:pull,pull,push,pull')?.actions).toEqual(['pull', 'push']);
  });

  it('returns null when no action is left', () => {
    expect(parseScope('repository:team/app:')).toBeNull();
    expect(parseScope('repository:team/app:,')).toBeNull();
    expect(parseScope('repository:team/app:steal')).toBeNull();
    expect(parseScope('repository:team/app:Pull')).toBeNull();
  });

  it.each([
    ['empty', ''],
    ['a lone colon', ':'],
    ['two colons', '::'],
    ['a bare type', 'repository'],
    ['a type and a name only', 'repository:team/app'],
    ['an empty name', 'repository::pull'],
    ['no type', ':team/app:pull'],
    ['an uppercase name', 'repository:team/App:pull'],
    ['an uppercase one-part name', 'repository:MYAPP:pull'],
    ['a double dot', 'repository:team/../app:pull'],
    ['a double dot inside a component', 'repository:team/a..b:pull'],
    ['a double dot in a host', 'repository:a..b/app:pull'],
    ['an empty component', 'repository:team//app:pull'],
    ['a leading slash', 'repository:/team/app:pull'],
    ['a trailing slash', 'repository:team/app/:pull'],
    ['a leading separator', 'repository:team/-app:pull'],
    ['a trailing separator', 'repository:team/app_:pull'],
    ['three underscores', 'repository:team/a___b:pull'],
    ['a newline in the name', 'repository:team/app\n:pull'],
    ['a newline before the name', 'repository:\nteam/app:pull'],
    ['a NUL byte', 'repository:team/a\u0000pp:pull'],
    ['a tab', 'repository:team/\tapp:pull'],
    ['a space', 'repository:team/a pp:pull'],
    ['unicode letters', 'repository:tëam/app:pull'],
    ['a fullwidth letter', 'repository:team/ａpp:pull'],
    ['an emoji', 'repository:team/🐳:pull'],
    ['a percent escape', 'repository:team%2Fapp:pull'],
    ['a backslash', 'repository:team\\app:pull'],
  ])('rejects %s', (_label, raw) => {
    expect(parseScope(raw)).toBeNull();
  });

  it('accepts names up to the maximum length and rejects longer ones', () => {
    expect(MAX_NAME_LENGTH).toBe(255);
    const ok = `team/${'a'.repeat(MAX_NAME_LENGTH - 5)}`;
    expect(ok).toHaveLength(255);
    expect(parseScope(`repository:${ok}:pull`)?.name).toBe(ok);
    expect(parseScope(`repository:${ok}b:pull`)).toBeNull();
    expect(parseScope(`repository:team/${'a'.repeat(295)}:pull`)).toBeNull();
  });

  it('answers quickly for a long hostile name', () => {
    const hostile = `repository:${'a-'.repeat(5000)}!:pull`;
    const started = performance.now();
    expect(parseScope(hostile)).toBeNull();
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('accepts every separator of the Distribution grammar', () => {
    for (const name of ['team/a.b', 'team/a_b', 'team/a__b', 'team/a-b', 'team/a--b', 'a.b/c', '0/9'])
      expect(parseScope(`repository:${name}:pull`)?.name, name).toBe(name);
  });

  // An uppercase first component is a host only when it looks like one (dot, port or localhost).
  it('rejects an uppercase first path component that is not a host', () => {
    expect(parseScope('repository:Team/app:pull')).toBeNull();
    expect(parseScope('repository:LOCALHOST/app:pull')).toBeNull();
    expect(parseScope('repository:Registry.Example.com/app:pull')?.name).toBe('Registry.Example.com/app');
  });
});

describe('parseScopes', () => {
  it('reads repeated scope parameters', () => {
    expect(parseScopes(['repository:team/app:pull', 'repository:team/other:push'])).toEqual([
      { type: 'repository', name: 'team/app', actions: ['pull'] },
      { type: 'repository', name: 'team/other', actions: ['push'] },
    ]);
  });

  it('splits space-separated scopes inside one parameter and skips extra spaces', () => {
    expect(parseScopes(['repository:team/app:pull  registry:catalog:* ', ' repository:x/y:delete'])).toEqual([
      { type: 'repository', name: 'team/app', actions: ['pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
      { type: 'repository', name: 'x/y', actions: ['delete'] },
    ]);
  });

  it('merges the actions of the same resource', () => {
    expect(parseScopes(['repository:team/app:pull', 'repository:team/app:push,pull repository:team/app:delete'])).toEqual([
      { type: 'repository', name: 'team/app', actions: ['pull', 'push', 'delete'] },
    ]);
  });

  it('does not merge different resources that share a prefix', () => {
    const scopes = parseScopes(['repository:team/app:pull', 'repository:team/app2:push', 'repository:team:delete']);
    expect(scopes.map((s) => [s.name, s.actions])).toEqual([
      ['team/app', ['pull']],
      ['team/app2', ['push']],
      ['team', ['delete']],
    ]);
  });

  it('keeps a repository and the registry catalog apart', () => {
    const scopes = parseScopes(['registry:catalog:*', 'repository:catalog:pull']);
    expect(scopes).toEqual([
      { type: 'registry', name: 'catalog', actions: ['*'] },
      { type: 'repository', name: 'catalog', actions: ['pull'] },
    ]);
  });

  it('drops unknown types, unknown actions and junk, keeping the rest', () => {
    const scopes = parseScopes(['plugin:x/y:pull junk : repository repository::pull', 'repository:team/app:pull,evil', '', 'repository:team/app:evil']);
    expect(scopes).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    expect(JSON.stringify(scopes)).not.toContain('evil');
  });

  it('returns an empty list for no or only invalid scopes', () => {
    expect(parseScopes([])).toEqual([]);
    expect(parseScopes(['', ' ', 'repository:TEAM/APP:pull', 'repository:team/app:'])).toEqual([]);
  });

  it('merges a classed scope with the plain one on the same repository', () => {
    const scopes = parseScopes(['repository(plugin):team/app:pull', 'repository:team/app:push']);
    expect(scopes).toHaveLength(1);
    expect(scopes[0]?.type).toBe('repository');
    expect(scopes[0]?.name).toBe('team/app');
    expect(scopes[0]?.actions).toEqual(['pull', 'push']);
  });

  it('does not share state between calls', () => {
    const first = parseScopes(['repository:team/app:pull', 'repository:team/app:push']);
    const second = parseScopes(['repository:team/app:pull']);
    expect(first[0]?.actions).toEqual(['pull', 'push']);
    expect(second[0]?.actions).toEqual(['pull']);
  });
});
