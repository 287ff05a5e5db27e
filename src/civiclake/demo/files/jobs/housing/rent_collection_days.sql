-- zone: trusted
-- key: tenancy_ref
-- materialize: table
-- description: Working days (weekends and bank holidays excluded) since each current tenancy's last payment, or since it started if nothing was paid yet, counted to the newest payment date in the export.

WITH tenancies AS (
    SELECT
        tenancy_ref,
        ward_code,
        balance,
        in_arrears,
        last_payment_date,
        COALESCE(last_payment_date, tenancy_start_date) AS counted_from
    FROM housing_refined.rent_accounts
    WHERE is_current
),

-- "today" is the newest payment in the data, so the answer does not
-- change with the day the job happens to run
bounds AS (
    SELECT MIN(counted_from) AS first_day, MAX(last_payment_date) AS as_at
    FROM tenancies
),

days AS (
    SELECT CAST(day AS DATE) AS day
    FROM (
        SELECT UNNEST(GENERATE_SERIES(first_day, as_at, INTERVAL 1 DAY)) AS day
        FROM bounds
    ) AS series
),

-- number the working days: the gap between two days' numbers is the
-- working days between them. 2001-01-01 was a Monday, so days since then
-- modulo 7 is 0-4 on weekdays (portable, unlike DAYOFWEEK whose numbering
-- differs between engines).
calendar AS (
    SELECT
        days.day,
        COUNT(
            CASE
                WHEN DATE_DIFF('day', DATE '2001-01-01', days.day) % 7 < 5
                    AND holidays.date IS NULL
                    THEN 1
            END
        ) OVER (ORDER BY days.day) AS working_day_number
    FROM days
    LEFT JOIN unrestricted_refined.bank_holidays AS holidays
        ON holidays.date = days.day
)

SELECT
    t.tenancy_ref,
    t.ward_code,
    t.balance,
    t.in_arrears,
    t.last_payment_date,
    bounds.as_at,
    as_at_day.working_day_number - counted_day.working_day_number AS working_days_since_payment,
    as_at_day.working_day_number - counted_day.working_day_number > 20 AS no_payment_for_a_month
FROM tenancies AS t
CROSS JOIN bounds
INNER JOIN calendar AS counted_day
    ON counted_day.day = t.counted_from
INNER JOIN calendar AS as_at_day
    ON as_at_day.day = bounds.as_at
