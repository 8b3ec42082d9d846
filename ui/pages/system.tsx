import type { FC } from 'hono/jsx';
import { Badge, Notice, PostForm, Time } from '../components/common';
import { Layout } from '../components/layout';
import type { View } from '../view';

export interface SystemProps {
  v: View;
  health: { database: 'ok' | 'error'; registry: 'ok' | 'unreachable'; ldap: 'ok' | 'degraded' | 'disabled' };
  facts: { publicUrl: string; registryUrl: string; registryHost: string; defaultProject: string };
  reconcile: {
    running: boolean;
    last: { repositories: number; tags: number; added: number; removed: number; repaired: number; durationMs: number } | null;
  };
  now: string;
  notice?: string | null;
}

export const SystemPage: FC<SystemProps> = ({ v, health, facts, reconcile, now, notice }) => {
  const { t } = v.i18n;
  const state = (ok: boolean, label: string) => <Badge kind={ok ? 'ok' : 'bad'}>{label}</Badge>;
  return (
    <Layout v={v} title={t('system.title')} nav="system">
      <h1>{t('system.title')}</h1>
      <Notice message={notice} />
      <section class="card">
        <h2>{t('system.health')}</h2>
        <p class="muted small-text">
          {t('system.checkedAt')} <Time v={v} iso={now} />
        </p>
        <table class="list health">
          <tbody>
            <tr>
              <th>{t('system.database')}</th>
              <td data-health="database">{state(health.database === 'ok', health.database === 'ok' ? t('system.ok') : t('system.error'))}</td>
            </tr>
            <tr>
              <th>{t('system.registry')}</th>
              <td data-health="registry">{state(health.registry === 'ok', health.registry === 'ok' ? t('system.ok') : t('system.unreachable'))}</td>
            </tr>
            <tr>
              <th>{t('system.ldap')}</th>
              <td data-health="ldap">
                {health.ldap === 'disabled' ? (
                  <span class="muted">{t('system.notConfigured')}</span>
                ) : health.ldap === 'ok' ? (
                  state(true, t('system.ok'))
                ) : (
                  <Badge kind="warn">{t('system.unreachable')}</Badge>
                )}
              </td>
            </tr>
          </tbody>
        </table>
      </section>
      <section class="card">
        <h2>{t('system.configuration')}</h2>
        <dl class="facts">
          <dt>{t('system.publicUrl')}</dt>
          <dd>
            <code>{facts.publicUrl}</code>
          </dd>
          <dt>{t('system.registryUrl')}</dt>
          <dd>
            <code>{facts.registryUrl}</code>
          </dd>
          <dt>{t('system.registryHost')}</dt>
          <dd>
            <code>{facts.registryHost}</code>
          </dd>
          <dt>{t('system.defaultProject')}</dt>
          <dd>{facts.defaultProject}</dd>
        </dl>
      </section>
      <section class="card">
        <h2>{t('system.reconcile')}</h2>
        <p class="muted">{t('system.reconcileHelp')}</p>
        {reconcile.running ? <p>{t('system.reconcileRunning')}</p> : null}
        {reconcile.last ? (
          <p>
            {t('system.lastReconcile', {
              repositories: reconcile.last.repositories,
              tags: reconcile.last.tags,
              added: reconcile.last.added,
              removed: reconcile.last.removed,
              repaired: reconcile.last.repaired,
              ms: reconcile.last.durationMs,
            })}
          </p>
        ) : (
          <p class="muted">{t('system.noReconcileYet')}</p>
        )}
        <PostForm v={v} action="/system/reconcile">
          <button type="submit">{t('system.reconcileNow')}</button>
        </PostForm>
      </section>
      <section class="card">
        <h2>{t('gc.title')}</h2>
        <p class="muted">{t('gc.help')}</p>
        <p>
          <a href="/system/gc">{t('gc.open')}</a>
        </p>
      </section>
    </Layout>
  );
};
