CREATE TABLE "manifest_blobs" (
	"repository_id" integer NOT NULL,
	"manifest_digest" text NOT NULL,
	"blob_digest" text NOT NULL,
	"size" bigint NOT NULL,
	CONSTRAINT "manifest_blobs_repository_id_manifest_digest_blob_digest_pk" PRIMARY KEY("repository_id","manifest_digest","blob_digest")
);
--> statement-breakpoint
CREATE TABLE "project_activity" (
	"project_id" integer NOT NULL,
	"day" text NOT NULL,
	"pushes" integer DEFAULT 0 NOT NULL,
	"pulls" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "project_activity_project_id_day_pk" PRIMARY KEY("project_id","day")
);
--> statement-breakpoint
CREATE TABLE "project_storage" (
	"project_id" integer NOT NULL,
	"retention_rules" text,
	"retention_untagged" text DEFAULT 'keep' NOT NULL,
	"retention_cron" text,
	"immutability_rules" text DEFAULT '[]' NOT NULL,
	"quota_limit_bytes" bigint,
	"used_bytes" bigint DEFAULT 0 NOT NULL,
	"usage_at" text,
	"updated_at" text DEFAULT to_char(statement_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') NOT NULL,
	"updated_by" text,
	CONSTRAINT "project_storage_project_id_pk" PRIMARY KEY("project_id")
);
--> statement-breakpoint
CREATE TABLE "storage_state" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"read_only" boolean DEFAULT false NOT NULL,
	"read_only_since" text,
	"read_only_reason" text,
	"read_only_by" text,
	"gc_execution_id" integer,
	"gc_since" text,
	"push_tokens_until_ms" bigint DEFAULT 0 NOT NULL,
	"gc_cron" text,
	"gc_delete_untagged" boolean DEFAULT false NOT NULL
);
--> statement-breakpoint
ALTER TABLE "job_executions" ADD COLUMN "result" text;--> statement-breakpoint
ALTER TABLE "manifests" ADD COLUMN "subject" text;--> statement-breakpoint
ALTER TABLE "manifest_blobs" ADD CONSTRAINT "manifest_blobs_repository_id_repositories_id_fk" FOREIGN KEY ("repository_id") REFERENCES "public"."repositories"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "project_activity" ADD CONSTRAINT "project_activity_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "project_storage" ADD CONSTRAINT "project_storage_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "manifest_blobs_blob" ON "manifest_blobs" USING btree ("blob_digest");--> statement-breakpoint
INSERT INTO "storage_state" ("id") VALUES (1);