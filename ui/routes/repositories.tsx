import { Hono } from 'hono';
import { isValidRepositoryName } from '../../src/access/roles';
import { listTags, visibleRepository } from '../../src/artifacts/list';
import { accessoryKindsByDigest } from '../../src/artifacts/accessory-store';
import { notFound } from '../../src/errors';
import { ctxOf, type AppEnv } from '../../src/http/env';
import { RepositoryPage, type TagRow } from '../pages/repository';
import { UI_PAGE_SIZE } from '../view';
import { mayDelete } from './deletion';
import { noticeOf, pageOf, pullHost, queryText, render, view } from './request';

/** A repository's page: its tags with pull commands, sizes, platforms and pulls. */
export function repositoryPages(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  ui.get('/repositories/:name{.+}', async (c) => {
    const name = c.req.param('name');
    if (!isValidRepositoryName(name)) throw notFound('repository.notFound', { name });
    const { db } = c.var.deps;
    const v = view(c);
    const { repository, projectName } = await visibleRepository(db, c.var.principal, name);
    const q = queryText(c, 'q', 128);
    const page = pageOf(c);
    const { items, total } = await listTags(ctxOf(c), name, { q: q || undefined, page, pageSize: UI_PAGE_SIZE });
    // Accessory tags are left out of the list and shown with their image instead.
    const accessories = Object.fromEntries(await accessoryKindsByDigest(db, repository.id, items.map((t) => t.digest)));
    return render(
      c,
      <RepositoryPage
        v={v}
        name={name}
        project={projectName}
        tags={items as TagRow[]}
        accessories={accessories}
        total={total}
        q={q}
        page={page}
        pageSize={UI_PAGE_SIZE}
        canDelete={await mayDelete(c, name)}
        registryHost={pullHost(c)}
        pullCount={repository.pullCount}
        lastPulledAt={repository.lastPulledAt}
        notice={noticeOf(c, v)}
      />,
    );
  });

  return ui;
}
