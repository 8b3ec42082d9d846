import { fillTemplate } from '../src/errors';
import de from './locales/de.json' with { type: 'json' };
import en from './locales/en.json' with { type: 'json' };
import ja from './locales/ja.json' with { type: 'json' };
import ru from './locales/ru.json' with { type: 'json' };
import zhCN from './locales/zh-CN.json' with { type: 'json' };

/** The languages of the web interface; the first is the fallback. */
export const LOCALES = ['en', 'zh-CN', 'de', 'ja', 'ru'] as const;
export type Locale = (typeof LOCALES)[number];
export const DEFAULT_LOCALE: Locale = 'en';

/** Cookie that remembers the language chosen with the selector. */
export const LANG_COOKIE = 'wharf_lang';

export type MessageKey = keyof typeof en;
type Messages = Record<MessageKey, string>;

export const MESSAGES: Record<Locale, Messages> = {
  en,
  'zh-CN': zhCN as Messages,
  de: de as Messages,
  ja: ja as Messages,
  ru: ru as Messages,
};

export function isLocale(value: string | undefined | null): value is Locale {
  return !!value && (LOCALES as readonly string[]).includes(value);
}

/** Maps one language tag of Accept-Language onto a supported locale, or null. */
function matchTag(tag: string): Locale | null {
  const lower = tag.toLowerCase();
  const exact = LOCALES.find((l) => l.toLowerCase() === lower);
  if (exact) return exact;
  const [primary, ...rest] = lower.split('-');
  if (primary === 'zh') {
    // Simplified Chinese only: zh, zh-CN, zh-SG, zh-Hans-*; Traditional (zh-TW, zh-HK, zh-Hant) is not offered.
    const sub = rest.join('-');
    return sub === '' || sub.startsWith('hans') || sub === 'cn' || sub === 'sg' || sub === 'my' ? 'zh-CN' : null;
  }
  return LOCALES.find((l) => l.toLowerCase() === primary) ?? null;
}

/** The best supported locale of an Accept-Language header (q-values honoured), or null. */
export function fromAcceptLanguage(header: string | undefined | null): Locale | null {
  if (!header) return null;
  const ranked = header
    .slice(0, 1024)
    .split(',')
    .map((part, index) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      const weight = q ? Number(q.slice(2)) : 1;
      return { tag: tag.trim(), weight: Number.isFinite(weight) ? weight : 0, index };
    })
    .filter((r) => r.tag && r.tag !== '*' && r.weight > 0)
    .sort((a, b) => b.weight - a.weight || a.index - b.index);
  for (const r of ranked) {
    const locale = matchTag(r.tag);
    if (locale) return locale;
  }
  return null;
}

/** The cookie set by the language selector wins; then Accept-Language; then English. */
export function chooseLocale(cookie: string | undefined, acceptLanguage: string | undefined): Locale {
  if (isLocale(cookie)) return cookie;
  return fromAcceptLanguage(acceptLanguage) ?? DEFAULT_LOCALE;
}

export interface I18n {
  locale: Locale;
  /** The message of `key` in this locale, with `{name}` placeholders filled (numbers formatted for the locale). */
  t(key: MessageKey, vars?: Record<string, string | number>): string;
  /** A timestamp (ISO 8601) as date and time in UTC, formatted for the locale; '' for null. */
  date(iso: string | null | undefined): string;
  number(n: number): string;
  /** A size in bytes with a unit (kB, MB, GB; decimal), formatted for the locale. */
  bytes(n: number | null | undefined): string;
}

const BYTE_UNITS = [
  { unit: 'gigabyte', size: 1e9 },
  { unit: 'megabyte', size: 1e6 },
  { unit: 'kilobyte', size: 1e3 },
] as const;

/**
 * ICU-style plurals in a message: `{count, plural, one {# tag} other {# tags}}` picks the branch
 * for the number in `vars.count` by the locale's plural rules (`=N` matches exactly), and `#` in
 * it becomes the formatted number. Branches may hold other `{name}` placeholders.
 */
export function expandPlurals(template: string, vars: Record<string, string | number>, rules: Intl.PluralRules, numbers: Intl.NumberFormat): string {
  let out = '';
  let i = 0;
  for (;;) {
    const m = /\{(\w+), plural,/g;
    m.lastIndex = i;
    const found = m.exec(template);
    if (!found) return out + template.slice(i);
    out += template.slice(i, found.index);
    let at = found.index + found[0].length;
    const branches = new Map<string, string>();
    for (;;) {
      while (template[at] === ' ') at++;
      if (template[at] === '}' || at >= template.length) break;
      const selector = /^(=\d+|zero|one|two|few|many|other)\s*\{/.exec(template.slice(at));
      if (!selector) return template; // malformed: leave the message as written
      at += selector[0].length;
      let depth = 1;
      const start = at;
      while (at < template.length && depth > 0) {
        if (template[at] === '{') depth++;
        else if (template[at] === '}') depth--;
        at++;
      }
      branches.set(selector[1]!, template.slice(start, at - 1));
    }
    const value = vars[found[1]!];
    const n = typeof value === 'number' ? value : Number(value);
    const branch = branches.get(`=${n}`) ?? branches.get(rules.select(n)) ?? branches.get('other') ?? '';
    out += branch.replace(/#/g, Number.isFinite(n) ? numbers.format(n) : String(value));
    i = at + 1;
  }
}

const cache = new Map<Locale, I18n>();

export function i18n(locale: Locale): I18n {
  const known = cache.get(locale);
  if (known) return known;
  const messages = MESSAGES[locale];
  const numbers = new Intl.NumberFormat(locale);
  const dates = new Intl.DateTimeFormat(locale, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    timeZone: 'UTC',
    timeZoneName: 'short',
  });
  const units = new Map(
    [...BYTE_UNITS.map((u) => u.unit), 'byte'].map((unit) => [
      unit,
      new Intl.NumberFormat(locale, { style: 'unit', unit, unitDisplay: 'short', maximumFractionDigits: unit === 'byte' ? 0 : 1 }),
    ]),
  );
  const plurals = new Intl.PluralRules(locale);
  const t = (key: MessageKey, vars?: Record<string, string | number>) => {
    const template = messages[key] ?? MESSAGES[DEFAULT_LOCALE][key] ?? key;
    if (!vars) return template;
    return fillTemplate(expandPlurals(template, vars, plurals, numbers), vars, (n) => numbers.format(n));
  };
  const made: I18n = {
    locale,
    t,
    date(iso) {
      if (!iso) return '';
      const d = new Date(iso);
      return Number.isNaN(d.getTime()) ? iso : dates.format(d);
    },
    number: (n) => numbers.format(n),
    bytes(n) {
      if (n === null || n === undefined) return '';
      const u = BYTE_UNITS.find((b) => n >= b.size);
      return u ? units.get(u.unit)!.format(n / u.size) : units.get('byte')!.format(n);
    },
  };
  cache.set(locale, made);
  return made;
}
