-- Runs on the first start only; the check reads this row back.
CREATE TABLE probe (note text NOT NULL);
INSERT INTO probe VALUES ('written by initdb.d');
