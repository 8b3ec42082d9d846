import type { FC } from 'hono/jsx';
import { Badge, ErrorBox, ListTable, Notice, PostForm, Time } from '../components/common';
import { Layout } from '../components/layout';
import type { View } from '../view';
import type { GcRun } from '../../src/storage/gc';
import { formatBytes } from '../../src/storage/gates';

export interface GcPageProps {
  v: View;
  supervised: boolean;
  command: string;
  runs: GcRun[];
  schedule: { cron: string; deleteUntagged: boolean };
  notice?: string | null;
  error?: string | null;
}

const StatusOf: FC<{ v: View; status: GcRun['status'] }> = ({ v, status }) => (
  <Badge kind={status === 'succeeded' ? 'ok' : status === 'failed' ? 'bad' : 'warn'}>{v.i18n.t(`gc.status.${status}`)}</Badge>
);

/** Garbage collection of the registry: run now, the schedule, the runs. */
export const GcPage: FC<GcPageProps> = ({ v, supervised, command, runs, schedule, notice, error }) => {
  const { t } = v.i18n;
  return (
    <Layout v={v} title={t('gc.title')} nav="system">
      <p>
        <a href="/system">{t('system.title')}</a>
      </p>
      <h1>{t('gc.title')}</h1>
      <Notice message={notice} />
      <ErrorBox message={error} />
      <p class="muted">{t('gc.help')}</p>
      <section class="card">
        <h2>{t('gc.runNow')}</h2>
        {supervised ? (
          <PostForm v={v} action="/system/gc">
            <label>
              <input type="checkbox" name="dryRun" value="true" checked /> {t('gc.dryRun')}
            </label>
            <label>
              <input type="checkbox" name="deleteUntagged" value="true" /> {t('gc.deleteUntagged')}
            </label>
            <p class="muted small-text">{t('gc.deleteUntaggedHelp')}</p>
            <button type="submit">{t('gc.start')}</button>
          </PostForm>
        ) : (
          <p data-gc="not-supervised">
            {t('gc.notSupervised')} <code>{command}</code>
          </p>
        )}
      </section>
      <section class="card">
        <h2>{t('gc.schedule')}</h2>
        <PostForm v={v} action="/system/gc/schedule">
          <label>
            {t('gc.cron')} <input type="text" name="cron" value={schedule.cron} maxlength={200} placeholder="0 3 * * 0" />
          </label>
          <p class="muted small-text">{t('gc.cronHelp')}</p>
          <label>
            <input type="checkbox" name="deleteUntagged" value="true" checked={schedule.deleteUntagged} /> {t('gc.deleteUntagged')}
          </label>
          <button type="submit">{t('gc.saveSchedule')}</button>
        </PostForm>
      </section>
      <section class="card">
        <h2>{t('gc.runs')}</h2>
        <ListTable
          items={runs}
          empty={t('gc.none')}
          head={
            <>
              <th>{t('gc.id')}</th>
              <th>{t('gc.statusLabel')}</th>
              <th>{t('gc.kind')}</th>
              <th>{t('gc.manifests')}</th>
              <th>{t('gc.blobs')}</th>
              <th>{t('gc.bytes')}</th>
              <th>{t('gc.started')}</th>
              <th>{t('gc.finished')}</th>
            </>
          }
          row={(r) => (
            <tr data-gc-run={r.id}>
              <td>
                <a href={`/system/gc/${r.id}`}>#{r.id}</a>
              </td>
              <td>
                <StatusOf v={v} status={r.status} />
              </td>
              <td>
                {r.dryRun ? t('gc.dryRunShort') : t('gc.realRun')}
                {r.deleteUntagged ? `, ${t('gc.untaggedShort')}` : ''}
              </td>
              <td>{r.manifestsDeleted}</td>
              <td>{r.blobsDeleted}</td>
              <td>{formatBytes(r.bytesFreed)}</td>
              <td>
                <Time v={v} iso={r.startedAt} />
              </td>
              <td>
                <Time v={v} iso={r.finishedAt} />
              </td>
            </tr>
          )}
        />
      </section>
    </Layout>
  );
};

/** One run with the registry's output. */
export const GcRunPage: FC<{ v: View; run: GcRun & { log: string } }> = ({ v, run }) => {
  const { t } = v.i18n;
  return (
    <Layout v={v} title={t('gc.runTitle', { id: run.id })} nav="system">
      <p>
        <a href="/system/gc">{t('gc.title')}</a>
      </p>
      <h1>{t('gc.runTitle', { id: run.id })}</h1>
      <dl class="facts">
        <dt>{t('gc.statusLabel')}</dt>
        <dd>
          <StatusOf v={v} status={run.status} />
        </dd>
        <dt>{t('gc.kind')}</dt>
        <dd>{run.dryRun ? t('gc.dryRunShort') : t('gc.realRun')}</dd>
        <dt>{t('gc.manifests')}</dt>
        <dd>{run.manifestsDeleted}</dd>
        <dt>{t('gc.blobs')}</dt>
        <dd>{run.blobsDeleted}</dd>
        <dt>{t('gc.bytes')}</dt>
        <dd>{formatBytes(run.bytesFreed)}</dd>
      </dl>
      <ErrorBox message={run.error} />
      <h2>{t('gc.log')}</h2>
      <pre class="log">{run.log}</pre>
    </Layout>
  );
};
