-- Retention (issue #14): the retention job deletes logs rows older than LOGS_RETENTION_DAYS with
-- `created < cutoff`, which the (event, created) index cannot serve; this one can.
CREATE INDEX logs_created_idx ON logs (created);
