CREATE TABLE `events_seen` (
	`id` text PRIMARY KEY NOT NULL,
	`received_at` text DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')) NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_seen_received` ON `events_seen` (`received_at`);