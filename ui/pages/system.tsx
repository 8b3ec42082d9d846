import type { FC } from 'hono/jsx';
import { Badge, ErrorBox, Notice, PostForm, Time } from '../components/common';
import { Layout } from '../components/layout';
import type { View } from '../view';
import type { ReadOnlyView } from '../../src/storage/read-only';

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
  readOnly?: ReadOnlyView;
  error?: string | null;
}

export const SystemPage: FC<SystemProps> = ({ v, health, facts, reconcile, now, notice, readOnly, error }) => {
  const { t } = v.i18n;
  const state = (ok: boolean, label: string) => <Badge kind={ok ? 'ok' : 'bad'}>{label}</Badge>;
  return (
    <Layout v={v} title={t('system.title')} nav="system">
      <h1>{t('system.title')}</h1>
      <ErrorBox message={error} />
      <Notice message={notice} />
      {readOnly ? <ReadOnlySection v={v} state={readOnly} /> : null}
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

/** The read-only window: its state, and the admin's switch (on with a reason, or off). */
const ReadOnlySection: FC<{ v: View; state: ReadOnlyView }> = ({ v, state }) => {
  const { t } = v.i18n;
  const manual = state.readOnly && (state.gc === null || state.by !== null);
  return (
    <section class="card" id="read-only">
      <h2>{t('readOnly.title')}</h2>
      <p class="muted">{t('readOnly.help')}</p>
      {state.readOnly ? (
        <p data-read-only="on">
          <Badge kind="warn">{t('readOnly.on')}</Badge> {state.reason ? t('readOnly.reason', { reason: state.reason }) : null} {state.by ? t('readOnly.by', { by: state.by }) : null}{' '}
          <Time v={v} iso={state.since} />
        </p>
      ) : (
        <p data-read-only="off">
          <Badge kind="ok">{t('readOnly.off')}</Badge>
        </p>
      )}
      {state.gc ? <p>{t('readOnly.gcHolds', { id: state.gc.executionId })}</p> : null}
      {manual ? (
        <PostForm v={v} action="/system/read-only">
          <input type="hidden" name="readOnly" value="false" />
          <button type="submit">{t('readOnly.turnOff')}</button>
        </PostForm>
      ) : (
        <PostForm v={v} action="/system/read-only">
          <input type="hidden" name="readOnly" value="true" />
          <label>
            {t('readOnly.reasonLabel')} <input type="text" name="reason" maxlength={200} size={40} />
          </label>{' '}
          <button type="submit">{t('readOnly.turnOn')}</button>
        </PostForm>
      )}
    </section>
  );
};
