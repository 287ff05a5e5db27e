-- zone: trusted
-- key: ward_code
-- materialize: table
-- description: Rent arrears by ward for current tenancies: tenancies, tenancies in arrears (owing at least a week's rent), total arrears in pounds and tenancies in arrears per 1,000 residents.

WITH current_tenancies AS (
    SELECT ward_code, balance, in_arrears
    FROM housing_refined.rent_accounts
    WHERE is_current
)

SELECT
    wards.ward_code,
    wards.ward_name,
    wards.population,
    COUNT(t.ward_code) AS tenancies,
    COUNT(CASE WHEN t.in_arrears THEN 1 END) AS tenancies_in_arrears,
    -- credit balances are money owed to tenants, not negative arrears
    COALESCE(SUM(CASE WHEN t.balance > 0 THEN t.balance END), 0) AS total_arrears,
    ROUND(
        1000.0 * COUNT(CASE WHEN t.in_arrears THEN 1 END) / wards.population, 2
    ) AS arrears_per_1000_residents
-- start from wards so a ward with no tenancies still gets a row of zeros
FROM unrestricted_refined.wards AS wards
LEFT JOIN current_tenancies AS t
    ON t.ward_code = wards.ward_code
GROUP BY wards.ward_code, wards.ward_name, wards.population
