-- Identity: Tito tickets (the allow-list's source) and single-use login links.
--
-- Tickets are keyed by Tito's stable ticket slug and hold only a hash of the holder's email (base64 SHA-256 of the
-- trimmed, lowercased address, as the reference compares them): ticket holders who never sign in leave no
-- plaintext address here. A voided or refunded ticket keeps its row with its state, so access is removed.

CREATE TABLE tito_tickets (
    slug            text PRIMARY KEY CHECK (char_length(slug) <= 200),
    -- NULL while the ticket is unassigned.
    email_hash      text NULL CHECK (char_length(email_hash) <= 100),
    name            text NOT NULL DEFAULT '' CHECK (char_length(name) <= 1000),
    -- Tito's state: complete (grants access), incomplete, unassigned, void…
    state           text NOT NULL CHECK (char_length(state) <= 50),
    -- Tito's updated_at: newer data wins; the maximum is the next differential sync's cursor.
    tito_updated_at timestamptz NOT NULL,
    synced_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tito_tickets_email_hash_idx ON tito_tickets (email_hash) WHERE email_hash IS NOT NULL;
CREATE INDEX tito_tickets_updated_idx ON tito_tickets (tito_updated_at);

-- Magic-link token ids already used: a link works once. Rows are useless after their token expires.
CREATE TABLE used_login_tokens (
    jti     text PRIMARY KEY CHECK (char_length(jti) <= 100),
    expires timestamptz NOT NULL
);
CREATE INDEX used_login_tokens_expires_idx ON used_login_tokens (expires);
