import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { repositoryActions } from '../../src/access/resolve';
import { isValidRepositoryName } from '../../src/access/roles';
import { deleteImage, deleteRepository, deleteTag, taggedParents} from '../../src/artifacts/delete';
import { listTags, visibleRepository } from '../../src/artifacts/list';
import { findRepository, tagsOfDigest } from '../../src/artifacts/store';
import { AppError, forbidden, notFound } from '../../src/errors';
import { REGISTRY_DIGEST_RE, TAG_RE } from '../../src/events/envelope';
import { ctxOf, type AppContext, type AppEnv } from '../../src/http/env';
import { ConfirmPage } from '../pages/confirm';
import { ConfirmDeletePage, repositoryHref } from '../pages/repository';
import { errorText } from './page-errors';
import { field, formOf, render, signedInUser, view } from './request';

/** Whether the signed-in visitor may delete in a repository: the page offers the delete buttons only then. */
export const mayDelete = async (c: AppContext, repository: string) =>
  c.var.principal.kind === 'user' && (await repositoryActions(c.var.deps.db, c.var.principal, repository, c.var.deps.config.defaultProject.name)).includes('delete');

/** Deleting a tag, an image or a whole repository: a confirmation page, then the delete. */
export function deletionPages(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  /** The repository of a delete form or confirmation, checked: visible, and the caller may delete there. */
  const deletable = async (c: AppContext, name: string) => {
    signedInUser(c);
    if (!isValidRepositoryName(name)) throw notFound('repository.notFound', { name });
    const access = await visibleRepository(c.var.deps.db, c.var.principal, name);
    if (!await mayDelete(c, name)) throw forbidden('delete.roleNeeded');
    return access;
  };

  const afterDelete = async (c: AppContext, name: string, done: string, project: string) =>
    c.redirect(
      await findRepository(c.var.deps.db, name) ? `${repositoryHref(name)}?done=${done}` : `/projects/${encodeURIComponent(project)}?done=${done}`,
      303,
    );

  ui.get('/delete/tag', async (c) => {
    const name = c.req.query('repository') ?? '';
    const tag = c.req.query('tag') ?? '';
    const { repository } = await deletable(c, name);
    if (!TAG_RE.test(tag)) throw notFound('tag.notFound', { tag, repository: name });
    const known = (await listTags(ctxOf(c), name, { q: tag, accessories: true, page: 1, pageSize: 500 })).items.find((t) => t.name === tag);
    if (!known) throw notFound('tag.notFound', { tag, repository: name });
    const others = (await tagsOfDigest(c.var.deps.db, repository.id, known.digest)).filter((t) => t !== tag);
    return render(c, <ConfirmDeletePage v={view(c)} kind="tag" repository={name} tag={tag} digest={known.digest} otherTags={others} />);
  });

  ui.post('/delete/tag', async (c) => {
    const form = await formOf(c);
    const name = field(form, 'repository');
    const tag = field(form, 'tag');
    const { projectName } = await deletable(c, name);
    if (!TAG_RE.test(tag)) throw notFound('tag.notFound', { tag, repository: name });
    await deleteTag(ctxOf(c), name, tag);
    return afterDelete(c, name, 'tagDeleted', projectName);
  });

  /** The confirmation of an image delete: the tags that go with it and the tagged indexes that list it. */
  const imageConfirmation = async (c: AppContext, name: string, digest: string, extra: { error?: string; status?: ContentfulStatusCode } = {}) => {
    const { repository } = await deletable(c, name);
    if (!REGISTRY_DIGEST_RE.test(digest)) throw notFound('image.notFound', { digest, repository: name });
    const db = c.var.deps.db;
    const tags = (await tagsOfDigest(db, repository.id, digest)).sort();
    const indexes = [];
    for (const index of await taggedParents(db, repository.id, digest)) indexes.push({ digest: index, tags: (await tagsOfDigest(db, repository.id, index)).sort() });
    return render(
      c,
      <ConfirmDeletePage v={view(c)} kind="image" repository={name} digest={digest} otherTags={tags} indexes={indexes} error={extra.error} />,
      extra.status,
    );
  };

  ui.get('/delete/image', (c) => imageConfirmation(c, c.req.query('repository') ?? '', c.req.query('digest') ?? ''));

  ui.post('/delete/image', async (c) => {
    const form = await formOf(c);
    const name = field(form, 'repository');
    const digest = field(form, 'digest');
    const { projectName } = await deletable(c, name);
    if (!REGISTRY_DIGEST_RE.test(digest)) throw notFound('image.notFound', { digest, repository: name });
    try {
      await deleteImage(ctxOf(c), name, digest, { force: field(form, 'force') === 'true' });
    } catch (err) {
      // Refused while a tagged index lists the image: ask again, now with the reason and the checkbox.
      if (err instanceof AppError && err.status === 409) return imageConfirmation(c, name, digest, { error: errorText(view(c), err), status: 409 });
      throw err;
    }
    return afterDelete(c, name, 'imageDeleted', projectName);
  });

  ui.get('/delete/repository', async (c) => {
    const name = c.req.query('repository') ?? '';
    const { projectName } = await deletable(c, name);
    const v = view(c);
    const { t } = v.i18n;
    const { total } = await listTags(ctxOf(c), name, { accessories: true, page: 1, pageSize: 1 });
    return render(
      c,
      <ConfirmPage
        v={v}
        nav="projects"
        title={t('delete.repositoryTitle')}
        facts={[
          [t('repository.name'), name],
          [t('delete.project'), projectName],
        ]}
        warning={t('delete.repositoryWarning', { count: total })}
        action="/delete/repository"
        fields={{ repository: name }}
        button={t('delete.confirmRepository')}
        back={repositoryHref(name)}
      />,
    );
  });

  ui.post('/delete/repository', async (c) => {
    const form = await formOf(c);
    const name = field(form, 'repository');
    const { projectName } = await deletable(c, name);
    await deleteRepository(ctxOf(c), name);
    return afterDelete(c, name, 'repositoryDeleted', projectName);
  });

  return ui;
}
