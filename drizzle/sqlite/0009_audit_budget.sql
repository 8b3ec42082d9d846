CREATE TABLE `audit_budget` (
	`key` text PRIMARY KEY NOT NULL,
	`rows` integer NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `audit_budget_expires` ON `audit_budget` (`expires_at`);