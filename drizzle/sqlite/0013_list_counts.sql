ALTER TABLE `projects` ADD `repository_count` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `repositories` ADD `tag_count` integer DEFAULT 0 NOT NULL;