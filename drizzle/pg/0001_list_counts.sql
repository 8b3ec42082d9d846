ALTER TABLE "projects" ADD COLUMN "repository_count" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "repositories" ADD COLUMN "tag_count" integer DEFAULT 0 NOT NULL;