-- The edge app's tables. Portable SQL: applied unchanged on SQLite and PostgreSQL.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    country TEXT NOT NULL
);

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    ts BIGINT NOT NULL,
    properties TEXT NOT NULL
);

CREATE INDEX events_by_time ON events (ts);
