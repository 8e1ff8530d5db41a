-- Jobs and their output. Times are Unix microseconds. The SQL is the subset SQLite and PostgreSQL share.
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    command     TEXT NOT NULL,
    airflow_cmd TEXT NOT NULL,
    owner       TEXT NOT NULL,
    state       TEXT NOT NULL,
    exit_code   INTEGER,
    truncated   BOOLEAN NOT NULL DEFAULT FALSE,
    detail      TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    started_at  BIGINT,
    ended_at    BIGINT
);
CREATE INDEX jobs_by_owner ON jobs (owner, id);
CREATE INDEX jobs_by_state ON jobs (state);
CREATE INDEX jobs_by_end ON jobs (ended_at);

-- One row per piece of output; pos is the piece's byte offset in the job's output (both streams).
CREATE TABLE job_output (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    pos    BIGINT NOT NULL,
    stream INTEGER NOT NULL,
    text   TEXT NOT NULL,
    PRIMARY KEY (job_id, pos)
);
