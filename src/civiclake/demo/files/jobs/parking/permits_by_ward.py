"""Active parking permits by ward and permit type, with fee income and take-up per 1,000 residents.

A Python job: civiclake passes each input as a DuckDB relation (in the order of
``inputs``) and stores what the function returns as ``parking_trusted.permits_by_ward``.
Relations are lazy: nothing runs until civiclake reads the result.
"""

from civiclake import job


@job(
    inputs=["parking_refined.permits", "unrestricted_refined.wards"],
    zone="trusted",
    key=["ward_code", "permit_type"],
    # where each output column comes from, so PII follows the data without masking it all
    derives={
        "ward_code": ["unrestricted_refined.wards.ward_code"],
        "ward_name": ["unrestricted_refined.wards.ward_name"],
        "permit_type": ["parking_refined.permits.permit_type"],
        "active_permits": [],
        "fee_income": ["parking_refined.permits.fee"],
        "permits_per_1000_residents": ["unrestricted_refined.wards.population"],
    },
    description=(
        "Active parking permits by ward and permit type: count, annual fee income "
        "and permits per 1,000 residents (every ward and type, zeros included)."
    ),
)
def permits_by_ward(permits, wards):
    # Only permits in force today count; cancelled and expired ones drop out.
    active = permits.filter("status = 'active'")

    # One row per ward and type that has active permits.
    counts = active.aggregate(
        "ward_code, permit_type, count(*) AS active_permits, sum(fee) AS fee_income",
        "ward_code, permit_type",
    )

    # Every ward × every permit type seen, so a ward with no carer permits shows 0
    # rather than being missing from a BI chart.
    types = permits.select("permit_type").distinct()
    grid = wards.select("ward_code, ward_name, population").cross(types)

    # Left join the counts onto the grid, then fill the gaps with zeros.
    joined = grid.set_alias("g").join(
        counts.set_alias("c"),
        "g.ward_code = c.ward_code AND g.permit_type = c.permit_type",
        how="left",
    )
    return joined.select(
        """
        g.ward_code,
        g.ward_name,
        g.permit_type,
        coalesce(c.active_permits, 0) AS active_permits,
        coalesce(c.fee_income, 0) AS fee_income,
        round(1000.0 * coalesce(c.active_permits, 0) / g.population, 2)
            AS permits_per_1000_residents
        """
    ).order("ward_code, permit_type")
