-- zone: refined
-- key: ward_code
-- materialize: table
-- description: The borough's electoral wards: code, name, resident population, area and density.

WITH latest AS (
    -- a new boundary file replaces the old one, so keep each ward's newest load
    SELECT *
    FROM unrestricted_raw.wards
    QUALIFY ROW_NUMBER() OVER (
        PARTITION BY UPPER(TRIM(ward_code))
        ORDER BY _imported_at DESC, _source_row DESC
    ) = 1
)

SELECT
    UPPER(TRIM(ward_code)) AS ward_code,
    TRIM(ward_name) AS ward_name,
    CAST(population AS INTEGER) AS population,
    CAST(area_hectares AS DOUBLE) AS area_hectares,
    ROUND(CAST(population AS DOUBLE) / CAST(area_hectares AS DOUBLE), 1) AS residents_per_hectare
FROM latest
