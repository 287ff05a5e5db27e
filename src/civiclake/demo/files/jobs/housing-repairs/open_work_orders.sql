-- zone: trusted
-- key: trade, priority
-- materialize: table
-- description: Open repair jobs by trade and priority: how many, how many past their target date, and the oldest. Built from the 15-minute sync of the repairs system, so hard-deleted (cancelled) jobs never linger here.

SELECT
    work_orders.trade,
    work_orders.priority,
    count(*) AS open_jobs,
    count(*) FILTER (WHERE work_orders.target_date < current_date) AS past_target,
    count(DISTINCT work_orders.operative_id) AS operatives,
    min(work_orders.raised_at) AS oldest_raised_at
FROM housing_repairs_raw.work_orders AS work_orders
WHERE work_orders.status NOT IN ('completed', 'cancelled')
GROUP BY work_orders.trade, work_orders.priority
ORDER BY work_orders.trade, work_orders.priority
