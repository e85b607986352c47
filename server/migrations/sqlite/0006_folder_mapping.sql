-- The folders the host application uses for each role (JSON `FolderMapping`), chosen from those a
-- passing connection test found.
ALTER TABLE accounts ADD COLUMN folder_mapping TEXT;
