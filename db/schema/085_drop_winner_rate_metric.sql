-- winner_rate is now evaluated with the other per-brand rates (genome._metric_brand_rates);
-- the function it replaces is removed where it was installed.
DROP FUNCTION IF EXISTS genome._metric_winner_rate(timestamptz);
