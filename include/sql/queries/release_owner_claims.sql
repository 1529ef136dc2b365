-- A task instance starting again (an Airflow retry, or a person clearing it) takes back the claims
-- its earlier try left behind: Airflow never runs two tries of one task instance at once.
DELETE FROM order_claims WHERE claimed_by = %(owner)s
