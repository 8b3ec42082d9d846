-- Listings read these counts instead of counting rows; triggers keep them for every writer (an older Wharf too).
-- Inserts and deletes per statement, from transition tables: a bulk insert updates each parent row once, not once a row.
-- Moves (an UPDATE of the parent column) per row, so the frequent updates of other columns pay no trigger.
CREATE FUNCTION wharf_tags_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE repositories r SET tag_count = r.tag_count + n.n FROM (SELECT repository_id, count(*) AS n FROM inserted GROUP BY repository_id) n WHERE r.id = n.repository_id;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE FUNCTION wharf_tags_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE repositories r SET tag_count = r.tag_count - n.n FROM (SELECT repository_id, count(*) AS n FROM deleted GROUP BY repository_id) n WHERE r.id = n.repository_id;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE FUNCTION wharf_tags_count_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE repositories SET tag_count = tag_count - 1 WHERE id = OLD.repository_id;
  UPDATE repositories SET tag_count = tag_count + 1 WHERE id = NEW.repository_id;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER tags_count_insert AFTER INSERT ON tags REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION wharf_tags_count_insert();--> statement-breakpoint
CREATE TRIGGER tags_count_delete AFTER DELETE ON tags REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION wharf_tags_count_delete();--> statement-breakpoint
CREATE TRIGGER tags_count_move AFTER UPDATE OF repository_id ON tags FOR EACH ROW WHEN (OLD.repository_id IS DISTINCT FROM NEW.repository_id) EXECUTE FUNCTION wharf_tags_count_move();--> statement-breakpoint
CREATE FUNCTION wharf_repositories_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE projects p SET repository_count = p.repository_count + n.n FROM (SELECT project_id, count(*) AS n FROM inserted GROUP BY project_id) n WHERE p.id = n.project_id;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE FUNCTION wharf_repositories_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE projects p SET repository_count = p.repository_count - n.n FROM (SELECT project_id, count(*) AS n FROM deleted GROUP BY project_id) n WHERE p.id = n.project_id;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE FUNCTION wharf_repositories_count_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE projects SET repository_count = repository_count - 1 WHERE id = OLD.project_id;
  UPDATE projects SET repository_count = repository_count + 1 WHERE id = NEW.project_id;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER repositories_count_insert AFTER INSERT ON repositories REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION wharf_repositories_count_insert();--> statement-breakpoint
CREATE TRIGGER repositories_count_delete AFTER DELETE ON repositories REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION wharf_repositories_count_delete();--> statement-breakpoint
CREATE TRIGGER repositories_count_move AFTER UPDATE OF project_id ON repositories FOR EACH ROW WHEN (OLD.project_id IS DISTINCT FROM NEW.project_id) EXECUTE FUNCTION wharf_repositories_count_move();--> statement-breakpoint
UPDATE repositories SET tag_count = (SELECT count(*) FROM tags WHERE tags.repository_id = repositories.id);--> statement-breakpoint
UPDATE projects SET repository_count = (SELECT count(*) FROM repositories WHERE repositories.project_id = projects.id);
