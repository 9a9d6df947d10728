-- Weekly job winner_evolution: one new iteration for every winner that may be evolved.

CREATE OR REPLACE FUNCTION genome.evolve_winners(p_now timestamptz DEFAULT now())
RETURNS integer
LANGUAGE plpgsql
SET search_path = genome, public
AS $$
DECLARE
    v_children integer;
BEGIN
    PERFORM genome._require_now(p_now);
    -- Each eligible winner once, with a seed derived from the ad and p_now so a rerun of the
    -- same virtual day makes the same choices.
    SELECT count(genome.evolve(
        w.generated_ad_id, p_now,
        ('x' || substr(md5(w.generated_ad_id::text || ':' || p_now::text), 1, 12))::bit(48)::bigint
    ))
    INTO v_children
    FROM (
        SELECT
            s.generated_ad_id,
            row_number() OVER (
                PARTITION BY s.brand_id ORDER BY s.reward_score DESC, s.generated_ad_id
            ) AS brand_rank
        FROM genome._winner_status(p_now, NULL) AS s
        WHERE s.eligible
    ) AS w
    WHERE w.brand_rank <= genome._setting_num('evolution_max_per_brand');
    RETURN v_children;
END
$$;
COMMENT ON FUNCTION genome.evolve_winners(timestamptz) IS
'Weekly (job winner_evolution): find_winners at p_now and evolve each eligible winner once, at most evolution_max_per_brand per brand (best reward first) (iteration and round limits not reached, an untested variable left, no child in the last evolution_cooldown_days days); a rerun at the same p_now finds them in cooldown and makes nothing. Returns the number of children planned. GN004 bad p_now.';
