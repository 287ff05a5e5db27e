-- zone: refined
-- key: account_ref
-- materialize: incremental
-- description: Latest balance per account, upserted from each day's changes.
SELECT account_ref, balance, status
FROM housing_raw.rent_accounts
