-- docs/evolution.md#winners: the winners, with the criteria each met and whether it can be evolved now.

CREATE OR REPLACE FUNCTION genome.find_winners(p_now timestamptz DEFAULT now())
RETURNS TABLE (
    generated_ad_id uuid,
    brand_id uuid,
    product_id uuid,
    reward_score double precision,
    ctr double precision,
    ctr_p75 double precision,
    roas double precision,
    roas_p75 double precision,
    matured_days integer,
    total_impressions bigint,
    criteria text [],
    ancestor_ad_id uuid,
    iteration_round integer,
    iterations_used integer,
    untested_variables text [],
    eligible boolean,
    ineligible_reason text
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = genome, public
AS $$
BEGIN
    PERFORM genome._require_now(p_now);
    RETURN QUERY
    SELECT
        s.generated_ad_id, s.brand_id, s.product_id, s.reward_score, s.ctr, s.ctr_p75, s.roas,
        s.roas_p75, s.matured_days, s.total_impressions, s.criteria, s.ancestor_ad_id,
        s.iteration_round, s.iterations_used, s.untested_variables, s.eligible, s.ineligible_reason
    FROM genome._winner_status(p_now, NULL) AS s
    WHERE s.is_winner
    ORDER BY s.brand_id, s.reward_score DESC, s.generated_ad_id;
END
$$;
COMMENT ON FUNCTION genome.find_winners(timestamptz) IS
'Winners at p_now (docs/evolution.md#winners): ads with a matured reward, at least winner_min_matured_days days of data and winner_min_impressions impressions, and reward >= winner_min_reward (0.65) or CTR or ROAS at or above the brand''s p75 (all as ratios: clicks / impressions against ad_intelligence_baselines.p75_ctr, never Meta''s percent link_ctr). criteria lists which of reward / ctr_p75 / roas_p75 it met; ancestor, round and iterations describe its lineage; eligible says whether evolve_winners will evolve it now (else ineligible_reason: iteration or round limit, no untested variable, cooldown). GN004 bad p_now.';
