import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { REPOSITORY_ACTIONS, type RepositoryAction } from '../../src/access/roles';
import { CreateSystemRobotSchema } from '../../src/access/schemas';
import { createSystemRobot, deleteSystemRobot, listSystemRobots, updateSystemRobot } from '../../src/access/system-robots';
import { AppError, badRequest } from '../../src/errors';
import { ctxOf, type AppContext, type AppEnv } from '../../src/http/env';
import { SystemRobotsPage, type SystemRobotDraft } from '../pages/system-robots';
import { errorText, statusOf } from './page-errors';
import { adminUser, badExpiry, expiryField, field, formInput, formOf, linesOf, noticeOf, pullHost, render, view } from './request';

/** System robots, for system admins: create (the secret shown once), disable or enable, delete. */
export function systemRobotPages(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  const robotsPage = async (c: AppContext, extra: { error?: string; created?: { name: string; secret: string }; draft?: SystemRobotDraft; status?: ContentfulStatusCode } = {}) => {
    const v = view(c, extra.error || extra.created ? '/robots' : undefined);
    const items = await listSystemRobots(ctxOf(c));
    return render(
      c,
      <SystemRobotsPage v={v} items={items} created={extra.created} registryHost={pullHost(c)} error={extra.error} notice={noticeOf(c, v)} draft={extra.draft} />,
      extra.status,
    );
  };

  ui.get('/robots', (c) => {
    adminUser(c);
    return robotsPage(c);
  });

  ui.post('/robots', async (c) => {
    adminUser(c);
    const form = await formOf(c);
    const wanted = (Array.isArray(form.permissions) ? form.permissions : [form.permissions]).filter((p): p is string => typeof p === 'string');
    const draft: SystemRobotDraft = {
      name: field(form, 'name').trim(),
      permissions: wanted,
      projects: field(form, 'projects'),
      allProjects: field(form, 'allProjects') === 'true',
      createProjects: field(form, 'createProjects') === 'true',
      expiresInDays: field(form, 'expiresInDays').trim(),
    };
    try {
      const input = formInput(
        CreateSystemRobotSchema,
        {
          name: draft.name,
          permissions: REPOSITORY_ACTIONS.filter((a) => wanted.includes(a)) as RepositoryAction[],
          projects: draft.allProjects ? '*' : linesOf(draft.projects),
          createProjects: draft.createProjects,
          ...expiryField(form),
        },
        { name: () => badRequest('robot.badName'), permissions: () => badRequest('robot.noPermissions'), expiresInDays: badExpiry, projects: () => badRequest('form.badProjects') },
      );
      const created = await createSystemRobot(ctxOf(c), input);
      // The secret is in this response only.
      return robotsPage(c, { created: { name: created.name, secret: created.secret } });
    } catch (err) {
      return robotsPage(c, { error: errorText(view(c), err), draft, status: statusOf(err) });
    }
  });

  /** A row's action: refusals other than a missing robot are shown on the list. */
  const robotAction = (path: string, action: (c: AppContext, robot: string, disabled: string) => Promise<unknown>, done: string) =>
    ui.post(path, async (c) => {
      adminUser(c);
      const form = await formOf(c);
      try {
        await action(c, field(form, 'robot'), field(form, 'disabled'));
      } catch (err) {
        if (err instanceof AppError && err.status === 404) throw err;
        return robotsPage(c, { error: errorText(view(c), err), status: statusOf(err) });
      }
      return c.redirect(`/robots?done=${done}`, 303);
    });

  robotAction(
    '/robots/update',
    async (c, robot, disabled) => {
      if (disabled !== 'true' && disabled !== 'false') throw badRequest('form.nothingToChange');
      await updateSystemRobot(ctxOf(c), robot, { disabled: disabled === 'true' });
    },
    'robotUpdated',
  );
  robotAction('/robots/delete', (c, robot) => deleteSystemRobot(ctxOf(c), robot), 'robotDeleted');

  return ui;
}
