-- Lists by a filter: each filter a list takes alone (and the default listing of conferences
-- not deleted) seeks an index that leads with the customer and the filter's column and runs
-- in the list's keyset order, so a page of a status or type that is rare in a long history
-- reads the rows that match, not the history. A combination of filters uses the index of one
-- of them and checks the others on the rows it walks, which the store bounds per page. The
-- trailing columns of the conference indexes let those checks read the index alone.
--
-- Write cost: SQLite maintains an index on UPDATE only when the statement sets one of its
-- columns. A conference's row is written by its updates, which set status and tm_delete, so
-- the three conference indexes have their entry rewritten in place then (an entry moves only
-- when its status changes or the conference is deleted); the call counts kept on the row
-- (`calls_active`, ...) touch none of them. A call's status index entry moves with each of
-- its three status changes, one b-tree delete and insert beside the three indexes that
-- already hold its status; the call and recording indexes by conference are written once,
-- when the row is inserted. A notification's status index entry is rewritten with each
-- attempt's record (which sets its status), beside `outbox_by_status`, which already moves
-- then; its index by conference is written once.
CREATE INDEX conferences_live_by_customer
    ON conferences(customer_id, tm_create, id) WHERE tm_delete IS NULL;
CREATE INDEX conferences_by_customer_status
    ON conferences(customer_id, status, tm_create, id, type, tm_delete);
CREATE INDEX conferences_by_customer_type
    ON conferences(customer_id, type, tm_create, id, tm_delete);
CREATE INDEX conferencecalls_by_customer_status
    ON conferencecalls(customer_id, status, tm_create, id);
CREATE INDEX conferencecalls_by_customer_conference
    ON conferencecalls(customer_id, conference_id, tm_create, id);
CREATE INDEX recordings_by_customer_conference
    ON recordings(customer_id, conference_id, tm_create, id);
CREATE INDEX outbox_webhooks_by_customer_status
    ON outbox(customer_id, status, seq) WHERE kind = 'webhook';
CREATE INDEX outbox_webhooks_by_customer_conference
    ON outbox(customer_id, ordering_key, seq) WHERE kind = 'webhook';
