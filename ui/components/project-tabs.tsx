import type { FC } from 'hono/jsx';
import type { View } from '../view';

export type ProjectTab = 'overview' | 'storage' | 'retention' | 'immutability';

/** The links between a project's pages: the project itself, its storage, retention and immutability. */
export const ProjectTabs: FC<{ v: View; project: string; here: ProjectTab }> = ({ v, project, here }) => {
  const { t } = v.i18n;
  const base = `/projects/${encodeURIComponent(project)}`;
  const tabs: [ProjectTab, string, string][] = [
    ['overview', t('projectTabs.overview'), base],
    ['storage', t('projectTabs.storage'), `${base}/storage`],
    ['retention', t('projectTabs.retention'), `${base}/retention`],
    ['immutability', t('projectTabs.immutability'), `${base}/immutability`],
  ];
  return (
    <nav class="tabs" aria-label={t('projectTabs.label')}>
      {tabs.map(([key, label, href]) => (
        <a href={href} class={key === here ? 'active' : undefined} aria-current={key === here ? 'page' : undefined}>
          {label}
        </a>
      ))}
    </nav>
  );
};
