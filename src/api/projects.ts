import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import {
  createProject,
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
import { ROLES } from '../access/roles';
import { actorOf, type AppEnv } from '../http/env';
import { authRequired, json, jsonBody, listOf, PageQuery, pick, requireUser, security } from './common';

const Role = z.enum(ROLES);

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

const MemberSchema = z.object({ username: z.string(), role: Role }).openapi('Member');

const ProjectParam = z.object({ project: z.string().min(1).max(300).openapi({ example: 'team' }) });
const MemberParam = ProjectParam.extend({ username: z.string().min(1).max(64) });

const tags = ['projects'];

export function projectRoutes() {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/projects',
      tags,
      summary: 'Create a project; the creator becomes its projectAdmin',
      security: authRequired,
      request: { body: jsonBody(z.object({ name: z.string().max(300), public: z.boolean().optional() }).strict()) },
      responses: { 201: json(ProjectSchema, 'Created'), ...pick(400, 401, 403, 409) },
    }),
    (c) => {
      const me = requireUser(c);
      const project = createProject(c.var.deps.db, me, c.req.valid('json'), actorOf(c));
      return c.json(projectView(project, { role: 'projectAdmin', repositoryCount: 0 }), 201);
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
    (c) => {
      const { db } = c.var.deps;
      const { items, total } = listProjects(db, c.var.principal, c.req.valid('query'));
      return c.json(
        { items: items.map((i) => projectView(i.project, { role: i.role, repositoryCount: repositoryCount(db, i.project.id) })), total },
        200,
      );
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
    (c) => {
      const { db } = c.var.deps;
      const { project, role } = visibleProject(db, c.var.principal, c.req.valid('param').project);
      return c.json(projectView(project, { role, repositoryCount: repositoryCount(db, project.id) }), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/projects/{project}',
      tags,
      summary: 'Change project settings (projectAdmin)',
      security: authRequired,
      request: { params: ProjectParam, body: jsonBody(z.object({ public: z.boolean().optional() }).strict()) },
      responses: { 200: json(ProjectSchema), ...pick(400, 401, 403, 404) },
    }),
    (c) => {
      const me = requireUser(c);
      const project = updateProject(c.var.deps.db, me, c.req.valid('param').project, c.req.valid('json'), actorOf(c));
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
    (c) => {
      const me = requireUser(c);
      const { db, config } = c.var.deps;
      deleteProject(db, me, c.req.valid('param').project, config.defaultProject.name, actorOf(c));
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/projects/{project}/members',
      tags,
      summary: 'Members of a project and their roles',
      security,
      request: { params: ProjectParam },
      responses: { 200: json(z.array(MemberSchema)), ...pick(401, 404) },
    }),
    (c) => {
      const rows = listMembers(c.var.deps.db, c.var.principal, c.req.valid('param').project);
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
      request: { params: MemberParam, body: jsonBody(z.object({ role: Role }).strict()) },
      responses: { 200: json(MemberSchema), ...pick(400, 401, 403, 404) },
    }),
    (c) => {
      const me = requireUser(c);
      const { project, username } = c.req.valid('param');
      const member = setMember(c.var.deps.db, me, project, username, c.req.valid('json').role, actorOf(c));
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
    (c) => {
      const me = requireUser(c);
      const { project, username } = c.req.valid('param');
      removeMember(c.var.deps.db, me, project, username, actorOf(c));
      return c.body(null, 204);
    },
  );

  return app;
}
