import type { Tables } from '../../src/db/engine';
import * as pgTables from '../../src/db/schema-pg';
import * as sqliteTables from '../../src/db/schema';
import { onPostgres } from './test-database';

/**
 * The tables of the engine this run's test instances are on, for tests that read or arrange rows
 * through `deps.db` (typed as SQLite's: the row types are the same). A test that opens its own
 * SQLite file imports src/db/schema instead.
 */
export const {
  users,
  projects,
  members,
  refreshTokens,
  audit,
  settings,
  repositories,
  manifests,
  tags,
  eventsSeen,
  robots,
  personalTokens,
  userGroups,
  groupMembers,
  sessions,
  loginThrottle,
  tokenGrants,
  auditBudget,
  repositoryChanges,
  registries,
  replicationPolicies,
  systemRobots,
  jobExecutions,
  jobTasks,
  projectActivity,
  projectStorage,
  manifestBlobs,
  webhooks,
  webhookDeliveries,
  auditCursors,
}: Tables = onPostgres ? (pgTables as unknown as Tables) : sqliteTables;
