import { MAX_USERNAME_LENGTH } from '../identity/names';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import {
  createProjectReportingLeftovers,
  deleteProject,
  listMembers,
  listProjects,
  projectView,
  removeMember,
  repositoryCount,
  setMember,
  updateProject,
  visibleProject,
} from '../access/projects';
import { REPOSITORY_ACTIONS } from '../access/roles';
import { CreateProjectSchema, CreateRobotSchema, RoleInputSchema, RoleSchema, UpdateProjectSchema, UpdateRobotSchema } from '../access/schemas';
import { createRobot, deleteRobot, listRobots, updateRobot } from '../access/robots';
import { listGroupRoles, removeGroupRole, setGroupRole } from '../access/groups';
import { ctxOf, type AppEnv } from '../http/env';
import { authRequired, json, jsonBody, listOf, PageQuery, pick, requireProjectCreator, requireUser, security } from './route-kit';

const Role = RoleSchema;

export const ProjectSchema = z
  .object({
    name: z.string(),
    public: z.boolean(),
    createdBy: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    role: Role.nullable().optional().openapi({ description: "The caller's role in the project" }),
    repositoryCount: z.number().int().optional(),
  })
  .openapi('Project');

const ProjectCreatedSchema = ProjectSchema.extend({
  leftoverRepositories: z
    .array(z.string())
    .optional()
    .openapi({ description: 'Present when the registry still lists repositories under this name, left by an earlier project of the same name' }),
  leftoverNote: z.string().optional().openapi({ description: 'What the leftover repositories mean and what to do about them' }),
}).openapi('ProjectCreated');

const leftoverNote = (n: number) =>
  `the registry still holds ${n} ${n === 1 ? 'repository' : 'repositories'} of an earlier project with this name; their images are deleted, but their layers stay in the registry until garbage collection runs, and anyone who may pull here can read them by digest`;

const MemberSchema = z.object({ username: z.string(), role: Role }).openapi('Member');

const RobotSchema = z
  .object({
    name: z.string().openapi({ example: 'robot$team+ci' }),
    permissions: z.array(z.enum(REPOSITORY_ACTIONS)),
    disabled: z.boolean(),
    expiresAt: z.string().nullable(),
    createdBy: z.string().nullable(),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable(),
  })
  .openapi('Robot');
const RobotCreatedSchema = RobotSchema.extend({ secret: z.string().openapi({ description: 'Shown once' }) }).openapi('RobotCreated');

const ProjectParam = z.object({ project: z.string().min(1).max(300).openapi({ example: 'team' }) });
const MemberParam = ProjectParam.extend({ username: z.string().min(1).max(MAX_USERNAME_LENGTH) });

const tags = ['projects'];

export function projectRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/projects',
      tags,
      summary: 'Create a project; a user creator becomes its projectAdmin, a system robot with createProjects covers it',
      security: authRequired,
      request: { body: jsonBody(CreateProjectSchema) },
      responses: { 201: json(ProjectCreatedSchema, 'Created'), ...pick(400, 401, 403, 409) },
    }),
    async (c) => {
      const creator = requireProjectCreator(c);
      const { project, leftoverRepositories } = await createProjectReportingLeftovers(ctxOf(c), c.req.valid('json'));
      const leftovers = leftoverRepositories?.length ? { leftoverRepositories, leftoverNote: leftoverNote(leftoverRepositories.length) } : {};
      const role = creator.kind === 'user' ? 'projectAdmin' : null;
      return c.json({ ...projectView(project, { role, repositoryCount: 0 }), ...leftovers }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/projects',
      tags,
      summary: 'Projects the caller can see',
      security,
      request: { query: PageQuery.extend({ q: z.string().max(128).optional() }) },
      responses: { 200: json(listOf(ProjectSchema, 'ProjectList')), ...pick(400, 401) },
    }),
    async (c) => {
      const { db } = c.var.deps;
      const { items, total } = await listProjects(ctxOf(c), c.req.valid('query'));
      const views = [];
      for (const i of items) views.push(projectView(i.project, { role: i.role, repositoryCount: await repositoryCount(db, i.project.id) }));
      return c.json({ items: views, total }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/projects/{project}',
      tags,
      summary: 'Get a project',
      security,
      request: { params: ProjectParam },
      responses: { 200: json(ProjectSchema), ...pick(401, 404) },
    }),
    async (c) => {
      const { db } = c.var.deps;
      const { project, role } = await visibleProject(db, c.var.principal, c.req.valid('param').project);
      return c.json(projectView(project, { role, repositoryCount: await repositoryCount(db, project.id) }), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/projects/{project}',
      tags,
      summary: 'Change project settings (projectAdmin)',
      security: authRequired,
      request: { params: ProjectParam, body: jsonBody(UpdateProjectSchema) },
      responses: { 200: json(ProjectSchema), ...pick(400, 401, 403, 404) },
    }),
    async (c) => {
      requireUser(c);
      const project = await updateProject(ctxOf(c), c.req.valid('param').project, c.req.valid('json'));
      return c.json(projectView(project), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/projects/{project}',
      tags,
      summary: 'Delete an empty project (projectAdmin)',
      security: authRequired,
      request: { params: ProjectParam },
      responses: { 204: { description: 'Deleted' }, ...pick(401, 403, 404, 409) },
    }),
    async (c) => {
      requireUser(c);
      await deleteProject(ctxOf(c), c.req.valid('param').project);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/projects/{project}/members',
      tags,
      summary: 'Members of a project and their roles (for its members and system admins)',
      security,
      request: { params: ProjectParam },
      responses: { 200: json(z.array(MemberSchema)), ...pick(401, 403, 404) },
    }),
    async (c) => {
      const rows = await listMembers(ctxOf(c), c.req.valid('param').project);
      return c.json(
        rows.map((r) => ({ username: r.username, role: r.role })),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/projects/{project}/members/{username}',
      tags,
      summary: 'Add a member or change their role (projectAdmin)',
      security: authRequired,
      request: { params: MemberParam, body: jsonBody(RoleInputSchema) },
      responses: { 200: json(MemberSchema), ...pick(400, 401, 403, 404) },
    }),
    async (c) => {
      requireUser(c);
      const { project, username } = c.req.valid('param');
      const member = await setMember(ctxOf(c), project, username, c.req.valid('json').role);
      return c.json(member, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/projects/{project}/members/{username}',
      tags,
      summary: 'Remove a member (projectAdmin)',
      security: authRequired,
      request: { params: MemberParam },
      responses: { 204: { description: 'Removed' }, ...pick(401, 403, 404) },
    }),
    async (c) => {
      requireUser(c);
      const { project, username } = c.req.valid('param');
      await removeMember(ctxOf(c), project, username);
      return c.body(null, 204);
    },
  );

  const GroupSchema = z.object({ group: z.string(), role: Role }).openapi('GroupRole');
  const GroupParam = ProjectParam.extend({ group: z.string().min(1).max(256).openapi({ description: "The directory group's name (cn)" }) });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/projects/{project}/groups',
      tags: ['groups'],
      summary: 'Directory (LDAP) groups with a role in the project (for its members and system admins)',
      security,
      request: { params: ProjectParam },
      responses: { 200: json(z.array(GroupSchema)), ...pick(401, 403, 404) },
    }),
    async (c) => c.json(await listGroupRoles(ctxOf(c), c.req.valid('param').project), 200),
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/projects/{project}/groups/{group}',
      tags: ['groups'],
      summary: "Give a directory group a role in the project (projectAdmin); its members' effective role is their highest",
      security: authRequired,
      request: { params: GroupParam, body: jsonBody(RoleInputSchema) },
      responses: { 200: json(GroupSchema), ...pick(400, 401, 403, 404) },
    }),
    async (c) => {
      const { project, group } = c.req.valid('param');
      requireUser(c);
      return c.json(await setGroupRole(ctxOf(c), project, group, c.req.valid('json').role), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/projects/{project}/groups/{group}',
      tags: ['groups'],
      summary: "Remove a directory group's role (projectAdmin)",
      security: authRequired,
      request: { params: GroupParam },
      responses: { 204: { description: 'Removed' }, ...pick(401, 403, 404) },
    }),
    async (c) => {
      const { project, group } = c.req.valid('param');
      requireUser(c);
      await removeGroupRole(ctxOf(c), project, group);
      return c.body(null, 204);
    },
  );

  const RobotParam = ProjectParam.extend({ name: z.string().min(1).max(200).openapi({ description: 'Short name or robot$<project>+<name>' }) });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/projects/{project}/robots',
      tags: ['robots'],
      summary: 'Create a robot account (projectAdmin); the secret is shown once',
      security: authRequired,
      request: {
        params: ProjectParam,
        body: jsonBody(CreateRobotSchema),
      },
      responses: { 201: json(RobotCreatedSchema, 'Created'), ...pick(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      requireUser(c);
      return c.json(await createRobot(ctxOf(c), c.req.valid('param').project, c.req.valid('json')), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/projects/{project}/robots',
      tags: ['robots'],
      summary: 'Robot accounts of a project, without secrets (projectAdmin)',
      security: authRequired,
      request: { params: ProjectParam },
      responses: { 200: json(z.array(RobotSchema)), ...pick(401, 403, 404) },
    }),
    async (c) => {
      requireUser(c);
      return c.json(await listRobots(ctxOf(c), c.req.valid('param').project), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/projects/{project}/robots/{name}',
      tags: ['robots'],
      summary: 'Disable or enable a robot account (projectAdmin)',
      security: authRequired,
      request: { params: RobotParam, body: jsonBody(UpdateRobotSchema) },
      responses: { 200: json(RobotSchema), ...pick(400, 401, 403, 404) },
    }),
    async (c) => {
      const { project, name } = c.req.valid('param');
      requireUser(c);
      return c.json(await updateRobot(ctxOf(c), project, name, c.req.valid('json')), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/projects/{project}/robots/{name}',
      tags: ['robots'],
      summary: 'Delete a robot account (projectAdmin); its secret stops working at once',
      security: authRequired,
      request: { params: RobotParam },
      responses: { 204: { description: 'Deleted' }, ...pick(401, 403, 404) },
    }),
    async (c) => {
      const { project, name } = c.req.valid('param');
      requireUser(c);
      await deleteRobot(ctxOf(c), project, name);
      return c.body(null, 204);
    },
  );

  return app;
}
