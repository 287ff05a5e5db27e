-- zone: refined
-- key: permit_number
-- materialize: table
-- description: One row per parking permit: the latest monthly workbook's values, typed, with plates and codes normalised and status lowercased.
-- pii: holder_name, vehicle_registration

WITH latest AS (
    -- raw keeps every monthly workbook as history (full_export): parking_raw.permits is
    -- the newest workbook's permits
    SELECT *
    FROM parking_raw.permits
    QUALIFY ROW_NUMBER() OVER (
        PARTITION BY UPPER(TRIM(permit_number))
        ORDER BY permit_number
    ) = 1
)

SELECT
    UPPER(TRIM(permit_number)) AS permit_number,
    TRIM(permit_type) AS permit_type,
    -- "ab12cde", "AB12 CDE" and "AB12CDE" are one car: keep capitals, drop spaces
    UPPER(REPLACE(vehicle_registration, ' ', '')) AS vehicle_registration,
    UPPER(TRIM(ward_code)) AS ward_code,
    CAST(issue_date AS DATE) AS issue_date,
    CAST(expiry_date AS DATE) AS expiry_date,
    CAST(fee AS DECIMAL(8, 2)) AS fee,
    LOWER(TRIM(status)) AS status,
    TRIM(holder_name) AS holder_name
FROM latest
