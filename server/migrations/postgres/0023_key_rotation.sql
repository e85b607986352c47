-- Master keys retired with `mailkey keys retire`: nothing is sealed with them any more, and no
-- instance opens a value with them.
CREATE TABLE retired_master_keys (
    key_id     TEXT    PRIMARY KEY,
    retired_at BIGINT  NOT NULL
);

-- The master keys each running instance holds, and which one it seals with, renewed every few
-- seconds: a rotation makes a key the primary one only once every live instance holds it, and a
-- key is retired only once no live instance seals with it.
CREATE TABLE master_key_holders (
    instance TEXT    NOT NULL,
    key_id   TEXT    NOT NULL,
    seals    BOOLEAN NOT NULL,
    seen_at  BIGINT  NOT NULL,
    PRIMARY KEY (instance, key_id)
);
