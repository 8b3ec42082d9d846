import type { FC } from 'hono/jsx';
import { Badge, ErrorBox, ListTable, Notice, PostForm, Time } from '../components/common';
import { Layout } from '../components/layout';
import { ReplicationTabs } from '../components/replication-tabs';
import type { View } from '../view';
import type { PingResult } from '../../src/replication/remote';
import { REGISTRY_KINDS, type RegistryView } from '../../src/replication/registries';

/** What the registry form shows again after a refusal: what was typed, never the password. */
export interface RegistryDraft {
  name: string;
  url: string;
  kind: string;
  username: string;
  caPem: string;
  insecure: boolean;
  description: string;
}

export const registryDraftOf = (r: RegistryView): RegistryDraft => ({
  name: r.name,
  url: r.url,
  kind: r.kind,
  username: r.username ?? '',
  caPem: r.caPem ?? '',
  insecure: r.insecure,
  description: r.description ?? '',
});

const registryPath = (name: string) => `/replication/registries/${encodeURIComponent(name)}`;

/** The fields of the add and edit forms; on edit the name is fixed and an empty password keeps the stored one. */
const RegistryFields: FC<{ v: View; draft: RegistryDraft | undefined; editing: RegistryView | null }> = ({ v, draft, editing }) => {
  const { t } = v.i18n;
  return (
    <div class="form-grid">
      {editing ? null : (
        <label>
          {t('registries.name')}
          <input name="name" required maxlength={128} autocomplete="off" value={draft?.name ?? ''} />
        </label>
      )}
      <label>
        {t('registries.url')}
        <input name="url" type="url" required maxlength={2048} autocomplete="off" placeholder="https://registry.example.org" value={draft?.url ?? ''} />
      </label>
      <label>
        {t('registries.kind')}
        <select name="kind">
          {REGISTRY_KINDS.map((k) => (
            <option value={k} selected={(draft?.kind ?? 'distribution') === k}>
              {t(`registries.kind.${k}`)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t('registries.username')}
        <input name="username" maxlength={255} autocomplete="off" value={draft?.username ?? ''} />
      </label>
      <label>
        {t('registries.password')}
        <input name="password" type="password" maxlength={4096} autocomplete="new-password" placeholder={editing?.hasPassword ? t('registries.passwordKept') : ''} />
      </label>
      {editing?.hasPassword ? (
        <label class="check">
          <input type="checkbox" name="clearPassword" value="true" />
          {t('registries.clearPassword')}
        </label>
      ) : null}
      <label class="check">
        <input type="checkbox" name="insecure" value="true" checked={draft?.insecure ?? false} />
        {t('registries.insecure')}
      </label>
      <label class="wide">
        {t('registries.description')}
        <input name="description" maxlength={1024} autocomplete="off" value={draft?.description ?? ''} />
      </label>
      <label class="wide">
        {t('registries.caPem')}
        <textarea name="caPem" rows={4} placeholder="-----BEGIN CERTIFICATE-----">
          {draft?.caPem ?? ''}
        </textarea>
      </label>
    </div>
  );
};

export const RegistriesPage: FC<{ v: View; items: RegistryView[]; error?: string | null; notice?: string | null; draft?: RegistryDraft }> = ({
  v,
  items,
  error,
  notice,
  draft,
}) => {
  const { t } = v.i18n;
  return (
    <Layout v={v} title={t('registries.title')} nav="replication">
      <h1>{t('registries.title')}</h1>
      <ReplicationTabs v={v} here="registries" />
      <ErrorBox message={error} />
      <Notice message={notice} />
      <ListTable
        items={items}
        empty={t('registries.none')}
        head={
          <>
            <th>{t('registries.name')}</th>
            <th>{t('registries.url')}</th>
            <th>{t('registries.kind')}</th>
            <th>{t('registries.username')}</th>
            <th>{t('registries.updated')}</th>
            <th>{t('common.actions')}</th>
          </>
        }
        row={(r) => (
          <tr data-registry={r.name}>
            <td>
              <a href={registryPath(r.name)}>{r.name}</a>
            </td>
            <td class="wrap">
              <code>{r.url}</code> {r.insecure ? <Badge kind="warn">{t('registries.insecureBadge')}</Badge> : null}
            </td>
            <td>{t(`registries.kind.${r.kind}`)}</td>
            <td>{r.username ?? <span class="muted">{t('common.none')}</span>}</td>
            <td>
              <Time v={v} iso={r.updatedAt} />
            </td>
            <td class="actions">
              <PostForm v={v} action={`${registryPath(r.name)}/ping`} class="row-form">
                <button type="submit" class="secondary small">
                  {t('registries.ping')}
                </button>
              </PostForm>
              <a href={registryPath(r.name)} class="button secondary small">
                {t('registries.edit')}
              </a>
              <a href={`${registryPath(r.name)}/delete`} class="button danger small">
                {t('registries.delete')}
              </a>
            </td>
          </tr>
        )}
      />
      <section class="card">
        <h2>{t('registries.add')}</h2>
        <PostForm v={v} action="/replication/registries">
          <RegistryFields v={v} draft={draft} editing={null} />
          <div class="form-buttons">
            <button type="submit">{t('registries.addButton')}</button>
          </div>
        </PostForm>
      </section>
    </Layout>
  );
};

export const RegistryPage: FC<{ v: View; registry: RegistryView; draft?: RegistryDraft; ping?: PingResult | null; error?: string | null; notice?: string | null }> = ({
  v,
  registry,
  draft,
  ping,
  error,
  notice,
}) => {
  const { t } = v.i18n;
  const base = registryPath(registry.name);
  return (
    <Layout v={v} title={registry.name} nav="replication">
      <p class="crumbs">
        <a href="/replication/registries">{t('registries.title')}</a>
      </p>
      <h1>{registry.name}</h1>
      <ReplicationTabs v={v} here="registries" />
      <ErrorBox message={error} />
      <Notice message={notice} />
      <section class="card">
        <h2>{t('registries.ping')}</h2>
        {ping ? (
          <dl class="facts" data-ping={ping.ok ? 'ok' : 'failed'}>
            <dt>{t('registries.pingResult')}</dt>
            <dd>{ping.ok ? <Badge kind="ok">{t('registries.pingOk')}</Badge> : <Badge kind="bad">{t('registries.pingFailed')}</Badge>}</dd>
            <dt>{t('registries.pingAuth')}</dt>
            <dd>{t(`registries.auth.${ping.auth}`)}</dd>
            {ping.error ? (
              <>
                <dt>{t('registries.pingError')}</dt>
                <dd>
                  <pre class="error-text">{ping.error}</pre>
                </dd>
              </>
            ) : null}
          </dl>
        ) : (
          <p class="muted">{t('registries.pingHelp')}</p>
        )}
        <PostForm v={v} action={`${base}/ping`}>
          <button type="submit" class="secondary">
            {t('registries.ping')}
          </button>
        </PostForm>
      </section>
      <section class="card">
        <h2>{t('registries.editTitle')}</h2>
        <PostForm v={v} action={base}>
          <RegistryFields v={v} draft={draft ?? registryDraftOf(registry)} editing={registry} />
          <div class="form-buttons">
            <button type="submit">{t('registries.save')}</button>
            <a href={`${base}/delete`} class="button danger">
              {t('registries.delete')}
            </a>
          </div>
        </PostForm>
      </section>
    </Layout>
  );
};
