-- identifiers.origin: the profile an identifier was first resolved into (see the sqlite
-- store's 0012). Empty for identifiers stored before.
ALTER TABLE identifiers ADD COLUMN origin text COLLATE "C" NOT NULL DEFAULT '';
