-- zone: trusted
-- key: ward_code
-- description: Accounts in arrears per ward, for the monthly arrears report.
SELECT
    ward_code,
    ward_name,
    count(*) AS accounts_in_arrears,
    sum(balance) AS total_arrears
FROM housing_refined.rent_accounts_clean
WHERE account_ref IN (
    SELECT account_ref FROM housing_refined.rent_accounts_clean WHERE balance > 0
)
GROUP BY ward_code, ward_name
