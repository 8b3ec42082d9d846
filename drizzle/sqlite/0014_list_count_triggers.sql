-- Listings read these counts instead of counting rows; triggers keep them for every writer (an older Wharf too).
CREATE TRIGGER `tags_count_insert` AFTER INSERT ON `tags` BEGIN
  UPDATE `repositories` SET `tag_count` = `tag_count` + 1 WHERE `id` = NEW.`repository_id`;
END;--> statement-breakpoint
CREATE TRIGGER `tags_count_delete` AFTER DELETE ON `tags` BEGIN
  UPDATE `repositories` SET `tag_count` = `tag_count` - 1 WHERE `id` = OLD.`repository_id`;
END;--> statement-breakpoint
CREATE TRIGGER `tags_count_move` AFTER UPDATE OF `repository_id` ON `tags` WHEN OLD.`repository_id` <> NEW.`repository_id` BEGIN
  UPDATE `repositories` SET `tag_count` = `tag_count` - 1 WHERE `id` = OLD.`repository_id`;
  UPDATE `repositories` SET `tag_count` = `tag_count` + 1 WHERE `id` = NEW.`repository_id`;
END;--> statement-breakpoint
CREATE TRIGGER `repositories_count_insert` AFTER INSERT ON `repositories` BEGIN
  UPDATE `projects` SET `repository_count` = `repository_count` + 1 WHERE `id` = NEW.`project_id`;
END;--> statement-breakpoint
CREATE TRIGGER `repositories_count_delete` AFTER DELETE ON `repositories` BEGIN
  UPDATE `projects` SET `repository_count` = `repository_count` - 1 WHERE `id` = OLD.`project_id`;
END;--> statement-breakpoint
CREATE TRIGGER `repositories_count_move` AFTER UPDATE OF `project_id` ON `repositories` WHEN OLD.`project_id` <> NEW.`project_id` BEGIN
  UPDATE `projects` SET `repository_count` = `repository_count` - 1 WHERE `id` = OLD.`project_id`;
  UPDATE `projects` SET `repository_count` = `repository_count` + 1 WHERE `id` = NEW.`project_id`;
END;--> statement-breakpoint
UPDATE `repositories` SET `tag_count` = (SELECT count(*) FROM `tags` WHERE `tags`.`repository_id` = `repositories`.`id`);--> statement-breakpoint
UPDATE `projects` SET `repository_count` = (SELECT count(*) FROM `repositories` WHERE `repositories`.`project_id` = `projects`.`id`);
