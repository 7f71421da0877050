-- A removed user's address can be invited again: the removed record keeps its
-- address in `removed_email`, and `email` (unique) gets a placeholder.
ALTER TABLE users ADD COLUMN removed_email TEXT;
UPDATE users SET removed_email = email, email = id || '@removed.invalid'
WHERE removed_at IS NOT NULL;
