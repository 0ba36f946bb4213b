-- Which master key wrapped each vault's key: `local:<16 hex>` (a MAC under
-- the local key, naming it without revealing it) or `aws-kms:<key id>`.
-- A vault is unwrapped by the key it names, and a master-key rotation
-- (POST /api/v1/vault-master-key/rewrap) moves the vaults that name another
-- key than the current one. NULL: wrapped before keys had names (the local
-- keys are tried in turn; a rewrap names it).
ALTER TABLE vaults ADD COLUMN master_key_id text;
CREATE INDEX vaults_master_key ON vaults (master_key_id, id) WHERE deleted_at IS NULL;
