PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_replication_policies` (
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
INSERT INTO `__new_replication_policies`("id", "name", "direction", "registry_id", "project_id", "filters", "destination", "override", "deletions", "trigger_type", "trigger_cron", "replicate_existing", "enabled", "concurrency", "bandwidth_kbps", "description", "created_by", "created_at", "updated_at") SELECT "id", "name", "direction", "registry_id", "project_id", "filters", "destination", "override", "deletions", "trigger_type", "trigger_cron", "replicate_existing", "enabled", "concurrency", "bandwidth_kbps", "description", "created_by", "created_at", "updated_at" FROM `replication_policies`;--> statement-breakpoint
DROP TABLE `replication_policies`;--> statement-breakpoint
ALTER TABLE `__new_replication_policies` RENAME TO `replication_policies`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE UNIQUE INDEX `replication_policies_name_unique` ON `replication_policies` (`name`);