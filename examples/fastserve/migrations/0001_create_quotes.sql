-- The quotations /api/db serves. Portable SQL: applied unchanged on SQLite and PostgreSQL.
CREATE TABLE quotes (
    id INTEGER PRIMARY KEY,
    quote TEXT NOT NULL,
    author TEXT NOT NULL,
    source TEXT NOT NULL
);
