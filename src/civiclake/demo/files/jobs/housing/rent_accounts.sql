-- zone: refined
-- key: tenancy_ref
-- materialize: table
-- description: One row per tenancy: the latest monthly export's values, typed and cleaned. is_current is false for tenancies missing from the newest export (ended).
-- pii: tenant_name, property_address

WITH latest AS (
    -- raw keeps every monthly export as history (full_export): the newest version per
    -- tenancy, still open (valid_to IS NULL) unless the tenancy left a later export
    SELECT *
    FROM housing_raw.rent_accounts__history
    QUALIFY ROW_NUMBER() OVER (
        PARTITION BY UPPER(TRIM(tenancy_ref))
        ORDER BY valid_from DESC
    ) = 1
)

SELECT
    UPPER(TRIM(latest.tenancy_ref)) AS tenancy_ref,
    TRIM(latest.tenant_name) AS tenant_name,
    TRIM(latest.property_address) AS property_address,
    -- codes are keyed by hand upstream: " rv03" and "RV03" are the same ward
    UPPER(TRIM(latest.ward_code)) AS ward_code,
    CAST(latest.weekly_rent AS DECIMAL(10, 2)) AS weekly_rent,
    -- positive balance = rent owed, negative = in credit
    CAST(latest.balance AS DECIMAL(12, 2)) AS balance,
    CAST(latest.last_payment_date AS DATE) AS last_payment_date,
    LOWER(TRIM(latest.tenure_type)) AS tenure_type,
    UPPER(TRIM(latest.arrears_flag)) = 'Y' AS in_arrears,
    CAST(latest.date_de_debut AS DATE) AS tenancy_start_date,
    latest.valid_to IS NULL AS is_current
FROM latest
