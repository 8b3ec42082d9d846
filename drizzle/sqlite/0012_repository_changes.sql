CREATE TABLE `repository_changes` (
	`repository` text PRIMARY KEY NOT NULL,
	`seq` integer NOT NULL
);
