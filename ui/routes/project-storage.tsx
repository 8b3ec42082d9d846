import { Hono } from 'hono';
import { memberVisibleProject } from '../../src/access/projects';
import { largestRepositories, projectActivitySince } from '../../src/storage/activity-store';
import { lastDays } from '../../src/storage/activity';
import { projectStorageOf } from '../../src/storage/store';
import type { AppEnv } from '../../src/http/env';
import { ProjectStoragePage } from '../pages/project-storage';
import { render, view } from './request';

const ACTIVITY_DAYS = 30;

/** A project's storage at a glance, for its members and system admins (as the quota API): usage and activity are not for every visitor of a public project. */
export function projectStoragePages(): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  ui.get('/projects/:name/storage', async (c) => {
    const { db, clock } = c.var.deps;
    const { project } = await memberVisibleProject(db, c.var.principal, c.req.param('name'));
    const days = lastDays(clock.now(), ACTIVITY_DAYS);
    const [row, largest, activity] = await Promise.all([
      projectStorageOf(db, project.id),
      largestRepositories(db, project.id, 10),
      projectActivitySince(db, project.id, days[0]!),
    ]);
    const byDay = new Map(activity.map((a) => [a.day, a]));
    return render(
      c,
      <ProjectStoragePage
        v={view(c)}
        project={project.name}
        usage={row?.usageAt ? { usedBytes: row.usedBytes, usageAt: row.usageAt } : null}
        limitBytes={row?.quotaLimitBytes ?? null}
        largest={largest}
        days={days.map((day) => ({ day, pushes: byDay.get(day)?.pushes ?? 0, pulls: byDay.get(day)?.pulls ?? 0 }))}
      />,
    );
  });

  return ui;
}
