-- Ingestion: each tenant's own additions to the sensitive-field list (a JSON array of
-- field names, masked like the built-in ones), and API keys found by their hash.

ALTER TABLE tenants ADD COLUMN sensitive_fields TEXT NOT NULL DEFAULT '[]';
