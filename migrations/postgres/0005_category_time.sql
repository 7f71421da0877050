-- The same as SQLite's 0015: a category's histogram counts by time from the index
-- (partitions are per tenant, so the tenant leads no index here).
CREATE INDEX entries_category_time ON entries (category, occurred_at);
