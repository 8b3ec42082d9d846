import { z } from 'zod';
import { ExpiresInDaysSchema } from '../identity/schemas';
import { REPOSITORY_ACTIONS, ROLES } from './roles';

/** Input of the access services, checked the same way by the API's routes and the web forms. */

export const RoleSchema = z.enum(ROLES);

export const CreateProjectSchema = z.object({ name: z.string().max(300), public: z.boolean().optional() }).strict();

export const UpdateProjectSchema = z.object({ public: z.boolean().optional() }).strict();

/** A member's or a directory group's role in a project. */
export const RoleInputSchema = z.object({ role: RoleSchema }).strict();

export const CreateRobotSchema = z
  .object({
    name: z.string().max(64),
    permissions: z.array(z.enum(REPOSITORY_ACTIONS)).min(1).max(3),
    expiresInDays: ExpiresInDaysSchema.optional(),
  })
  .strict();

export const UpdateRobotSchema = z.object({ disabled: z.boolean().optional() }).strict();

/** A system robot's projects: every one, or a list of existing project names. */
const RobotProjectsSchema = z.union([z.literal('*'), z.array(z.string().min(1).max(300)).max(1000)]);

export const CreateSystemRobotSchema = z
  .object({
    name: z.string().max(64),
    permissions: z.array(z.enum(REPOSITORY_ACTIONS)).min(1).max(3),
    projects: RobotProjectsSchema,
    createProjects: z.boolean().optional(),
    expiresInDays: ExpiresInDaysSchema.optional(),
  })
  .strict();

export const UpdateSystemRobotSchema = z
  .object({
    disabled: z.boolean().optional(),
    projects: RobotProjectsSchema.optional(),
    permissions: z.array(z.enum(REPOSITORY_ACTIONS)).min(1).max(3).optional(),
  })
  .strict();
