-- Several gateways on one database: each job names the replica that runs it, a cancel sent to another
-- replica is left for it in the job's row, and each replica's heartbeat is its lease.
ALTER TABLE jobs ADD COLUMN replica TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE replicas (
    id           TEXT PRIMARY KEY,
    heartbeat_at BIGINT NOT NULL
);
