-- State that several processes on one database share: login attempts (throttling
-- counts across servers) and which process ran a background round.
CREATE TABLE login_attempts (
    key         TEXT NOT NULL,
    at          INTEGER NOT NULL,
    attempt_id  TEXT NOT NULL
);
CREATE INDEX login_attempts_key ON login_attempts (key, at);
CREATE INDEX login_attempts_at ON login_attempts (at);

CREATE TABLE job_rounds (
    job         TEXT NOT NULL,
    round       INTEGER NOT NULL,
    claimed_at  INTEGER NOT NULL,
    PRIMARY KEY (job, round)
);
