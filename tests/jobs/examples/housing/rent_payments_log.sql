-- zone: refined
-- materialize: append
-- description: Every payment as received, one row per payment per run.
SELECT payment_id, account_ref, amount, paid_on
FROM housing_raw.rent_payments
