-- Indexes that keep /metrics and housekeeping cheap however much history is stored.
CREATE INDEX conferences_open ON conferences(status) WHERE status <> 'terminated';
CREATE INDEX outbox_by_status ON outbox(status, kind, tm_update);
CREATE INDEX platform_events_by_time ON platform_events(tm_create);
