import { isoTime } from '../clock';
import type { Ctx } from '../context';
import { transaction } from '../db/transaction';
import { badRequest } from '../errors';
import { recordAudit } from '../audit/record';
import { managedProject } from '../access/projects';
import { globProblem } from '../replication/filters';
import { parseGlobRules } from './gates';
import type { GlobRule } from './rules';
import { storageRulesChanged } from './gates';
import { projectStorageOf, updateProjectStorage } from './store';

/** How many immutability rules one project may hold. */
export const IMMUTABILITY_RULES_MAX = 50;

export interface ImmutabilityView {
  rules: GlobRule[];
}

/** Rules as stored: the two globs of each, nothing else. */
const normalized = (rules: readonly GlobRule[]): GlobRule[] => rules.map((r) => ({ repositories: r.repositories, tags: r.tags }));

/** 400 naming the first rule (by index) and field whose glob is not one a rule may hold. */
export function assertImmutabilityRules(rules: readonly GlobRule[]): void {
  if (rules.length > IMMUTABILITY_RULES_MAX) throw badRequest('immutability.tooMany', { max: IMMUTABILITY_RULES_MAX });
  rules.forEach((rule, index) => {
    for (const field of ['repositories', 'tags'] as const) {
      const glob = rule[field];
      const problem = typeof glob === 'string' ? globProblem(glob, field === 'tags' ? 'tag' : 'repository') : 'not a string';
      if (problem) throw badRequest('immutability.badGlob', { field: `rules[${index}].${field}`, glob: String(glob), problem });
    }
  });
}

/** The project's immutability rules (projectAdmin or system admin; 404 when the caller cannot see the project, 403 when they only see it). */
export async function getRules(ctx: Ctx, project: string): Promise<ImmutabilityView> {
  const { project: p } = await managedProject(ctx.db, ctx.principal, project);
  return { rules: normalized(parseGlobRules((await projectStorageOf(ctx.db, p.id))?.immutabilityRules)) };
}

/** Replaces the project's immutability rules, audited `immutability_set` with the old and new rules; bad input changes nothing. */
export async function setRules(ctx: Ctx, project: string, input: { rules: GlobRule[] }): Promise<ImmutabilityView> {
  const committed = await transaction(ctx.db, async (tx) => {
    const { project: p } = await managedProject(tx, ctx.principal, project);
    assertImmutabilityRules(input.rules);
    const rules = normalized(input.rules);
    const old = normalized(parseGlobRules((await projectStorageOf(tx, p.id))?.immutabilityRules));
    const at = isoTime(ctx.clock.now());
    await updateProjectStorage(tx, p.id, { immutabilityRules: JSON.stringify(rules), updatedAt: at, updatedBy: ctx.actor.username });
    await recordAudit(tx, {
      username: ctx.actor.username,
      action: 'immutability_set',
      resourceType: 'project',
      resource: p.name,
      project: p.name,
      sourceIp: ctx.actor.ip ?? null,
      userAgent: ctx.actor.userAgent ?? null,
      detail: JSON.stringify({ old, new: rules }),
    });
    return { rules };
  });
  // After the commit too: a token request between the change and its commit cached the old rules.
  storageRulesChanged();
  return committed;
}
