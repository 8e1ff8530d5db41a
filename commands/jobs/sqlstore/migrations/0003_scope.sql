-- Scopes (§19): each job keeps the scope of the token that started it, so that a scoped token sees only
-- the jobs that ran under its scope.
ALTER TABLE jobs ADD COLUMN scope TEXT NOT NULL DEFAULT '';
