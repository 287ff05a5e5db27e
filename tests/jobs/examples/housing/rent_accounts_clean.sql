-- zone: refined
-- key: account_ref
-- materialize: table
-- description: Rent accounts, one row per account, typed and cleaned.
-- owner: housing-data@council.example
-- pii: tenant_name

-- Accounts with their ward's name; closed accounts are left out.
WITH open_accounts AS (
    SELECT * FROM "housing_raw"."rent_accounts" WHERE status <> 'closed'
)
SELECT
    a.account_ref,
    trim(a.tenant_name) AS tenant_name,
    a.ward_code,
    w.ward_name,
    CAST(a.balance AS DECIMAL(12, 2)) AS balance
FROM open_accounts AS a
JOIN unrestricted_raw.wards AS w USING (ward_code)
