-- The viewer's histogram of a category (the pills' views) counts the category's
-- entries by time from this index alone, without reading their rows.
CREATE INDEX entries_category_time ON entries (tenant_id, category, occurred_at);
