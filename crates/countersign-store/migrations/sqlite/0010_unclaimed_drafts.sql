-- Unclaimed drafts (embedded requesting) are kept as hidden templates: their documents are read and their
-- fields placed like a template's, and their claim turns them into a signature request. They are never
-- listed or shown as templates.
ALTER TABLE templates ADD COLUMN unclaimed_draft INTEGER NOT NULL DEFAULT 0;
