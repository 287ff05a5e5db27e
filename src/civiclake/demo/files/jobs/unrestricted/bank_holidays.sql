-- zone: refined
-- key: date
-- materialize: table
-- description: Bank holidays of England and Wales, one row per day off, with the substitute days marked.

WITH latest AS (
    SELECT *
    FROM unrestricted_raw.bank_holidays
    QUALIFY ROW_NUMBER() OVER (
        PARTITION BY CAST(date AS DATE)
        ORDER BY _imported_at DESC, _source_row DESC
    ) = 1
)

SELECT
    CAST(date AS DATE) AS date,
    TRIM(title) AS title,
    LOWER(title) LIKE '%substitute day%' AS is_substitute_day
FROM latest
