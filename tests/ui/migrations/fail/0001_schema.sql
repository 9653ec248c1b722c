-- A schema, then a typo: `tessera check` refuses the folder and applies neither.
CREATE TABLE t (id INTEGER PRIMARY KEY);
