CREATE TABLE `job_executions` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`kind` text NOT NULL,
	`subject_id` integer,
	`subject` text,
	`trigger` text NOT NULL,
	`dry_run` integer DEFAULT false NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`error` text,
	`concurrency` integer DEFAULT 4 NOT NULL,
	`stop_requested` integer DEFAULT false NOT NULL,
	`created_by` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`started_at` text,
	`finished_at` text
);
--> statement-breakpoint
CREATE INDEX `job_executions_kind` ON `job_executions` (`kind`,`subject_id`,`id`);--> statement-breakpoint
CREATE INDEX `job_executions_status` ON `job_executions` (`status`);--> statement-breakpoint
CREATE TABLE `job_tasks` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`execution_id` integer NOT NULL,
	`payload` text NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`reason` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`bytes` integer DEFAULT 0 NOT NULL,
	`error` text,
	`checkpoint` text,
	`lease_owner` text,
	`locked_until` integer,
	`not_before` integer,
	`started_at` text,
	`finished_at` text,
	FOREIGN KEY (`execution_id`) REFERENCES `job_executions`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `job_tasks_execution` ON `job_tasks` (`execution_id`,`status`);--> statement-breakpoint
CREATE INDEX `job_tasks_claim` ON `job_tasks` (`status`,`not_before`);--> statement-breakpoint
CREATE TABLE `registries` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`url` text NOT NULL,
	`kind` text NOT NULL,
	`username` text,
	`password_sealed` text,
	`ca_pem` text,
	`insecure` integer DEFAULT false NOT NULL,
	`description` text,
	`created_by` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `registries_name_unique` ON `registries` (`name`);--> statement-breakpoint
CREATE TABLE `replication_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`policy_id` integer NOT NULL,
	`operation` text NOT NULL,
	`repository` text NOT NULL,
	`tag` text,
	`digest` text,
	`seen_at` integer NOT NULL,
	FOREIGN KEY (`policy_id`) REFERENCES `replication_policies`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `replication_events_policy` ON `replication_events` (`policy_id`,`seen_at`);--> statement-breakpoint
CREATE TABLE `replication_policies` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`direction` text NOT NULL,
	`registry_id` integer NOT NULL,
	`project_id` integer NOT NULL,
	`filters` text DEFAULT '{}' NOT NULL,
	`destination` text,
	`override` integer DEFAULT true NOT NULL,
	`deletions` integer DEFAULT false NOT NULL,
	`trigger_type` text NOT NULL,
	`trigger_cron` text,
	`replicate_existing` integer DEFAULT true NOT NULL,
	`enabled` integer DEFAULT true NOT NULL,
	`concurrency` integer DEFAULT 4 NOT NULL,
	`bandwidth_kbps` integer,
	`description` text,
	`created_by` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	FOREIGN KEY (`registry_id`) REFERENCES `registries`(`id`) ON UPDATE no action ON DELETE restrict,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `replication_policies_name_unique` ON `replication_policies` (`name`);--> statement-breakpoint
CREATE TABLE `system_robots` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`secret_hash` text NOT NULL,
	`permissions` text NOT NULL,
	`projects` text NOT NULL,
	`create_projects` integer DEFAULT false NOT NULL,
	`disabled` integer DEFAULT false NOT NULL,
	`expires_at` text,
	`created_by` text,
	`created_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`last_used_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `system_robots_name_unique` ON `system_robots` (`name`);--> statement-breakpoint
CREATE UNIQUE INDEX `system_robots_secret` ON `system_robots` (`secret_hash`);