import { describe, expect, it } from 'vitest';
import { compileFilters, globProblem, isGlob, repositoryMatches, tagMatches, GLOB_MAX } from '../../src/replication/filters';
import { nameInProject, pullLocalName, pushDestination } from '../../src/replication/names';

/** Replication's globs and names (API.md "Names and globs"): picomatch with our options, and the name mapping. */

describe('repository globs', () => {
  it('`*` stays within one path component, `**` spans components', () => {
    expect(repositoryMatches({ repositories: ['*'] }, 'app')).toBe(true);
    expect(repositoryMatches({ repositories: ['*'] }, 'sub/app')).toBe(false);
    expect(repositoryMatches({ repositories: ['sub/*'] }, 'sub/app')).toBe(true);
    expect(repositoryMatches({ repositories: ['sub/*'] }, 'sub/deeper/app')).toBe(false);
    expect(repositoryMatches({ repositories: ['**'] }, 'sub/deeper/app')).toBe(true);
    expect(repositoryMatches({ repositories: ['sub/**'] }, 'sub/deeper/app')).toBe(true);
    expect(repositoryMatches({ repositories: ['**/app'] }, 'a/b/app')).toBe(true);
    expect(repositoryMatches({ repositories: ['**/app'] }, 'app')).toBe(true);
    expect(repositoryMatches({ repositories: ['**/app'] }, 'a/b/application')).toBe(false);
  });

  it('`?`, bracket classes (also negated) and braces', () => {
    expect(repositoryMatches({ repositories: ['ap?'] }, 'app')).toBe(true);
    expect(repositoryMatches({ repositories: ['ap?'] }, 'ap/p')).toBe(false);
    expect(repositoryMatches({ repositories: ['app[0-9]'] }, 'app7')).toBe(true);
    expect(repositoryMatches({ repositories: ['app[^0-9]'] }, 'app7')).toBe(false);
    expect(repositoryMatches({ repositories: ['app[^0-9]'] }, 'appx')).toBe(true);
    expect(repositoryMatches({ repositories: ['{web,api}/*'] }, 'api/server')).toBe(true);
    expect(repositoryMatches({ repositories: ['{web,api}/*'] }, 'db/server')).toBe(false);
  });

  it('an empty or missing include list means all; any include of several is enough', () => {
    expect(repositoryMatches({}, 'a/b/c')).toBe(true);
    expect(repositoryMatches({ repositories: [] }, 'x')).toBe(true);
    expect(repositoryMatches({ repositories: ['a', 'b/*'] }, 'b/c')).toBe(true);
    expect(repositoryMatches({ repositories: ['a', 'b/*'] }, 'c')).toBe(false);
  });

  it('excludes apply after includes (also with no include at all)', () => {
    const f = { repositories: ['**'], excludeRepositories: ['tmp/**', '*-test'] };
    expect(repositoryMatches(f, 'web/app')).toBe(true);
    expect(repositoryMatches(f, 'tmp/x/y')).toBe(false);
    expect(repositoryMatches(f, 'app-test')).toBe(false);
    expect(repositoryMatches({ excludeRepositories: ['legacy'] }, 'legacy')).toBe(false);
    expect(repositoryMatches({ excludeRepositories: ['legacy'] }, 'current')).toBe(true);
  });

  it('a literal name matches only itself', () => {
    expect(repositoryMatches({ repositories: ['mirror/x'] }, 'mirror/x')).toBe(true);
    expect(repositoryMatches({ repositories: ['mirror/x'] }, 'mirror/xy')).toBe(false);
    expect(repositoryMatches({ repositories: ['a.b'] }, 'aXb')).toBe(false);
  });

  it('options: no negation by a leading "!" (excludes are their own list), names with dots are not hidden', () => {
    // dot: true — nothing in the name grammar starts with a dot, so `*` hides nothing.
    expect(repositoryMatches({ repositories: ['*'] }, 'a.b')).toBe(true);
    expect(compileFilters({ repositories: ['*'] }).repository('.hidden')).toBe(true);
    // nonegate: a leading `!` is refused by globProblem and never inverts a list; picomatch reads `[!…]` as a class holding "!", so `!` is refused there too.
    expect(globProblem('!app')).toMatch(/character "!"/);
    expect(globProblem('app[!0-9]')).toMatch(/character "!"/);
    expect(compileFilters({ repositories: ['!app'] }).repository('other')).toBe(false);
  });
});

describe('tag globs', () => {
  it('match the tag, with includes and excludes', () => {
    const f = { tags: ['v*', 'latest'], excludeTags: ['*-rc*'] };
    expect(tagMatches(f, 'v1.2.3')).toBe(true);
    expect(tagMatches(f, 'latest')).toBe(true);
    expect(tagMatches(f, 'v2.0-rc1')).toBe(false);
    expect(tagMatches(f, 'dev')).toBe(false);
    expect(tagMatches({}, 'Anything_1')).toBe(true);
    expect(tagMatches({ tags: ['v[0-9]*'] }, 'v10')).toBe(true);
    expect(tagMatches({ tags: ['V*'] }, 'v1')).toBe(false);
  });

  it('accessory tags are tags like any other', () => {
    expect(tagMatches({ tags: ['sha256-*.sig'] }, `sha256-${'a'.repeat(64)}.sig`)).toBe(true);
  });
});

describe('globProblem', () => {
  it('accepts names and glob syntax', () => {
    for (const g of ['app', 'sub/app', '*', '**', 'a/**/b', 'v[0-9]*', '{a,b}/c', 'x?z', 'app[^x]', 'a__b', 'a-b.c_d', 'V1_*'])
      expect(globProblem(g), g).toBeNull();
    expect(globProblem('sub/app', 'repository')).toBeNull();
    expect(globProblem('V1.*', 'tag')).toBeNull();
  });

  it('refuses more than two "*" runs, which picomatch matches by backtracking (seconds for one long name)', () => {
    expect(globProblem('*a*a*a*a*a*a*a*a*b')).toMatch(/more than 2 "\*" wildcards/);
    expect(globProblem('**/*-rc*')).toMatch(/more than 2/);
    for (const g of ['**/*', '*-rc*', 'a/**/b', '*a*b']) expect(globProblem(g), g).toBeNull();
  });

  it('refuses the empty string, a leading or trailing "/", empty, "." and ".." components', () => {
    expect(globProblem('')).toBe('empty');
    expect(globProblem('/app')).toMatch(/starts with "\/"/);
    expect(globProblem('app/')).toMatch(/ends with/);
    expect(globProblem('a//b')).toMatch(/empty path component/);
    expect(globProblem('a/../b')).toMatch(/"\.\."/);
    expect(globProblem('..')).toMatch(/"\.\."/);
    expect(globProblem('./a')).toMatch(/"\."/);
  });

  it('refuses characters outside the name grammar and glob syntax, naming the character', () => {
    for (const g of ['a b', 'a:b', 'a\\b', 'a@b', 'a+(b)', 'a|b', 'a$', 'a#b', 'ä', 'a\nb', '@(a)'])
      expect(globProblem(g), g).toMatch(/character/);
    expect(globProblem('a b')).toContain('" "');
    expect(globProblem('App', 'repository')).toMatch(/"A"/);
    expect(globProblem('v1/x', 'tag')).toMatch(/"\/"/);
  });

  it('refuses unbalanced brackets and braces, and stray negations or commas', () => {
    expect(globProblem('app[0-9')).toMatch(/unbalanced "\["/);
    expect(globProblem('app]')).toMatch(/unbalanced "\]"/);
    expect(globProblem('{a,b')).toMatch(/unbalanced "\{"/);
    expect(globProblem('a,b}')).toMatch(/unbalanced "\}"|outside braces/);
    expect(globProblem('a}')).toMatch(/unbalanced "\}"/);
    expect(globProblem('a,b')).toMatch(/outside braces/);
    expect(globProblem('a[b^]')).toMatch(/negates/);
    expect(globProblem('a^b')).toMatch(/negates/);
    expect(globProblem('a[{]')).toMatch(/inside a bracket class/);
  });

  it(`refuses more than ${GLOB_MAX} characters`, () => {
    expect(globProblem('a'.repeat(GLOB_MAX))).toBeNull();
    expect(globProblem('a'.repeat(GLOB_MAX + 1))).toMatch(/longer than/);
  });

  it('isGlob tells literal names from globs', () => {
    expect(isGlob('mirror/x')).toBe(false);
    expect(isGlob('a.b-c_d')).toBe(false);
    for (const g of ['*', 'a?', '[ab]', '{a,b}']) expect(isGlob(g), g).toBe(true);
  });
});

describe('names', () => {
  it('the name in its project: the project component dropped; a one-part name of the default project is itself', () => {
    expect(nameInProject('team/sub/app')).toBe('sub/app');
    expect(nameInProject('team/app')).toBe('app');
    expect(nameInProject('myapp')).toBe('myapp');
    expect(nameInProject('library/myapp')).toBe('myapp');
  });

  it('push destination: the project replaced by the destination namespace', () => {
    expect(pushDestination('team/sub/app', 'backup')).toBe('backup/sub/app');
    expect(pushDestination('team/app', 'mirror/team')).toBe('mirror/team/app');
    expect(pushDestination('myapp', 'library')).toBe('library/myapp');
  });

  it('pull local name: the first remote component replaced by the project; a one-part remote name goes under it', () => {
    expect(pullLocalName('mirror/x', 'local')).toBe('local/x');
    expect(pullLocalName('mirror/x/y', 'local')).toBe('local/x/y');
    expect(pullLocalName('x', 'local')).toBe('local/x');
  });
});
