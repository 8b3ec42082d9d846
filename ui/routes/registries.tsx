import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AppError, badRequest } from '../../src/errors';
import { ctxOf, type AppContext, type AppEnv } from '../../src/http/env';
import type { PingResult } from '../../src/replication/remote';
import {
  createRegistry,
  deleteRegistry,
  getRegistry,
  listRegistries,
  pingRegistry,
  REGISTRY_KINDS,
  updateRegistry,
  type RegistryInput,
  type RegistryKind,
} from '../../src/replication/registries';
import { ConfirmPage } from '../pages/confirm';
import { RegistriesPage, RegistryPage, type RegistryDraft } from '../pages/registries';
import { errorText, statusOf } from './page-errors';
import { adminUser, field, formOf, noticeOf, render, view, type Form } from './request';

const LIST = '/replication/registries';
const registryPath = (name: string) => `${LIST}/${encodeURIComponent(name)}`;

const draftOf = (form: Form): RegistryDraft => ({
  name: field(form, 'name').trim(),
  url: field(form, 'url').trim(),
  kind: field(form, 'kind'),
  username: field(form, 'username').trim(),
  caPem: field(form, 'caPem').trim(),
  insecure: field(form, 'insecure') === 'true',
  description: field(form, 'description').trim(),
});

const kindOf = (kind: string): RegistryKind => {
  if (!(REGISTRY_KINDS as readonly string[]).includes(kind)) throw badRequest('form.unknownKind');
  return kind as RegistryKind;
};

/** The registry fields of a form as the service takes them; empty text fields are none. */
const inputOf = (draft: RegistryDraft): Omit<RegistryInput, 'name' | 'password'> => ({
  url: draft.url,
  kind: kindOf(draft.kind),
  username: draft.username || null,
  caPem: draft.caPem || null,
  insecure: draft.insecure,
  description: draft.description || null,
});

/** Registries replication copies to and from, for system admins: add, edit, ping, delete. */
export function registryPages(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  const listPage = async (c: AppContext, extra: { error?: string; draft?: RegistryDraft; status?: ContentfulStatusCode } = {}) => {
    const v = view(c, extra.error ? LIST : undefined);
    const items = await listRegistries(ctxOf(c));
    return render(c, <RegistriesPage v={v} items={items} error={extra.error} notice={noticeOf(c, v)} draft={extra.draft} />, extra.status);
  };

  const registryPage = async (c: AppContext, name: string, extra: { error?: string; draft?: RegistryDraft; ping?: PingResult; status?: ContentfulStatusCode } = {}) => {
    const registry = await getRegistry(ctxOf(c), name);
    const v = view(c, extra.error || extra.ping ? registryPath(name) : undefined);
    return render(c, <RegistryPage v={v} registry={registry} draft={extra.draft} ping={extra.ping} error={extra.error} notice={noticeOf(c, v)} />, extra.status);
  };

  /** A missing registry is the 404 page; any other refusal is shown on the page it came from. */
  const gone = (err: unknown) => err instanceof AppError && err.key === 'registry.notFound';

  ui.get(LIST, (c) => {
    adminUser(c);
    return listPage(c);
  });

  ui.post(LIST, async (c) => {
    adminUser(c);
    const form = await formOf(c);
    const draft = draftOf(form);
    try {
      await createRegistry(ctxOf(c), { name: draft.name, ...inputOf(draft), password: field(form, 'password') || null });
    } catch (err) {
      return listPage(c, { error: errorText(view(c), err), draft, status: statusOf(err) });
    }
    return c.redirect(`${registryPath(draft.name)}?done=registryCreated`, 303);
  });

  ui.get(`${LIST}/:name`, (c) => {
    adminUser(c);
    return registryPage(c, c.req.param('name'));
  });

  ui.post(`${LIST}/:name`, async (c) => {
    adminUser(c);
    const name = c.req.param('name');
    const form = await formOf(c);
    const draft = { ...draftOf(form), name };
    const password = field(form, 'password');
    try {
      // An empty password field keeps the stored one; the checkbox clears it.
      const passwordChange = field(form, 'clearPassword') === 'true' ? { password: '' } : password ? { password } : {};
      await updateRegistry(ctxOf(c), name, { ...inputOf(draft), ...passwordChange });
    } catch (err) {
      if (gone(err)) throw err;
      return registryPage(c, name, { error: errorText(view(c), err), draft, status: statusOf(err) });
    }
    return c.redirect(`${registryPath(name)}?done=registryUpdated`, 303);
  });

  ui.post(`${LIST}/:name/ping`, async (c) => {
    adminUser(c);
    const name = c.req.param('name');
    const ping = await pingRegistry(ctxOf(c), name);
    return registryPage(c, name, { ping });
  });

  /** The second step before a registry is deleted. */
  ui.get(`${LIST}/:name/delete`, async (c) => {
    adminUser(c);
    const registry = await getRegistry(ctxOf(c), c.req.param('name'));
    const v = view(c);
    const { t } = v.i18n;
    const base = registryPath(registry.name);
    return render(
      c,
      <ConfirmPage
        v={v}
        nav="replication"
        title={t('delete.registryTitle')}
        facts={[
          [t('registries.name'), registry.name],
          [t('registries.url'), registry.url],
        ]}
        warning={t('delete.registryWarning')}
        action={`${base}/delete`}
        fields={{}}
        button={t('delete.confirmRegistry')}
        back={base}
      />,
    );
  });

  ui.post(`${LIST}/:name/delete`, async (c) => {
    adminUser(c);
    const name = c.req.param('name');
    try {
      await deleteRegistry(ctxOf(c), name);
    } catch (err) {
      if (gone(err)) throw err;
      return listPage(c, { error: errorText(view(c), err), status: statusOf(err) });
    }
    return c.redirect(`${LIST}?done=registryDeleted`, 303);
  });

  return ui;
}
