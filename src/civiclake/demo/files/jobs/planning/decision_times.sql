-- zone: trusted
-- key: id
-- materialize: table
-- description: Decided planning applications: working days from receipt to decision, excluding weekends and England and Wales bank holidays, and whether the decision met the 8-week (40 working day) target.

WITH calendar AS (
    -- number every day by the working days up to it; the difference between two
    -- days' numbers is the working days after the first, up to and including the second
    SELECT
        CAST(t.day AS DATE) AS day,
        SUM(
            CASE WHEN ISODOW(t.day) < 6 AND holidays.date IS NULL THEN 1 ELSE 0 END
        ) OVER (ORDER BY t.day) AS working_day_number
    FROM range(DATE '2015-01-01', DATE '2028-01-01', INTERVAL 1 DAY) AS t (day)
    LEFT JOIN unrestricted_refined.bank_holidays AS holidays
        ON holidays.date = CAST(t.day AS DATE)
)

SELECT
    applications.id,
    applications.application_reference_number,
    applications.development_type,
    applications.decision_type,
    applications.ward_id,
    applications.received_date,
    applications.decision_issued_date,
    decided.working_day_number - received.working_day_number AS working_days_to_decision,
    decided.working_day_number - received.working_day_number <= 40 AS within_8_weeks
FROM planning_refined.applications AS applications
INNER JOIN calendar AS received
    ON received.day = applications.received_date
INNER JOIN calendar AS decided
    ON decided.day = applications.decision_issued_date
WHERE applications.decision_issued_date IS NOT NULL
