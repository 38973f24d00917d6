-- Lists by a filter: each filter a list takes alone (and the default listing of conferences
-- not deleted) seeks an index that leads with the customer and the filter's column and runs
-- in the list's keyset order, so a page of a status or type that is rare in a long history
-- reads the rows that match, not the history. A combination of filters uses the index of one
-- of them and checks the others on the rows it walks, which the store bounds per page. The
-- trailing columns of the conference indexes let those checks read the index alone.
--
-- Write cost: an UPDATE that changes no indexed column stays a heap-only (HOT) update and
-- writes no index entry; one that changes an indexed column writes an entry in every index of
-- the table. None of these indexes holds the call counts kept on the conference row, so the
-- count updates of the event path stay HOT. A conference's status change or deletion (its
-- status was indexed already, by `conferences_open`) now writes three entries more. A call's
-- status change (already indexed by `conferencecalls_by_conference`) writes two entries more,
-- beside the six it writes today; a notification's attempt record changes its indexed status
-- and `tm_update` already and writes two entries more. The indexes are built when this
-- migration runs, holding off writes to each table while its indexes are built: on a large
-- database, plan the upgrade for a quiet moment.
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
