import type { FC } from 'hono/jsx';
import type { View } from '../view';

export type ReplicationTab = 'policies' | 'registries' | 'executions';

/** The links between the replication pages: policies, registries, executions. */
export const ReplicationTabs: FC<{ v: View; here: ReplicationTab }> = ({ v, here }) => {
  const { t } = v.i18n;
  const tabs: [ReplicationTab, string][] = [
    ['policies', t('replication.policies')],
    ['registries', t('replication.registries')],
    ['executions', t('replication.executions')],
  ];
  return (
    <nav class="tabs" aria-label={t('nav.replication')}>
      {tabs.map(([key, label]) => (
        <a href={`/replication/${key}`} class={key === here ? 'active' : undefined} aria-current={key === here ? 'page' : undefined}>
          {label}
        </a>
      ))}
    </nav>
  );
};
