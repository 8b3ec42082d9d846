ALTER TABLE `audit` ADD `fold_key` text;--> statement-breakpoint
CREATE UNIQUE INDEX `audit_fold_key` ON `audit` (`fold_key`);