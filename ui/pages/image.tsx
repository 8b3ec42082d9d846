import type { FC } from 'hono/jsx';
import type { ImageView } from '../../src/artifacts/manifest-view';
import { ListTable, Time } from '../components/common';
import { Layout } from '../components/layout';
import type { View } from '../view';
import { repositoryHref } from './repository';

/** Config values longer than this are cut on the page (the API has them whole, up to its own bound). */
const SHOWN_CHARS = 200;
const cut = (s: string) => (s.length > SHOWN_CHARS ? `${s.slice(0, SHOWN_CHARS)}…` : s);

export const imageHref = (repository: string, digest: string) => `${repositoryHref(repository)}/manifests/${digest}`;

const platformText = (p: { os: string; architecture: string; variant?: string }) => [p.os, p.architecture, p.variant].filter(Boolean).join('/');

/** What an image is made of: its config, layers, build history, tags, platform images and accessories. */
export const ImagePage: FC<{ v: View; repository: string; project: string; image: ImageView }> = ({ v, repository, project, image }) => {
  const { t } = v.i18n;
  const c = image.config;
  const list = (items: string[] | null) => (items && items.length ? <code>{cut(items.join(' '))}</code> : <span class="muted">{t('common.none')}</span>);
  return (
    <Layout v={v} title={`${repository}@${image.digest.slice(0, 19)}`} nav="projects">
      <p class="crumbs">
        <a href="/projects">{t('nav.projects')}</a> / <a href={`/projects/${encodeURIComponent(project)}`}>{project}</a> /{' '}
        <a href={repositoryHref(repository)}>{repository}</a> /
      </p>
      <h1>{t('image.title')}</h1>
      <dl class="facts">
        <dt>{t('repository.digest')}</dt>
        <dd>
          <code class="digest-full">{image.digest}</code>
        </dd>
        <dt>{t('image.mediaType')}</dt>
        <dd>{image.mediaType}</dd>
        <dt>{t('repository.size')}</dt>
        <dd>{image.size === null ? t('common.unknown') : v.i18n.bytes(image.size)}</dd>
        <dt>{t('image.tags')}</dt>
        <dd class="tag-list">{image.tags.length ? image.tags.join(', ') : <span class="muted">{t('image.untagged')}</span>}</dd>
        <dt>{t('repository.platforms')}</dt>
        <dd>{image.platforms.length ? image.platforms.map(platformText).join(', ') : <span class="muted">{t('common.unknown')}</span>}</dd>
      </dl>
      {c ? (
        <section class="card">
          <h2>{t('image.config')}</h2>
          <dl class="facts">
            <dt>{t('image.created')}</dt>
            <dd>{c.created ? <Time v={v} iso={c.created} /> : <span class="muted">{t('common.unknown')}</span>}</dd>
            <dt>{t('image.entrypoint')}</dt>
            <dd>{list(c.entrypoint)}</dd>
            <dt>{t('image.cmd')}</dt>
            <dd>{list(c.cmd)}</dd>
            <dt>{t('image.exposedPorts')}</dt>
            <dd>{c.exposedPorts.length ? c.exposedPorts.join(', ') : <span class="muted">{t('common.none')}</span>}</dd>
          </dl>
          <h3>{t('image.env')}</h3>
          {c.env.length ? (
            <ul class="env">
              {c.env.map((e) => (
                <li>
                  <code>{cut(e)}</code>
                </li>
              ))}
            </ul>
          ) : (
            <p class="muted">{t('common.none')}</p>
          )}
          <h3>{t('image.labels')}</h3>
          <ListTable
            items={Object.entries(c.labels)}
            empty={t('common.none')}
            class="labels"
            head={
              <>
                <th>{t('image.label')}</th>
                <th>{t('image.value')}</th>
              </>
            }
            row={([k, value]) => (
              <tr>
                <td>
                  <code>{cut(k)}</code>
                </td>
                <td>{cut(value)}</td>
              </tr>
            )}
          />
        </section>
      ) : null}
      {image.children.length ? (
        <section class="card">
          <h2>{t('image.platformImages')}</h2>
          <ListTable
            items={image.children}
            class="children"
            head={
              <>
                <th>{t('repository.platforms')}</th>
                <th>{t('repository.digest')}</th>
                <th class="num">{t('repository.size')}</th>
              </>
            }
            row={(ch) => (
              <tr>
                <td>{ch.platform ? platformText(ch.platform) : t('common.unknown')}</td>
                <td>
                  <a href={imageHref(repository, ch.digest)}>
                    <code>{ch.digest}</code>
                  </a>
                </td>
                <td class="num">{ch.size === null ? t('common.unknown') : v.i18n.bytes(ch.size)}</td>
              </tr>
            )}
          />
        </section>
      ) : null}
      {image.layers.length ? (
        <section class="card">
          <h2>{t('image.layers', { count: image.layers.length })}</h2>
          <ListTable
            items={image.layers}
            class="layers"
            head={
              <>
                <th>{t('repository.digest')}</th>
                <th>{t('image.mediaType')}</th>
                <th class="num">{t('repository.size')}</th>
              </>
            }
            row={(l) => (
              <tr>
                <td>
                  <code>{l.digest}</code>
                </td>
                <td>{l.mediaType ?? ''}</td>
                <td class="num">{v.i18n.bytes(l.size)}</td>
              </tr>
            )}
          />
        </section>
      ) : null}
      {image.history.length ? (
        <section class="card">
          <h2>{t('image.history')}</h2>
          <ListTable
            items={image.history}
            class="history"
            head={
              <>
                <th>{t('image.created')}</th>
                <th>{t('image.createdBy')}</th>
              </>
            }
            row={(h) => (
              <tr>
                <td>{h.created ? <Time v={v} iso={h.created} /> : ''}</td>
                <td>
                  <code>{cut(h.createdBy ?? '')}</code>
                  {h.emptyLayer ? <span class="muted small-text"> ({t('image.emptyLayer')})</span> : null}
                </td>
              </tr>
            )}
          />
        </section>
      ) : null}
      <section class="card">
        <h2>{t('image.accessories')}</h2>
        <ListTable
          items={image.accessories}
          empty={t('image.noAccessories')}
          class="accessories"
          head={
            <>
              <th>{t('image.kind')}</th>
              <th>{t('repository.tag')}</th>
              <th>{t('repository.digest')}</th>
            </>
          }
          row={(a) => (
            <tr>
              <td>{t(`image.kind.${a.kind}`)}</td>
              <td>{a.tag ?? ''}</td>
              <td>
                <a href={imageHref(repository, a.digest)}>
                  <code>{a.digest}</code>
                </a>
              </td>
            </tr>
          )}
        />
      </section>
    </Layout>
  );
};
