CREATE TABLE `manifest_blobs` (
	`repository_id` integer NOT NULL,
	`manifest_digest` text NOT NULL,
	`blob_digest` text NOT NULL,
	`size` integer NOT NULL,
	PRIMARY KEY(`repository_id`, `manifest_digest`, `blob_digest`),
	FOREIGN KEY (`repository_id`) REFERENCES `repositories`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `manifest_blobs_blob` ON `manifest_blobs` (`blob_digest`);--> statement-breakpoint
CREATE TABLE `project_activity` (
	`project_id` integer NOT NULL,
	`day` text NOT NULL,
	`pushes` integer DEFAULT 0 NOT NULL,
	`pulls` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`project_id`, `day`),
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `project_storage` (
	`project_id` integer PRIMARY KEY NOT NULL,
	`retention_rules` text,
	`retention_untagged` text DEFAULT 'keep' NOT NULL,
	`retention_cron` text,
	`immutability_rules` text DEFAULT '[]' NOT NULL,
	`quota_limit_bytes` integer,
	`used_bytes` integer DEFAULT 0 NOT NULL,
	`usage_at` text,
	`updated_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL,
	`updated_by` text,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `storage_state` (
	`id` integer PRIMARY KEY DEFAULT 1 NOT NULL,
	`read_only` integer DEFAULT false NOT NULL,
	`read_only_since` text,
	`read_only_reason` text,
	`read_only_by` text,
	`gc_execution_id` integer,
	`gc_since` text,
	`push_tokens_until_ms` integer DEFAULT 0 NOT NULL,
	`gc_cron` text,
	`gc_delete_untagged` integer DEFAULT false NOT NULL
);
--> statement-breakpoint
ALTER TABLE `job_executions` ADD `result` text;--> statement-breakpoint
ALTER TABLE `manifests` ADD `subject` text;--> statement-breakpoint
INSERT INTO `storage_state` (`id`) VALUES (1);