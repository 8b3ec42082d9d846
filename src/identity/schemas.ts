import { z } from 'zod';
import { MAX_USERNAME_LENGTH } from './names';

/** Input of the identity services, checked the same way by the API's routes and the web forms. */

export const EmailSchema = z.string().email().max(254);
export const PasswordSchema = z.string().min(1).max(256);

/** How long a personal access token or a robot secret may live, in whole days. */
export const EXPIRY_DAYS = { min: 1, max: 3650 } as const;
export const ExpiresInDaysSchema = z.number().int().min(EXPIRY_DAYS.min).max(EXPIRY_DAYS.max);

export const CreateUserSchema = z
  .object({ username: z.string().max(MAX_USERNAME_LENGTH), password: PasswordSchema, email: EmailSchema.optional(), admin: z.boolean().optional() })
  .strict();

export const UpdateUserSchema = z.object({ email: EmailSchema.nullable().optional(), admin: z.boolean().optional(), disabled: z.boolean().optional() }).strict();

export const ChangePasswordSchema = z.object({ oldPassword: PasswordSchema.optional(), newPassword: PasswordSchema }).strict();

export const CreatePersonalTokenSchema = z.object({ name: z.string().max(64), expiresInDays: ExpiresInDaysSchema.optional() }).strict();
