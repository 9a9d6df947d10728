-- approval_rate and generation_success_rate are now evaluated by one function
-- (genome._metric_brand_rates); the two it replaces are removed where they were installed.
DROP FUNCTION IF EXISTS genome._metric_approval_rate(timestamptz);
DROP FUNCTION IF EXISTS genome._metric_generation_success_rate(timestamptz);
