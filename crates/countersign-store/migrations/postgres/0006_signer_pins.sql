-- A signer's access code (`signers[][pin]`), kept only as an HMAC keyed from the master key and bound to
-- the signature id, so a copy of the database alone cannot test guesses.
ALTER TABLE signers ADD COLUMN pin_digest BYTEA;
