ALTER TABLE "replication_policies" DROP CONSTRAINT "replication_policies_registry_id_registries_id_fk";
--> statement-breakpoint
ALTER TABLE "replication_policies" ADD CONSTRAINT "replication_policies_registry_id_registries_id_fk" FOREIGN KEY ("registry_id") REFERENCES "public"."registries"("id") ON DELETE restrict ON UPDATE no action;