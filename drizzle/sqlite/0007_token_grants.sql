CREATE TABLE `token_grants` (
	`subject` text NOT NULL,
	`repository` text NOT NULL,
	`ip` text,
	`issued_at_ms` integer NOT NULL,
	`ip_since_ms` integer NOT NULL,
	`ambiguous_until_ms` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`subject`, `repository`)
);
