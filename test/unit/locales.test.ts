import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load';
import { chooseLocale, expandPlurals, fromAcceptLanguage, i18n, LOCALES, MESSAGES } from '../../ui/i18n';
import { localPath, registryHost } from '../../ui/view';
import { ERROR_TEXTS } from '../../src/errors';

const en = MESSAGES.en;
const enKeys = Object.keys(en).sort();
/** The variables a message uses: `{name}` and the `{count, plural, ...}` selector, each once. */
const placeholders = (s: string) => [...new Set([...s.matchAll(/\{(\w+)(?:\}|, plural,)/g)].map((m) => m[1]))].sort();

describe('locale files', () => {
  for (const locale of LOCALES) {
    it(`${locale} has exactly the keys of en.json, none empty, the same placeholders`, () => {
      const messages = MESSAGES[locale] as Record<string, string>;
      expect(Object.keys(messages).sort()).toEqual(enKeys);
      for (const key of enKeys) {
        expect(typeof messages[key], key).toBe('string');
        expect(messages[key]!.trim(), `${locale} ${key}`).not.toBe('');
        expect(placeholders(messages[key]!), `${locale} ${key}`).toEqual(placeholders(en[key as keyof typeof en]));
      }
    });
  }

  it('every error a person can meet has an err.* message with the placeholders of its English API text, and no other err.* exists', () => {
    const errKeys = enKeys.filter((k) => k.startsWith('err.'));
    expect(errKeys).toEqual(Object.keys(ERROR_TEXTS).map((k) => `err.${k}`).sort());
    for (const [key, text] of Object.entries(ERROR_TEXTS))
      expect(placeholders(en[`err.${key}` as keyof typeof en]), key).toEqual(placeholders(text));
  });

  it('non-English locales are actually translated (most values differ from English)', () => {
    for (const locale of LOCALES.filter((l) => l !== 'en')) {
      const same = enKeys.filter((k) => (MESSAGES[locale] as Record<string, string>)[k] === (en as Record<string, string>)[k]);
      expect(same.length, `${locale}: ${same.join(', ')}`).toBeLessThan(enKeys.length * 0.1);
    }
  });
});

describe('plurals', () => {
  it('pick the branch by the locale\'s plural rules; # is the formatted number; other placeholders still fill in', () => {
    const en = i18n('en');
    expect(en.t('audit.count', { count: 1 })).toBe('1 entry');
    expect(en.t('audit.count', { count: 1234 })).toBe('1,234 entries');
    expect(en.t('projects.resultsFor', { count: 1, q: 'x' })).toBe('1 result for “x”');
    expect(en.t('err.project.notEmpty', { name: 'team', count: 1 })).toBe('The project team still has 1 repository. Delete it first.');
    expect(en.t('err.project.notEmpty', { name: 'team', count: 2 })).toBe('The project team still has 2 repositories. Delete them first.');
    expect(i18n('de').t('audit.count', { count: 1 })).toBe('1 Eintrag');
    expect(i18n('de').t('audit.count', { count: 1000 })).toBe('1.000 Einträge');
    const numbers = new Intl.NumberFormat('ru');
    const ru = new Intl.PluralRules('ru');
    const tpl = '{n, plural, one {# тег} few {# тега} many {# тегов} other {# тега}} в {repo}';
    expect([1, 3, 5, 21].map((n) => expandPlurals(tpl, { n, repo: 'x' }, ru, numbers))).toEqual(['1 тег в {repo}', '3 тега в {repo}', '5 тегов в {repo}', '21 тег в {repo}']);
    expect(expandPlurals('{n, plural, =0 {none} other {#}}', { n: 0 }, ru, numbers)).toBe('none');
    // Malformed selectors never throw: an unknown branch keyword leaves the message as written.
    expect(expandPlurals('{n, plural, single {x}}', { n: 1 }, ru, numbers)).toBe('{n, plural, single {x}}');
  });

  it('no message in any locale is left with a plural selector after filling in', () => {
    for (const locale of LOCALES) {
      const { t } = i18n(locale);
      for (const key of enKeys) {
        const text = t(key as keyof typeof en, { count: 2, name: 'n', q: 'q', project: 'p' });
        expect(text, `${locale} ${key}`).not.toMatch(/, plural,/);
      }
    }
  });
});

describe('language choice and formatting', () => {
  it('the cookie wins; then Accept-Language with q-values; then English', () => {
    expect(chooseLocale('de', 'ja')).toBe('de');
    expect(chooseLocale('xx', 'ja,en;q=0.5')).toBe('ja');
    expect(chooseLocale(undefined, 'fr-FR,ru;q=0.8,de;q=0.9')).toBe('de');
    expect(chooseLocale(undefined, 'zh-Hans-CN;q=0.9')).toBe('zh-CN');
    expect(chooseLocale(undefined, 'zh')).toBe('zh-CN');
    expect(fromAcceptLanguage('zh-TW')).toBeNull();
    expect(chooseLocale(undefined, 'fr, *;q=0.1')).toBe('en');
    expect(chooseLocale(undefined, undefined)).toBe('en');
    expect(chooseLocale(undefined, 'ru;q=0, de-AT')).toBe('de');
  });

  it('numbers, sizes and dates follow the locale', () => {
    expect(i18n('de').number(1234567)).toBe('1.234.567');
    expect(i18n('en').number(1234567)).toBe('1,234,567');
    expect(i18n('ru').number(1234567).replace(/\s/g, ' ')).toBe('1 234 567');
    expect(i18n('en').bytes(1_500_000)).toBe('1.5 MB');
    expect(i18n('de').bytes(1_500_000)).toBe('1,5 MB');
    const iso = '2024-03-05T14:07:00.000Z';
    expect(i18n('en').date(iso)).toContain('2024');
    expect(i18n('ja').date(iso)).toContain('2024年');
    expect(i18n('zh-CN').date(iso)).toContain('2024年');
    expect(i18n('de').date(iso)).toContain('März 2024');
    expect(i18n('en').t('pager.position', { page: 1000, pages: 2000 })).toBe('Page 1,000 of 2,000');
  });

  it('a return path is local only', () => {
    expect(localPath('/projects?q=a')).toBe('/projects?q=a');
    for (const bad of ['//evil.example/', 'https://evil.example/', '/\\evil.example', 'javascript:alert(1)', ''])
      expect(localPath(bad)).toBe('/projects');
  });
});

describe('registry host for pull commands', () => {
  const base = resolveConfig({});
  it('a registry with a real host name is named as configured', () => {
    const config = { ...base, registry: { ...base.registry, url: 'https://registry.example.org' } };
    expect(registryHost(config, 'wharf.example.org:8080')).toBe('registry.example.org');
  });
  it('a local registry is reached under the page host on the registry port', () => {
    const config = { ...base, registry: { ...base.registry, url: 'http://127.0.0.1:5000', listen: '0.0.0.0:5000' } };
    expect(registryHost(config, 'wharf.example.org:8080')).toBe('wharf.example.org:5000');
    expect(registryHost(config, '<bad host>')).toBe('127.0.0.1:5000');
  });
});
