-- Runs on the first start only, in MARIADB_DATABASE; the check reads it back.
CREATE TABLE probe (note VARCHAR(64) NOT NULL);
INSERT INTO probe VALUES ('written by initdb.d');
