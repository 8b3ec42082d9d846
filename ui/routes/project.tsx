import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { listGroupRoles, removeGroupRole, setGroupRole } from '../../src/access/groups';
import {
  assertDeletable,
  deleteProject,
  listMembers,
  lockedProjectAdmin,
  removeMember,
  seesMembers,
  setMember,
  updateProject,
  visibleProject,
} from '../../src/access/projects';
import { createRobot, deleteRobot, listRobots, updateRobot } from '../../src/access/robots';
import { REPOSITORY_ACTIONS, type RepositoryAction } from '../../src/access/roles';
import { CreateRobotSchema } from '../../src/access/schemas';
import { listRepositories } from '../../src/artifacts/list';
import { badRequest, forbidden } from '../../src/errors';
import { ctxOf, type AppContext, type AppEnv } from '../../src/http/env';
import { ConfirmPage } from '../pages/confirm';
import { ProjectPage, quotaFromForm } from '../pages/project';
import { getQuota, setQuota } from '../../src/storage/quota';
import { UI_PAGE_SIZE } from '../view';
import { errorText, projectGone, statusOf } from './page-errors';
import { badExpiry, expiryField, field, formInput, formOf, formRole, noticeOf, pageOf, pullHost, render, signedInUser, view, type Form } from './request';

/** One project's page: its repositories, members, directory groups, robots, settings, and deleting it. */
export function projectPages(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  const projectPage = async (
    c: AppContext,
    name: string,
    extra: { error?: string; status?: ContentfulStatusCode; createdRobot?: { name: string; secret: string }; leftovers?: string[] } = {},
  ) => {
    const { db, config } = c.var.deps;
    const principal = c.var.principal;
    const base = `/projects/${encodeURIComponent(name)}`;
    const v = view(c, extra.error || extra.createdRobot ? base : undefined);
    const access = await visibleProject(db, principal, name);
    const manages = access.canManage && principal.kind === 'user';
    const page = pageOf(c);
    const repos = await listRepositories(ctxOf(c), { project: name, page, pageSize: UI_PAGE_SIZE });
    return render(
      c,
      <ProjectPage
        v={v}
        project={access.project}
        role={access.role}
        canManage={manages}
        repositories={repos.items}
        repositoryTotal={repos.total}
        deletable={repos.total === 0 && name !== config.defaultProject.name}
        page={page}
        pageSize={UI_PAGE_SIZE}
        members={seesMembers(principal, access) ? await listMembers(ctxOf(c), name) : null}
        lockedMember={seesMembers(principal, access) ? ((await lockedProjectAdmin(db, principal, access.project.id))?.username ?? null) : null}
        groups={config.ldap.url && seesMembers(principal, access) ? await listGroupRoles(ctxOf(c), name) : []}
        ldap={!!config.ldap.url}
        registryHost={pullHost(c)}
        robots={manages ? await listRobots(ctxOf(c), name) : null}
        createdRobot={extra.createdRobot}
        error={extra.error}
        notice={noticeOf(c, v)}
        quota={seesMembers(principal, access) ? await getQuota(ctxOf(c), name) : null}
        canSetQuota={principal.kind === 'user' && principal.admin}
        warning={extra.leftovers?.length ? v.i18n.t('notice.leftoverRepositories', { count: extra.leftovers.length, names: extra.leftovers.join(', ') }) : null}
      />,
      extra.status,
    );
  };

  ui.get('/projects/:name', async (c) => {
    const name = c.req.param('name');
    // Right after creating: what the registry still holds under the name, asked again rather than taken from the link.
    if (c.req.query('done') !== 'projectCreatedLeftovers' || c.var.principal.kind !== 'user') return projectPage(c, name);
    await visibleProject(c.var.deps.db, c.var.principal, name);
    const leftovers = await c.var.deps.registry.catalogUnder(`${name}/`).catch(() => []);
    return projectPage(c, name, { leftovers });
  });

  /** Runs a project form's action; on refusal shows the project page again with the reason. */
  const projectAction = (path: string, action: (c: AppContext, name: string, form: Form) => Promise<unknown>, done: string) =>
    ui.post(path, async (c) => {
      signedInUser(c);
      const name = c.req.param('name')!;
      const form = await formOf(c);
      try {
        await action(c, name, form);
      } catch (err) {
        if (projectGone(err)) throw err;
        return projectPage(c, name, { error: errorText(view(c), err), status: statusOf(err) });
      }
      return c.redirect(`/projects/${encodeURIComponent(name)}?done=${done}`, 303);
    });

  projectAction(
    '/projects/:name/members',
    async (c, name, form) => {
      await setMember(ctxOf(c), name, field(form, 'username').trim(), formRole(form));
    },
    'memberSaved',
  );
  projectAction(
    '/projects/:name/members/remove',
    (c, name, form) => removeMember(ctxOf(c), name, field(form, 'username')),
    'memberRemoved',
  );
  projectAction(
    '/projects/:name/visibility',
    (c, name, form) => updateProject(ctxOf(c), name, { public: field(form, 'public') === 'true' }),
    'visibilitySaved',
  );

  projectAction(
    '/projects/:name/quota',
    (c, name, form) => setQuota(ctxOf(c), name, { limitBytes: quotaFromForm(field(form, 'limit'), field(form, 'unit')) }),
    'quotaSaved',
  );

  projectAction(
    '/projects/:name/robots/delete',
    (c, name, form) => deleteRobot(ctxOf(c), name, field(form, 'robot')),
    'robotDeleted',
  );

  projectAction(
    '/projects/:name/robots/update',
    async (c, name, form) => {
      const disabled = field(form, 'disabled');
      if (disabled !== 'true' && disabled !== 'false') throw badRequest('form.nothingToChange');
      await updateRobot(ctxOf(c), name, field(form, 'robot'), { disabled: disabled === 'true' });
    },
    'robotUpdated',
  );

  projectAction(
    '/projects/:name/groups',
    async (c, name, form) => {
      await setGroupRole(ctxOf(c), name, field(form, 'group').trim(), formRole(form));
    },
    'groupSaved',
  );
  projectAction(
    '/projects/:name/groups/remove',
    (c, name, form) => removeGroupRole(ctxOf(c), name, field(form, 'group')),
    'groupRemoved',
  );

  /** The second step before a project is deleted: only for those who manage it. */
  ui.get('/projects/:name/delete', async (c) => {
    signedInUser(c);
    const name = c.req.param('name');
    const access = await visibleProject(c.var.deps.db, c.var.principal, name);
    if (!access.canManage) throw forbidden('project.deleteNeedsAdmin');
    await assertDeletable(c.var.deps.db, access.project, c.var.deps.config.defaultProject.name);
    const v = view(c);
    const { t } = v.i18n;
    const base = `/projects/${encodeURIComponent(name)}`;
    return render(
      c,
      <ConfirmPage
        v={v}
        nav="projects"
        title={t('delete.projectTitle')}
        facts={[[t('projects.name'), name]]}
        warning={t('delete.projectWarning')}
        action={`${base}/delete`}
        fields={{}}
        button={t('delete.confirmProject')}
        back={base}
      />,
    );
  });

  ui.post('/projects/:name/delete', async (c) => {
    signedInUser(c);
    const name = c.req.param('name');
    try {
      await deleteProject(ctxOf(c), name);
    } catch (err) {
      if (projectGone(err)) throw err;
      return projectPage(c, name, { error: errorText(view(c), err), status: statusOf(err) });
    }
    return c.redirect('/projects?done=projectDeleted', 303);
  });

  ui.post('/projects/:name/robots', async (c) => {
    signedInUser(c);
    const name = c.req.param('name');
    const form = await formOf(c);
    const wanted = (Array.isArray(form.permissions) ? form.permissions : [form.permissions]).filter((p): p is string => typeof p === 'string');
    const permissions = REPOSITORY_ACTIONS.filter((a) => wanted.includes(a)) as RepositoryAction[];
    try {
      const input = formInput(CreateRobotSchema, { name: field(form, 'name').trim(), permissions, ...expiryField(form) }, {
        name: () => badRequest('robot.badName'),
        permissions: () => badRequest('robot.noPermissions'),
        expiresInDays: badExpiry,
      });
      const created = await createRobot(ctxOf(c), name, input);
      // The secret is in this response only.
      return projectPage(c, name, { createdRobot: { name: created.name, secret: created.secret } });
    } catch (err) {
      if (projectGone(err)) throw err;
      return projectPage(c, name, { error: errorText(view(c), err), status: statusOf(err) });
    }
  });

  return ui;
}
