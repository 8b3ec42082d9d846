import type { FC } from 'hono/jsx';
import { ConfirmButtons, ErrorBox, ListTable, Notice, Pager, PostForm, SearchForm, ShortDigest, Time } from '../components/common';
import { Layout } from '../components/layout';
import type { View } from '../view';

export interface TagRow {
  name: string;
  digest: string;
  mediaType: string | null;
  size: number | null;
  platforms: { os: string; architecture: string; variant?: string }[];
  pushedAt: string;
  pushedBy: string | null;
  pullCount: number;
  lastPulledAt: string | null;
}

export interface RepositoryProps {
  v: View;
  name: string;
  project: string;
  tags: TagRow[];
  /** Kinds of accessory (signature, attestation, sbom) per digest, shown with the image's tags. */
  accessories?: Record<string, string[]>;
  total: number;
  q: string;
  page: number;
  pageSize: number;
  canDelete: boolean;
  registryHost: string;
  pullCount: number;
  lastPulledAt: string | null;
  error?: string | null;
  notice?: string | null;
}

export const repositoryHref = (name: string) => `/repositories/${name.split('/').map(encodeURIComponent).join('/')}`;

const platformText = (p: { os: string; architecture: string; variant?: string }) => [p.os, p.architecture, p.variant].filter(Boolean).join('/');

export const RepositoryPage: FC<RepositoryProps> = (props) => {
  const { v, name, project, tags, total, q, page, pageSize, canDelete, registryHost, pullCount, lastPulledAt, error, notice, accessories = {} } = props;
  const { t } = v.i18n;
  const here = repositoryHref(name);
  return (
    <Layout v={v} title={name} nav="projects">
      <p class="crumbs">
        <a href="/projects">{t('nav.projects')}</a> / <a href={`/projects/${encodeURIComponent(project)}`}>{project}</a> /
      </p>
      <div class="page-head">
        <h1>{name}</h1>
        <p class="muted">
          {t('repository.pulls')}: {v.i18n.number(pullCount)} · {t('repository.lastPull')}: <Time v={v} iso={lastPulledAt} />
        </p>
      </div>
      <ErrorBox message={error} />
      <Notice message={notice} />
      <div class="page-head">
        <h2>{t('repository.tagsHeading', { count: total })}</h2>
        <SearchForm v={v} action={here} id="tag-q" q={q} label={t('repository.searchTags')} />
      </div>
      {q ? <p class="muted">{t('repository.resultsFor', { q, count: total })}</p> : null}
      <ListTable
        items={tags}
        empty={q ? t('repository.noMatch') : t('repository.noTags')}
        class="tags"
        bodies
        head={
          <>
            <th>{t('repository.tag')}</th>
            <th>{t('repository.digest')}</th>
            <th class="num">{t('repository.size')}</th>
            <th>{t('repository.platforms')}</th>
            <th>{t('repository.pushed')}</th>
            <th class="num">{t('repository.pulls')}</th>
            <th>{t('repository.lastPull')}</th>
            {canDelete ? <th>{t('common.actions')}</th> : null}
          </>
        }
        row={(tag) => {
        const command = `docker pull ${registryHost}/${name}:${tag.name}`;
        return (
          <tbody data-tag={tag.name}>
            <tr>
              <td>
                <a href={`${here}/manifests/${tag.digest}`} title={t('image.details')}>
                  <strong class="tag-name">{tag.name}</strong>
                </a>
                {accessories[tag.digest]?.length ? (
                  <div class="muted small-text accessory-kinds">
                    {t('image.hasAccessories', { kinds: accessories[tag.digest]!.map((k) => t(`image.kind.${k}` as 'image.kind.other')).join(', ') })}
                  </div>
                ) : null}
              </td>
              <td>
                <ShortDigest digest={tag.digest} />
              </td>
              <td class="num">{tag.size === null ? <span class="muted">{t('common.unknown')}</span> : v.i18n.bytes(tag.size)}</td>
              <td>{tag.platforms.length ? tag.platforms.map(platformText).join(', ') : <span class="muted">{t('common.unknown')}</span>}</td>
              <td>
                <Time v={v} iso={tag.pushedAt} />
                <div class="muted small-text">{tag.pushedBy ? t('repository.by', { user: tag.pushedBy }) : null}</div>
              </td>
              <td class="num">{v.i18n.number(tag.pullCount)}</td>
              <td>
                <Time v={v} iso={tag.lastPulledAt} />
              </td>
              {canDelete ? (
                <td class="actions">
                  <a
                    class="button danger small"
                    href={`/delete/tag?${new URLSearchParams({ repository: name, tag: tag.name }).toString()}`}
                  >
                    {t('repository.deleteTag')}
                  </a>{' '}
                  <a
                    class="button danger small outline"
                    href={`/delete/image?${new URLSearchParams({ repository: name, digest: tag.digest }).toString()}`}
                  >
                    {t('repository.deleteImage')}
                  </a>
                </td>
              ) : null}
            </tr>
            <tr class="cmd-row">
              <td colspan={canDelete ? 8 : 7}>
                <div class="pull-cmd">
                  <code data-copy="" data-copy-label={t('common.copy')} data-copied-label={t('common.copied')}>
                    {command}
                  </code>
                </div>
              </td>
            </tr>
          </tbody>
        );
        }}
      />
      <Pager v={v} path={here} query={{ q }} page={page} pageSize={pageSize} total={total} />
      <p class="muted small-text">{t('repository.hostNote', { host: registryHost })}</p>
      {canDelete ? (
        <section class="card">
          <p class="inline-form">
            <span>{t('delete.repositoryHelp')}</span>
            <a class="button danger" href={`/delete/repository?${new URLSearchParams({ repository: name }).toString()}`}>
              {t('repository.deleteRepository')}
            </a>
          </p>
        </section>
      ) : null}
    </Layout>
  );
};

export interface ConfirmDeleteProps {
  v: View;
  kind: 'tag' | 'image';
  repository: string;
  tag?: string;
  digest: string;
  /** Tags that stay (deleting one tag) or that go with it (deleting an image). */
  otherTags: string[];
  /** Tagged indexes that list the image as one of their platforms (deleting an image only). */
  indexes?: { digest: string; tags: string[] }[];
  error?: string | null;
}

export const ConfirmDeletePage: FC<ConfirmDeleteProps> = ({ v, kind, repository, tag, digest, otherTags, indexes = [], error }) => {
  const { t } = v.i18n;
  const back = repositoryHref(repository);
  const title = kind === 'tag' ? t('delete.tagTitle') : t('delete.imageTitle');
  return (
    <Layout v={v} title={title} nav="projects">
      <section class="card narrow">
        <h1>{title}</h1>
        <ErrorBox message={error} />
        <dl class="facts">
          <dt>{t('repository.name')}</dt>
          <dd>{repository}</dd>
          {tag !== undefined ? (
            <>
              <dt>{t('repository.tag')}</dt>
              <dd>{tag}</dd>
            </>
          ) : null}
          <dt>{t('repository.digest')}</dt>
          <dd>
            <code class="digest-full">{digest}</code>
          </dd>
        </dl>
        {kind === 'tag' ? (
          otherTags.length > 0 ? (
            <p>
              {t('delete.tagOthersStay')} <strong class="tag-list">{otherTags.join(', ')}</strong>
            </p>
          ) : (
            <p class="alert alert-warn">{t('delete.tagIsLast')}</p>
          )
        ) : otherTags.length > 0 ? (
          <p class="alert alert-warn">
            {t('delete.imageTagsGo')} <strong class="tag-list">{otherTags.join(', ')}</strong>
          </p>
        ) : (
          <p>{t('delete.imageUntagged')}</p>
        )}
        {indexes.map((index) => (
          <p class="alert alert-warn">{t('delete.imageInIndex', { index: index.digest, tags: index.tags.join(', ') })}</p>
        ))}
        <PostForm v={v} action={kind === 'tag' ? '/delete/tag' : '/delete/image'} class="inline-form">
          <input type="hidden" name="repository" value={repository} />
          {tag !== undefined ? <input type="hidden" name="tag" value={tag} /> : null}
          <input type="hidden" name="digest" value={digest} />
          {indexes.length > 0 ? (
            <label class="check">
              <input type="checkbox" name="force" value="true" required />
              {t('delete.force')}
            </label>
          ) : null}
          <ConfirmButtons v={v} label={kind === 'tag' ? t('delete.confirmTag') : t('delete.confirmImage')} back={back} />
        </PostForm>
      </section>
    </Layout>
  );
};
