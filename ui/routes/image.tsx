import { Hono } from 'hono';
import { isValidRepositoryName } from '../../src/access/roles';
import { visibleRepository } from '../../src/artifacts/list';
import { imageDetails } from '../../src/artifacts/manifest-view';
import { notFound } from '../../src/errors';
import { REGISTRY_DIGEST_RE } from '../../src/events/envelope';
import { ctxOf, type AppEnv } from '../../src/http/env';
import { ImagePage } from '../pages/image';
import { render, view } from './request';

/** One image's page: /repositories/<name>/manifests/<digest>. */
export function imagePages(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  // One parameter for both parts: a repository pattern followed by more path is matched by the repository page otherwise.
  ui.get('/repositories/:path{.+/manifests/[^/]+}', async (c) => {
    const path = c.req.param('path');
    const at = path.lastIndexOf('/manifests/');
    const name = path.slice(0, at);
    const digest = path.slice(at + '/manifests/'.length);
    if (!isValidRepositoryName(name)) throw notFound('repository.notFound', { name });
    const { projectName } = await visibleRepository(c.var.deps.db, c.var.principal, name);
    if (!REGISTRY_DIGEST_RE.test(digest)) throw notFound('image.notFound', { digest, repository: name });
    const image = await imageDetails(ctxOf(c), name, digest);
    return render(c, <ImagePage v={view(c)} repository={name} project={projectName} image={image} />);
  });

  return ui;
}
