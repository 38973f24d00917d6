-- One row that `/healthz` rewrites while writes are failing, to see when the store can write
-- again even if no client is writing.
CREATE TABLE store_probe (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    at  INTEGER NOT NULL
);
