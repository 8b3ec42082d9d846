DROP INDEX `events_seen_received`;--> statement-breakpoint
DROP INDEX `audit_fold_key`;--> statement-breakpoint
CREATE UNIQUE INDEX `audit_fold_key` ON `audit` (`fold_key`) WHERE "audit"."fold_key" IS NOT NULL;