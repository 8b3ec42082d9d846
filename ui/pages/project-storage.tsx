import type { FC } from 'hono/jsx';
import { ActivityChart, type DayCounts } from '../components/activity-chart';
import { ListTable, Time } from '../components/common';
import { Layout } from '../components/layout';
import { ProjectTabs } from '../components/project-tabs';
import type { View } from '../view';
import { repositoryHref } from './repository';

export interface ProjectStorageProps {
  v: View;
  project: string;
  /** The project's computed usage; null when not computed yet. */
  usage: { usedBytes: number; usageAt: string } | null;
  limitBytes: number | null;
  largest: { name: string; bytes: number }[];
  days: DayCounts[];
}

/** Storage at a glance: usage against the quota, the largest repositories, pushes and pulls of the last days. */
export const ProjectStoragePage: FC<ProjectStorageProps> = ({ v, project, usage, limitBytes, largest, days }) => {
  const { t } = v.i18n;
  return (
    <Layout v={v} title={`${project} · ${t('projectTabs.storage')}`} nav="projects">
      <p class="crumbs">
        <a href="/projects">{t('nav.projects')}</a> / <a href={`/projects/${encodeURIComponent(project)}`}>{project}</a> /
      </p>
      <h1>{t('storage.title', { project })}</h1>
      <ProjectTabs v={v} project={project} here="storage" />
      <section class="card">
        <h2>{t('storage.used')}</h2>
        <dl class="facts">
          <dt>{t('storage.used')}</dt>
          <dd data-used={usage ? String(usage.usedBytes) : ''}>
            {usage ? v.i18n.bytes(usage.usedBytes) : <span class="muted">{t('storage.notComputed')}</span>}
          </dd>
          <dt>{t('storage.limit')}</dt>
          <dd>{limitBytes === null ? <span class="muted">{t('storage.noLimit')}</span> : v.i18n.bytes(limitBytes)}</dd>
          {usage && limitBytes ? (
            <>
              <dt>{t('storage.share')}</dt>
              <dd>
                <meter min={0} max={limitBytes} value={Math.min(usage.usedBytes, limitBytes)}>
                  {Math.round((usage.usedBytes / limitBytes) * 100)} %
                </meter>{' '}
                {Math.round((usage.usedBytes / limitBytes) * 100)} %
              </dd>
            </>
          ) : null}
          {usage ? (
            <>
              <dt>{t('storage.computedAt')}</dt>
              <dd>
                <Time v={v} iso={usage.usageAt} />
              </dd>
            </>
          ) : null}
        </dl>
      </section>
      <section class="card">
        <h2>{t('storage.largest')}</h2>
        <ListTable
          items={largest}
          empty={t('storage.noRepositories')}
          class="largest"
          head={
            <>
              <th>{t('repository.name')}</th>
              <th class="num">{t('repository.size')}</th>
            </>
          }
          row={(r) => (
            <tr>
              <td>
                <a href={repositoryHref(r.name)}>{r.name}</a>
              </td>
              <td class="num">{v.i18n.bytes(r.bytes)}</td>
            </tr>
          )}
        />
        <p class="muted small-text">{t('storage.largestNote')}</p>
      </section>
      <section class="card">
        <h2>{t('storage.activity', { days: days.length })}</h2>
        <ActivityChart v={v} days={days} />
      </section>
    </Layout>
  );
};
